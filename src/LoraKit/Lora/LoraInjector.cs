using LoraKit.Models;
using LoraKit.Modeling;
using LoraKit.Rules;
using static TorchSharp.torch;

namespace LoraKit.Lora;

/// <summary>What <see cref="LoraInjector.Inject"/> adapted.</summary>
/// <param name="DropoutGenerator">Draws every dropout mask of this adapter; its state is part of a training checkpoint.</param>
public sealed record LoraInjection(string AdapterName, LoraConfig Config, IReadOnlyList<string> AdaptedPaths, long TrainableParameters, Generator DropoutGenerator);

/// <summary>
/// Puts LoRA adapters into a TorchSharp model by PEFT's target rules (exact name, dotted suffix,
/// <c>all-linear</c> = every linear but the output head) and freezes everything else. Unlike PEFT,
/// a target that matches nothing is an error (LORA1004) even when other targets match.
/// </summary>
public static class LoraInjector
{
    /// <summary>The output head PEFT's all-linear leaves out.</summary>
    public const string DefaultOutputHead = "lm_head";

    public static LoraInjection Inject(nn.Module model, LoraConfig config, string adapterName = "default", long seed = 0,
        string outputHeadPath = DefaultOutputHead, bool fanInFanOut = false)
    {
        if (config.Rank < 1)
            throw new LoraException(DiagnosticIds.RankRange, $"rank {config.Rank} is below 1; LoRA needs at least one dimension");
        if (config.TargetModules.Count == 0)
            throw new LoraException(DiagnosticIds.TargetNotFound, "no target modules given; name modules such as q_proj, v_proj or use all-linear");

        var modules = model.named_modules().ToDictionary(m => m.name, m => m.module, StringComparer.Ordinal);
        var linears = modules.Where(m => LinearWeights.IsLinear(m.Value) && !IsInsideLora(m.Key, modules)).Select(m => m.Key).ToList();
        var match = TargetMatcher.Match(linears, config.TargetModules, outputHeadPath);
        var chosen = match.Paths;
        var unmatched = match.Unmatched;
        if (unmatched.Count > 0)
        {
            var leaves = linears.Select(p => p.Substring(p.LastIndexOf('.') + 1)).Distinct().ToList();
            var hints = unmatched.Select(u => (u, TargetMatcher.SuggestClosest(leaves, u))).Where(h => h.Item2 is not null)
                .Select(h => $"'{h.u}' → '{h.Item2}'").ToList();
            throw new LoraException(DiagnosticIds.TargetNotFound,
                $"target module{(unmatched.Count > 1 ? "s" : "")} {string.Join(", ", unmatched.Select(u => $"'{u}'"))} match{(unmatched.Count > 1 ? "" : "es")} nothing in the model; " +
                $"its linear modules are {string.Join(", ", leaves)}{(hints.Count > 0 ? "; did you mean " + string.Join(", ", hints) + "?" : "")}");
        }

        using var generator = new Generator(unchecked((ulong)seed), CPU);
        var dropoutGenerator = new Generator(unchecked((ulong)seed) ^ 0x9E3779B97F4A7C15UL, CPU);
        foreach (var path in chosen)
        {
            var module = modules[path];
            if (module is LoraLinear existing)
            {
                existing.AddAdapter(adapterName, config, generator, dropoutGenerator);
                continue;
            }
            var lora = new LoraLinear((nn.Module<Tensor, Tensor>)module, fanInFanOut);
            lora.AddAdapter(adapterName, config, generator, dropoutGenerator);
            var dot = path.LastIndexOf('.');
            var parent = dot < 0 ? model : modules[path.Substring(0, dot)];
            ModuleSurgery.ReplaceChild(parent, path.Substring(dot + 1), lora);
        }

        var trainable = Freeze(model, adapterName, config.Bias);
        return new LoraInjection(adapterName, config.Clone(), chosen, trainable, dropoutGenerator);
    }

    /// <summary>
    /// Only <paramref name="adapterName"/>'s A and B train, plus the biases <paramref name="bias"/> unfreezes;
    /// every base weight is frozen. Returns the number of trainable parameters.
    /// </summary>
    public static long Freeze(nn.Module model, string adapterName, LoraBias bias)
    {
        var loraLayers = model.named_modules().Where(m => m.module is LoraLinear).Select(m => m.name + ".").ToList();
        long trainable = 0;
        foreach (var (name, p) in model.named_parameters())
        {
            var isThisAdapter = name.EndsWith($".lora_A.{adapterName}.weight", StringComparison.Ordinal) ||
                                name.EndsWith($".lora_B.{adapterName}.weight", StringComparison.Ordinal);
            var isBias = name.EndsWith(".bias", StringComparison.Ordinal) || name == "bias";
            var train = isThisAdapter || (isBias && bias switch
            {
                LoraBias.All => true,
                LoraBias.LoraOnly => name.EndsWith(".base_layer.bias", StringComparison.Ordinal) && loraLayers.Any(l => name.StartsWith(l, StringComparison.Ordinal)),
                _ => false,
            });
            p.requires_grad = train;
            if (train) trainable += p.numel();
        }
        return trainable;
    }

    /// <summary>Every LoRA layer of the model with its path.</summary>
    public static IReadOnlyList<(string Path, LoraLinear Layer)> LoraLayers(nn.Module model) =>
        model.named_modules().Where(m => m.module is LoraLinear).Select(m => (m.name, (LoraLinear)m.module)).ToList();

    public static void Merge(nn.Module model)
    {
        foreach (var (_, layer) in LoraLayers(model)) layer.Merge();
    }

    public static void Unmerge(nn.Module model)
    {
        foreach (var (_, layer) in LoraLayers(model)) layer.Unmerge();
    }

    private static bool IsInsideLora(string path, Dictionary<string, nn.Module> modules)
    {
        for (var dot = path.LastIndexOf('.'); dot > 0; dot = path.LastIndexOf('.', dot - 1))
            if (modules.TryGetValue(path.Substring(0, dot), out var m) && m is LoraLinear) return true;
        return false;
    }
}
