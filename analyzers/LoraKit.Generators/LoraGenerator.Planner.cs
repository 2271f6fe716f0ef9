using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using LoraKit.Models;
using LoraKit.Roslyn;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace LoraKit.Generators;

/// <summary>
/// Checks descriptions with LoraKit.Core (the same calls the analyzers make) and computes every constant.
/// Anything Core rejects yields null: the analyzers report it, the generator emits nothing.
/// </summary>
internal static class Planner
{
    /// <summary>Members of the generated adapter a module property must not shadow.</summary>
    private static readonly HashSet<string> AdapterMembers = new(StringComparer.Ordinal)
    {
        "Rank", "Alpha", "Dropout", "Scaling", "TrainableParameters", "BaseParameters", "BudgetPercent", "AdaptedModules",
        "AdapterName", "ModelName", "Config", "Model", "Layers", "Layer", "LayerCount", "AttachTo", "Load", "Save", "Merge",
        "Unmerge", "Register", "LoraParameters", "Injection", "Find", "FindOrNull", "Checked", "Quantize",
    };

    private static readonly HashSet<string> LayerMembers = new(StringComparer.Ordinal) { "Index", "Layer" };

    public static ModelPlan? PlanModel(ModelDescription? model, ModelInputs inputs)
    {
        if (model is null) return null;
        var shape = Shape(model, inputs);
        return shape is null ? null : ToPlan(model, shape);
    }

    public static AdapterPlan? PlanAdapter(AdapterDescription adapter, ModelInputs inputs)
    {
        if (adapter.HasErrors || adapter.Model is null || !adapter.Type.CanComplete) return null;
        var shape = Shape(adapter.Model, inputs);
        if (shape is null) return null;
        var values = adapter.Values;
        var config = values.ToConfig();
        // The runtime refuses these (LORA1003, LORA1004, LORA1005): nothing typed to offer for them.
        if (config.Rank < 1 || config.TargetModules.Count == 0 || !(config.Dropout >= 0 && config.Dropout < 1)
            || double.IsNaN(config.Alpha) || double.IsInfinity(config.Alpha)
            || !Enum.IsDefined(typeof(LoraBias), config.Bias) || !Enum.IsDefined(typeof(LoraInitWeights), config.InitWeights)
            || values.HasUndefinedQuantize)
            return null;
        var match = TargetMatcher.Match(shape, config.TargetModules);
        if (match.Unmatched.Count > 0 || match.Modules.Count == 0) return null;
        var count = ParameterCount.Compute(shape, config, match);

        var families = match.Modules.GroupBy(m => m.Layer).Select(g => (Layer: g.Key, Instances: g.Count())).ToList();
        var layered = families.Where(f => IsLayered(f.Layer)).ToList();
        var layerCount = layered.Count == 0 ? 0 : layered.Max(f => f.Layer.Count);
        var modules = new List<ModulePlan>();
        var layerNames = new HashSet<string>(LayerMembers, StringComparer.Ordinal);
        var adapterNames = new HashSet<string>(AdapterMembers, StringComparer.Ordinal) { adapter.Type.Name };
        var leafClashes = layered.GroupBy(f => LeafName(f.Layer.PathTemplate), StringComparer.Ordinal).Where(g => g.Count() > 1).Select(g => g.Key).ToImmutableHashSet();
        foreach (var (layer, instances) in families)
        {
            var isLayered = IsLayered(layer);
            var baseName = isLayered
                ? PascalCase(leafClashes.Contains(LeafName(layer.PathTemplate)) ? layer.PathTemplate.Replace("{i}", "") : LeafName(layer.PathTemplate))
                : PascalCase(layer.PathTemplate);
            var name = Unique(baseName, isLayered ? layerNames : adapterNames);
            modules.Add(new ModulePlan(name, layer.PathTemplate, isLayered, !isLayered || (instances == layerCount && layer.Count == layerCount),
                layer.InFeatures, layer.OutFeatures));
        }

        return new AdapterPlan(
            adapter.Type,
            adapter.Model.Type.FullName,
            config.Rank,
            config.Alpha,
            config.Dropout,
            new EquatableArray<string>(config.TargetModules),
            config.Bias,
            config.UseRsLora,
            config.InitWeights,
            values.QuantizeOr(inputs.DefaultQuantize),
            values.Quantize is not null,
            config.Scaling,
            count.TrainableParameters,
            count.BaseParameters,
            count.BudgetPercent,
            count.AdaptedModules,
            layerCount,
            new EquatableArray<ModulePlan>(modules));
    }

    /// <summary>The model as LoraKit.Core sees it, or null when Core (and so the analyzers) reject it.</summary>
    internal static ModelShape? Shape(ModelDescription model, ModelInputs inputs)
    {
        var values = model.Values;
        // Unknown architectures are LORA2004 (the analyzers); the generator emits nothing for them.
        if (values.HasErrors || !Enum.IsDefined(typeof(LoraArchitecture), values.Architecture)) return null;
        try
        {
            if (values.HasConfigFile)
            {
                var files = inputs.ConfigFiles.Select(f => (AdditionalText)new ConfigAdditionalText(f)).ToImmutableArray();
                var text = (AdditionalFileLocator.Find(files, inputs.ProjectDir, values.ConfigFile!) as ConfigAdditionalText)?.Config.Text;
                return text is null ? null : ModelValues.FromConfigText(model.Type.Name, values.ConfigFile!, text);
            }
            return values.ToShape(model.Type.Name);
        }
        catch (ModelDescriptionException)
        {
            return null;
        }
    }

    private static ModelPlan ToPlan(ModelDescription model, ModelShape shape)
    {
        var linears = shape.Linears.Select(l => new LinearValues(l.PathTemplate, l.InFeatures, l.OutFeatures, l.Count, l.HasBias, l.IsOutputHead));
        return new ModelPlan(model.Type, model.Values.HasConfigFile ? model.Values.ConfigFile : null,
            shape.Llama, new EquatableArray<LinearValues>(linears), shape.OtherParameters, shape.TotalParameters);
    }

    private static bool IsLayered(LinearLayer layer) => layer.PathTemplate.IndexOf("{i}", StringComparison.Ordinal) >= 0;

    private static string LeafName(string template)
    {
        var dot = template.LastIndexOf('.');
        var leaf = dot < 0 ? template : template.Substring(dot + 1);
        return leaf.Replace("{i}", "");
    }

    /// <summary>q_proj → QProj, encoder.fc1 → EncoderFc1: words split at anything but letters and digits.</summary>
    internal static string PascalCase(string name)
    {
        var words = new List<string>();
        var current = new System.Text.StringBuilder();
        foreach (var c in name)
        {
            if (char.IsLetterOrDigit(c) && c < 128) current.Append(c);
            else if (current.Length > 0)
            {
                words.Add(current.ToString());
                current.Clear();
            }
        }
        if (current.Length > 0) words.Add(current.ToString());
        var result = string.Concat(words.Select(w => char.ToUpperInvariant(w[0]) + w.Substring(1)));
        return result.Length == 0 || char.IsDigit(result[0]) ? "Module" + result : result;
    }

    private static string Unique(string name, HashSet<string> taken)
    {
        var candidate = name;
        if (taken.Contains(candidate)) candidate = name + "Module";
        for (var i = 2; taken.Contains(candidate); i++) candidate = name + "Module" + i.ToString(System.Globalization.CultureInfo.InvariantCulture);
        taken.Add(candidate);
        // The per-module size constants are members too.
        taken.Add(candidate + "InFeatures");
        taken.Add(candidate + "OutFeatures");
        return candidate;
    }

    /// <summary>Lets the shared AdditionalFileLocator search the pipeline's plain records.</summary>
    private sealed class ConfigAdditionalText : AdditionalText
    {
        public ConfigAdditionalText(ConfigText config) => Config = config;

        public ConfigText Config { get; }

        public override string Path => Config.Path;

        public override SourceText? GetText(System.Threading.CancellationToken cancellationToken = default) =>
            Config.Text is null ? null : SourceText.From(Config.Text);
    }
}
