using LoraKit.Lora;
using TorchSharp;
using static TorchSharp.torch;

namespace LoraKit.Tests.Lora;

internal static class LoraTestHelpers
{
    /// <summary>Gives every adapter's B random values (B starts at zero), so the adapters change the output.</summary>
    public static void RandomiseB(nn.Module model, long seed)
    {
        using var g = new Generator((ulong)seed, CPU);
        using var _ = no_grad();
        foreach (var (_, layer) in LoraInjector.LoraLayers(model))
            foreach (var name in layer.Adapters)
                layer.B(name).copy_(torch.randn(layer.B(name).shape, generator: g) * 0.1);
    }
}
