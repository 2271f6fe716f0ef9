using LoraKit.Models;
using LoraKit.Rules;
using static TorchSharp.torch;

namespace LoraKit.Lora;

/// <summary>
/// The rank guide's validation step, before any training step: every targeted module has A of shape (r, in)
/// and B of shape (out, r), no base weight requires grad, and the trainable count equals LoraKit.Core's
/// prediction for the model. Any failure is a LORA3006 error listing every problem.
/// </summary>
public static class LoraPreflight
{
    public static void Check(nn.Module model, LoraInjection injection, ModelShape? expectedShape = null)
    {
        var problems = new List<string>();
        var layers = LoraInjector.LoraLayers(model).ToDictionary(l => l.Path, l => l.Layer);
        var r = injection.Config.Rank;
        foreach (var path in injection.AdaptedPaths)
        {
            if (!layers.TryGetValue(path, out var layer) || !layer.Adapters.Contains(injection.AdapterName))
            {
                problems.Add($"{path} has no LoRA adapter '{injection.AdapterName}'");
                continue;
            }
            var a = layer.A(injection.AdapterName).shape;
            var b = layer.B(injection.AdapterName).shape;
            if (!(a.Length == 2 && a[0] == r && a[1] == layer.InFeatures))
                problems.Add($"{path}.lora_A is [{string.Join(", ", a)}], expected ({r}, {layer.InFeatures})");
            if (!(b.Length == 2 && b[0] == layer.OutFeatures && b[1] == r))
                problems.Add($"{path}.lora_B is [{string.Join(", ", b)}], expected ({layer.OutFeatures}, {r})");
        }

        long trainable = 0;
        foreach (var (name, p) in model.named_parameters())
        {
            if (!p.requires_grad) continue;
            trainable += p.numel();
            var isLora = name.Contains(".lora_A.") || name.Contains(".lora_B.");
            var isAllowedBias = injection.Config.Bias != LoraBias.None && name.EndsWith(".bias");
            if (!isLora && !isAllowedBias) problems.Add($"base weight {name} requires grad; it must be frozen");
        }
        if (trainable != injection.TrainableParameters)
            problems.Add($"the model trains {Format.Count(trainable)} parameters but injection counted {Format.Count(injection.TrainableParameters)}");
        if (expectedShape is not null)
        {
            var predicted = ParameterCount.Compute(expectedShape, injection.Config).TrainableParameters;
            if (predicted != trainable)
                problems.Add($"the model trains {Format.Count(trainable)} parameters; LoraKit.Core predicts {Format.Count(predicted)} for {expectedShape.Name}");
        }
        if (problems.Count > 0)
            throw new LoraException(DiagnosticIds.PreflightFailed, "preflight check failed before the first step: " + string.Join("; ", problems));
    }
}
