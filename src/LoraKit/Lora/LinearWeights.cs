using LoraKit.Modeling;
using LoraKit.Quantization;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LoraKit.Lora;

/// <summary>The weight and bias of a linear-like module (nn.Linear, a tied head, or any module with "weight"/"bias").</summary>
public static class LinearWeights
{
    public static (Parameter Weight, Parameter? Bias) Of(nn.Module module)
    {
        switch (module)
        {
            case LoraLinear lora: return Of(lora.base_layer);
            case TiedLinear tied: return (tied.weight, null);
        }
        Parameter? weight = null, bias = null;
        foreach (var (name, p) in module.named_parameters(recurse: false))
        {
            if (name == "weight") weight = p;
            else if (name == "bias") bias = p;
        }
        return weight is null
            ? throw new ArgumentException($"{module.GetType().Name} has no 'weight' parameter; LoRA adapts linear layers.")
            : (weight, bias);
    }

    /// <summary>The stored weight's shape ([out, in], or [in, out] for Conv1D) and device; a 4-bit layer reports its logical shape.</summary>
    public static (long[] Shape, Device Device) StoredShape(nn.Module module)
    {
        switch (module)
        {
            case LoraLinear lora: return StoredShape(lora.base_layer);
            case Nf4Linear q: return (new[] { q.OutFeatures, q.InFeatures }, q.Device);
        }
        var (weight, _) = Of(module);
        return (weight.shape, weight.device);
    }

    /// <summary>Modules LoRA can wrap: nn.Linear, a 4-bit linear, a tied head, or one already wrapped.</summary>
    public static bool IsLinear(nn.Module module) => module is Linear or Nf4Linear or TiedLinear or LoraLinear;
}
