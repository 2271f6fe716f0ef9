using TorchSharp;

namespace LoraKit;

/// <summary>Process-wide runtime facts of LoraKit on TorchSharp.</summary>
public static class LoraKitRuntime
{
    /// <summary>The device "auto" resolves to: CUDA when TorchSharp sees a GPU, else CPU.</summary>
    public static torch.Device AutoDevice() => torch.cuda.is_available() ? torch.CUDA : torch.CPU;
}
