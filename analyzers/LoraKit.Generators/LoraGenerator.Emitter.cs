using System.Globalization;
using System.Linq;
using LoraKit.Rules;
using Microsoft.CodeAnalysis.CSharp;

using LoraKit.Roslyn;

namespace LoraKit.Generators;

/// <summary>Writes the partial classes. Pure string work over the plans; every number is already computed.</summary>
internal static class Emitter
{
    private const string Module = "global::TorchSharp.torch.nn.Module";
    private const string LoraLinear = "global::LoraKit.Lora.LoraLinear";
    private const string Injection = "global::LoraKit.Lora.LoraInjection";

    public static string HintName(TypeName type) => type.FullName + ".g.cs";

    public static string EmitModel(ModelPlan plan, Capabilities capabilities)
    {
        var w = Begin(plan.Type);
        w.Line("/// <summary>");
        w.Line($"/// {Xml(plan.Type.Name)}'s dimensions as compile-time constants ({Format.Count(plan.BaseParameters)} parameters), its LoraKit.Core shape" +
               (plan.Llama is not null && capabilities.HasRuntime ? " and a factory for the architecture." : "."));
        w.Line("/// </summary>");
        w.Open("partial class " + plan.Type.Name);
        if (plan.Llama is { } d)
        {
            if (plan.ConfigFile is not null) w.Line($"/// <summary>The config.json these dimensions were read from at compile time.</summary>");
            if (plan.ConfigFile is not null) w.Line($"public const string ConfigFile = {Str(plan.ConfigFile)};");
            w.Line($"public const string ModelType = {Str(d.ModelType)};");
            w.Line($"public const int HiddenSize = {Int(d.HiddenSize)};");
            w.Line($"public const int IntermediateSize = {Int(d.IntermediateSize)};");
            w.Line($"public const int Layers = {Int(d.Layers)};");
            w.Line($"public const int AttentionHeads = {Int(d.AttentionHeads)};");
            w.Line($"/// <summary>Key/value heads, derived when the description leaves them out (grouped-query attention when fewer than <see cref=\"AttentionHeads\"/>).</summary>");
            w.Line($"public const int KeyValueHeads = {Int(d.EffectiveKeyValueHeads)};");
            w.Line($"public const int HeadDim = {Int(d.EffectiveHeadDim)};");
            w.Line($"public const int VocabSize = {Int(d.VocabSize)};");
            w.Line($"public const bool TieWordEmbeddings = {Bool(d.TieWordEmbeddings)};");
            w.Line($"public const long BaseParameters = {Long(plan.BaseParameters)};");
            w.Line();
            w.Line("/// <summary>The dimensions as LoraKit's runtime and Core take them (a fresh instance each call).</summary>");
            w.Open("public static global::LoraKit.Models.LlamaDimensions Dimensions => new global::LoraKit.Models.LlamaDimensions");
            // The constants above are the one home of these values; KeyValueHeads/HeadDim stay as described (0 = derive).
            w.Line("ModelType = ModelType,");
            w.Line("HiddenSize = HiddenSize,");
            w.Line("IntermediateSize = IntermediateSize,");
            w.Line("Layers = Layers,");
            w.Line("AttentionHeads = AttentionHeads,");
            w.Line($"KeyValueHeads = {Int(d.KeyValueHeads)},");
            w.Line("VocabSize = VocabSize,");
            w.Line($"HeadDim = {Int(d.HeadDim)},");
            w.Line("TieWordEmbeddings = TieWordEmbeddings,");
            w.Line($"QkvBias = {Bool(d.QkvBias)},");
            w.Line($"OutputProjectionBias = {Bool(d.OutputProjectionBias)},");
            w.Line($"MlpBias = {Bool(d.MlpBias)},");
            w.Line($"QkNorm = {Bool(d.QkNorm)},");
            w.Line($"RopeTheta = {Double(d.RopeTheta)},");
            w.Line($"RmsNormEps = {Double(d.RmsNormEps)},");
            w.Line($"MaxPositionEmbeddings = {Int(d.MaxPositionEmbeddings)},");
            // Position handling from config.json changes the math: it must reach the runtime model, never be dropped.
            if (d.SlidingWindow > 0)
            {
                w.Line($"SlidingWindow = {Int(d.SlidingWindow)},");
                w.Line($"FirstSlidingLayer = {Int(d.FirstSlidingLayer)},");
            }
            if (d.RopeScaling is { } rope) EmitRopeScaling(w, rope);
            w.Close(";");
            w.Line();
            w.Line("/// <summary>The model as LoraKit.Core counts it: linear layers with Hugging Face paths and other parameters.</summary>");
            w.Line($"public static global::LoraKit.Models.ModelShape Shape => global::LoraKit.Models.ModelShape.FromLlama({Str(plan.Type.Name)}, Dimensions);");
            if (capabilities.HasRuntime)
            {
                w.Line();
                w.Line("/// <summary>A randomly initialised model of these dimensions (Hugging Face's init, deterministic in <paramref name=\"seed\"/>).</summary>");
                w.Line("public static global::LoraKit.Modeling.LlamaForCausalLM Create(global::TorchSharp.torch.Device? device = null, " +
                       "global::TorchSharp.torch.ScalarType dtype = global::TorchSharp.torch.ScalarType.Float32, long seed = 0) =>");
                w.Line("    global::LoraKit.Modeling.LlamaForCausalLM.Create(Dimensions, device, dtype, seed);");
            }
        }
        else
        {
            w.Line($"public const int LinearLayers = {Int(plan.Linears.Count)};");
            w.Line($"public const long OtherParameters = {Long(plan.OtherParameters)};");
            w.Line($"public const long BaseParameters = {Long(plan.BaseParameters)};");
            w.Line();
            w.Line("/// <summary>The model as LoraKit.Core counts it: the [LoraLinear] layers and other parameters.</summary>");
            w.Line("public static global::LoraKit.Models.ModelShape Shape => global::LoraKit.Models.ModelShape.Custom(");
            w.Line($"    {Str(plan.Type.Name)},");
            w.Line("    new global::LoraKit.Models.LinearLayer[]");
            w.Line("    {");
            foreach (var l in plan.Linears)
                w.Line($"        new global::LoraKit.Models.LinearLayer({Str(l.Name)}, {Int(l.InFeatures)}, {Int(l.OutFeatures)}, {Int(l.Count)}, {Bool(l.Bias)}) {{ IsOutputHead = {Bool(l.IsOutputHead)} }},");
            w.Line("    },");
            w.Line($"    {Long(plan.OtherParameters)});");
        }
        w.Close();
        return End(w, plan.Type);
    }

    public static string EmitAdapter(AdapterPlan plan, Capabilities capabilities)
    {
        var w = Begin(plan.Type);
        var name = plan.Type.Name;
        var layered = plan.Modules.Where(m => m.Layered).ToList();
        var single = plan.Modules.Where(m => !m.Layered).ToList();
        var targets = string.Join(", ", plan.TargetModules);
        w.Line("/// <summary>");
        w.Line($"/// LoRA adapter for <see cref=\"{Cref(plan.ModelFullName)}\"/>: r = {Int(plan.Rank)}, alpha = {Format.Number(plan.Alpha)} on {Xml(targets)};");
        w.Line($"/// {Int(plan.AdaptedModules)} modules, {Format.Count(plan.TrainableParameters)} trainable parameters = {Xml(Format.Percent(plan.BudgetPercent))} of {Format.Count(plan.BaseParameters)}.");
        if (capabilities.HasRuntime)
        {
            w.Line("/// An instance is a typed view of a base model the adapter is attached to (<see cref=\"AttachTo\"/>, <see cref=\"Load\"/>):");
            w.Line("/// the LoRA layers live in that model, this class names them.");
        }
        w.Line("/// </summary>");
        w.Open("partial class " + name);
        w.Line("/// <summary>The adapter's name inside the model (PEFT's adapter name).</summary>");
        w.Line("public const string AdapterName = \"default\";");
        w.Line("/// <summary>The <c>[LoraModel]</c> class this adapter is for.</summary>");
        w.Line($"public const string ModelName = {Str(plan.ModelFullName)};");
        w.Line($"public const int Rank = {Int(plan.Rank)};");
        w.Line($"public const double Alpha = {Double(plan.Alpha)};");
        w.Line($"public const double Dropout = {Double(plan.Dropout)};");
        w.Line(plan.UseRsLora ? "/// <summary>alpha/√r (rsLoRA): the factor applied to B·A.</summary>" : "/// <summary>alpha/r: the factor applied to B·A.</summary>");
        w.Line($"public const double Scaling = {Double(plan.Scaling)};");
        w.Line("/// <summary>LoRA A/B parameters plus the biases the bias mode trains, as LoraKit.Core counts them.</summary>");
        w.Line($"public const long TrainableParameters = {Long(plan.TrainableParameters)};");
        w.Line($"public const long BaseParameters = {Long(plan.BaseParameters)};");
        w.Line("/// <summary>TrainableParameters as a percentage of BaseParameters.</summary>");
        w.Line($"public const double BudgetPercent = {Double(plan.BudgetPercent)};");
        w.Line("/// <summary>How the base is stored while this adapter trains: [LoraAdapter(Quantize = …)], else the MSBuild property LoraKitQuantize at compile time, else None.</summary>");
        w.Line($"public const global::LoraKit.LoraQuantization Quantize = global::LoraKit.LoraQuantization.{plan.Quantize};");
        w.Line("/// <summary>How many module instances the targets adapt.</summary>");
        w.Line($"public const int AdaptedModules = {Int(plan.AdaptedModules)};");
        if (layered.Count > 0) w.Line($"public const int LayerCount = {Int(plan.LayerCount)};");
        w.Line();
        w.Line("/// <summary>The adapter's configuration (a fresh, mutable copy each call).</summary>");
        w.Open("public static global::LoraKit.LoraConfig Config => new global::LoraKit.LoraConfig");
        w.Line("Rank = Rank,");
        w.Line("Alpha = Alpha,");
        w.Line("Dropout = Dropout,");
        w.Line($"TargetModules = new string[] {{ {string.Join(", ", plan.TargetModules.Select(Str))} }},");
        w.Line($"Bias = global::LoraKit.LoraBias.{plan.Bias},");
        w.Line($"UseRsLora = {Bool(plan.UseRsLora)},");
        w.Line($"InitWeights = global::LoraKit.LoraInitWeights.{plan.InitWeights},");
        w.Close(";");

        if (capabilities.HasRuntime) EmitModuleApi(w, plan, layered, single);

        w.Line();
        w.Line("/// <summary>Adds this adapter to <see cref=\"global::LoraKit.LoraAdapterRegistry\"/>" +
               (capabilities.HasModuleInitializer ? "; runs as a module initializer when the assembly loads.</summary>" : " (call it once at startup).</summary>"));
        if (capabilities.HasModuleInitializer)
        {
            // CA2255 warns against module initializers in libraries; registering on load is exactly the point here.
            w.Line("#pragma warning disable CA2255");
            w.Line("[global::System.Runtime.CompilerServices.ModuleInitializer]");
            w.Line("#pragma warning restore CA2255");
        }
        w.Line("public static void Register() => global::LoraKit.LoraAdapterRegistry.Register(new global::LoraKit.LoraAdapterDescriptor(");
        // Only a Quantize written on the attribute travels: otherwise the run's --quantize / LoraKitQuantize decides.
        w.Line($"    {Str(name)}, {Str(plan.Type.FullName)}, ModelName, typeof({plan.Type.GlobalName}), () => Config, TrainableParameters, BaseParameters)" +
               (plan.QuantizeOnAdapter ? " { Quantize = Quantize });" : ");"));
        w.Close();
        return End(w, plan.Type);
    }

    private static void EmitModuleApi(SourceWriter w, AdapterPlan plan, System.Collections.Generic.List<ModulePlan> layered, System.Collections.Generic.List<ModulePlan> single)
    {
        var name = plan.Type.Name;
        w.Line();
        w.Line($"private readonly {LoraLinear}[] _modules;");
        w.Line();
        w.Open($"private {name}({Module} model, {Injection} injection)");
        w.Line("Model = model;");
        w.Line("Injection = injection;");
        w.Line($"var byPath = new global::System.Collections.Generic.Dictionary<string, {LoraLinear}>(global::System.StringComparer.Ordinal);");
        w.Line("foreach (var (path, module) in global::LoraKit.Lora.LoraInjector.LoraLayers(model)) byPath[path] = module;");
        w.Line($"_modules = new {LoraLinear}[injection.AdaptedPaths.Count];");
        w.Line("for (var i = 0; i < _modules.Length; i++) _modules[i] = Find(byPath, injection.AdaptedPaths[i]);");
        if (layered.Count > 0)
        {
            w.Line("var layers = new Layer[LayerCount];");
            w.Open("for (var i = 0; i < layers.Length; i++)");
            w.Line("var n = i.ToString(global::System.Globalization.CultureInfo.InvariantCulture);");
            w.Line("layers[i] = new Layer(");
            w.Line("    i,");
            for (var k = 0; k < layered.Count; k++)
            {
                var m = layered[k];
                var path = string.Join(" + n + ", m.PathTemplate.Split(new[] { "{i}" }, System.StringSplitOptions.None).Select(Str));
                w.Line($"    {(m.EveryLayer ? "Find" : "FindOrNull")}(byPath, {path}){(k == layered.Count - 1 ? ");" : ",")}");
            }
            w.Close();
            w.Line("Layers = global::System.Array.AsReadOnly(layers);");
        }
        foreach (var m in single) w.Line($"{m.PropertyName} = Find(byPath, {Str(m.PathTemplate)});");
        w.Close();
        w.Line();
        w.Line("/// <summary>The base model this adapter is attached to; its LoRA layers hold the adapter's weights.</summary>");
        w.Line($"public {Module} Model {{ get; }}");
        w.Line();
        w.Line("/// <summary>What the injection adapted: paths, configuration, trainable count.</summary>");
        w.Line($"public {Injection} Injection {{ get; }}");
        if (layered.Count > 0)
        {
            w.Line();
            w.Line("/// <summary>The adapted modules of each decoder block (or repeated block), by block index.</summary>");
            w.Line("public global::System.Collections.Generic.IReadOnlyList<Layer> Layers { get; }");
        }
        foreach (var m in single)
        {
            w.Line();
            w.Line($"/// <summary><c>{Xml(m.PathTemplate)}</c> with its LoRA adapter ({Int(m.InFeatures)} → {Int(m.OutFeatures)}).</summary>");
            w.Line($"public {LoraLinear} {m.PropertyName} {{ get; }}");
            w.Line($"public const int {m.PropertyName}InFeatures = {Int(m.InFeatures)};");
            w.Line($"public const int {m.PropertyName}OutFeatures = {Int(m.OutFeatures)};");
        }
        w.Line();
        w.Line("/// <summary>");
        w.Line($"/// Injects this adapter into <paramref name=\"model\"/> (a loaded {Xml(plan.ModelFullName)}) with <see cref=\"Config\"/>, freezes every");
        w.Line("/// base weight, and checks that what trains is exactly <see cref=\"TrainableParameters\"/> (LORA3006 otherwise).");
        w.Line("/// </summary>");
        w.Open($"public static {name} AttachTo({Module} model, long seed = 0)");
        w.Line("if (model is null) throw new global::System.ArgumentNullException(nameof(model));");
        w.Line("return Checked(model, global::LoraKit.Lora.LoraInjector.Inject(model, Config, AdapterName, seed));");
        w.Close();
        w.Line();
        w.Line("/// <summary>Attaches the PEFT adapter saved in <paramref name=\"folder\"/> to <paramref name=\"model\"/>; its rank and targets must be this adapter's.</summary>");
        w.Open($"public static {name} Load({Module} model, string folder)");
        w.Line("if (model is null) throw new global::System.ArgumentNullException(nameof(model));");
        w.Line("return Checked(model, global::LoraKit.Lora.LoraAdapterFiles.Load(model, folder, AdapterName));");
        w.Close();
        w.Line();
        w.Line("/// <summary>Writes adapter_config.json and adapter_model.safetensors in Hugging Face PEFT's format.</summary>");
        w.Line("public void Save(string folder, string? baseModelNameOrPath = null) =>");
        w.Line("    global::LoraKit.Lora.LoraAdapterFiles.Save(Model, AdapterName, folder, baseModelNameOrPath);");
        w.Line();
        w.Line("/// <summary>Folds the adapter into the base weights (W += scaling·B·A).</summary>");
        w.Open("public void Merge()");
        w.Line("foreach (var module in _modules) module.Merge(new[] { AdapterName });");
        w.Close();
        w.Line();
        w.Line("/// <summary>Takes merged adapters back out of the base weights.</summary>");
        w.Open("public void Unmerge()");
        w.Line("foreach (var module in _modules) module.Unmerge();");
        w.Close();
        w.Line();
        w.Line("/// <summary>The parameters that train (requires_grad), for the optimizer.</summary>");
        w.Open("public global::System.Collections.Generic.IEnumerable<global::TorchSharp.Modules.Parameter> LoraParameters()");
        w.Line("foreach (var p in Model.parameters()) if (p.requires_grad) yield return p;");
        w.Close();
        w.Line();
        w.Open($"private static {name} Checked({Module} model, {Injection} injection)");
        w.Line("global::LoraKit.Lora.LoraPreflight.Check(model, injection);");
        w.Line("if (injection.Config.Rank != Rank || injection.AdaptedPaths.Count != AdaptedModules || injection.TrainableParameters != TrainableParameters)");
        w.Line("    throw new global::LoraKit.Lora.LoraException(global::LoraKit.Rules.DiagnosticIds.PreflightFailed,");
        w.Line($"        {Str(name + " expects r = ")} + Rank + \" on \" + AdaptedModules + \" modules (\" + TrainableParameters + \" trainable parameters) of \" + ModelName + \"; the model got r = \" +");
        w.Line("        injection.Config.Rank + \" on \" + injection.AdaptedPaths.Count + \" modules (\" + injection.TrainableParameters + \"): is it the model this adapter describes?\");");
        w.Line($"return new {name}(model, injection);");
        w.Close();
        w.Line();
        w.Line($"private static {LoraLinear} Find(global::System.Collections.Generic.Dictionary<string, {LoraLinear}> byPath, string path) =>");
        w.Line("    byPath.TryGetValue(path, out var module) ? module : throw new global::LoraKit.Lora.LoraException(global::LoraKit.Rules.DiagnosticIds.PreflightFailed,");
        w.Line("        \"the model has no LoRA layer at \" + path + \"; is it the model this adapter describes (\" + ModelName + \")?\");");
        if (layered.Any(m => !m.EveryLayer))
        {
            w.Line();
            w.Line($"private static {LoraLinear}? FindOrNull(global::System.Collections.Generic.Dictionary<string, {LoraLinear}> byPath, string path) =>");
            w.Line("    byPath.TryGetValue(path, out var module) ? module : null;");
        }
        if (layered.Count == 0) return;

        w.Line();
        w.Line("/// <summary>The adapted modules of one block: exactly the targeted ones, each with its sizes.</summary>");
        w.Open("public sealed class Layer");
        var parameters = string.Join(", ", new[] { "int index" }.Concat(layered.Select(m => $"{LoraLinear}{(m.EveryLayer ? "" : "?")} {Camel(m.PropertyName)}")));
        w.Open($"internal Layer({parameters})");
        w.Line("Index = index;");
        foreach (var m in layered) w.Line($"{m.PropertyName} = {Camel(m.PropertyName)};");
        w.Close();
        w.Line();
        w.Line("/// <summary>The block index.</summary>");
        w.Line("public int Index { get; }");
        foreach (var m in layered)
        {
            w.Line();
            w.Line($"/// <summary><c>{Xml(m.PathTemplate)}</c> with its LoRA adapter ({Int(m.InFeatures)} → {Int(m.OutFeatures)}){(m.EveryLayer ? "" : "; null in blocks the targets leave out")}.</summary>");
            w.Line($"public {LoraLinear}{(m.EveryLayer ? "" : "?")} {m.PropertyName} {{ get; }}");
            w.Line($"public const int {m.PropertyName}InFeatures = {Int(m.InFeatures)};");
            w.Line($"public const int {m.PropertyName}OutFeatures = {Int(m.OutFeatures)};");
        }
        w.Close();
    }

    private static SourceWriter Begin(TypeName type)
    {
        var w = new SourceWriter();
        w.Line("// <auto-generated/>");
        w.Line("#nullable enable");
        // Users who build documentation would otherwise get CS1591 for the constants' self-describing names.
        w.Line("#pragma warning disable CS1591");
        w.Line();
        if (type.Namespace is not null) w.Open("namespace " + type.Namespace);
        return w;
    }

    private static string End(SourceWriter w, TypeName type)
    {
        if (type.Namespace is not null) w.Close();
        return w.ToString();
    }

    private static string Camel(string pascal) => "@" + char.ToLowerInvariant(pascal[0]) + pascal.Substring(1);

    private static void EmitRopeScaling(SourceWriter w, global::LoraKit.Models.RopeScaling r)
    {
        static string List(System.Collections.Generic.IReadOnlyList<double>? xs) =>
            xs is null ? "null" : "new double[] { " + string.Join(", ", xs.Select(Double)) + " }";
        w.Open("RopeScaling = new global::LoraKit.Models.RopeScaling");
        w.Line($"Type = global::LoraKit.Models.RopeType.{r.Type},");
        w.Line($"Factor = {Double(r.Factor)},");
        w.Line($"LowFrequencyFactor = {Double(r.LowFrequencyFactor)},");
        w.Line($"HighFrequencyFactor = {Double(r.HighFrequencyFactor)},");
        w.Line($"OriginalMaxPositionEmbeddings = {Int(r.OriginalMaxPositionEmbeddings)},");
        w.Line($"AttentionFactor = {(r.AttentionFactor is { } a ? Double(a) : "null")},");
        w.Line($"BetaFast = {Double(r.BetaFast)},");
        w.Line($"BetaSlow = {Double(r.BetaSlow)},");
        w.Line($"Mscale = {Double(r.Mscale)},");
        w.Line($"MscaleAllDim = {Double(r.MscaleAllDim)},");
        w.Line($"Truncate = {Bool(r.Truncate)},");
        w.Line($"ShortFactor = {List(r.ShortFactor)},");
        w.Line($"LongFactor = {List(r.LongFactor)},");
        w.Close(",");
    }

    private static string Str(string s) => SymbolDisplay.FormatLiteral(s, quote: true);

    private static string Int(int i) => i.ToString(CultureInfo.InvariantCulture);

    private static string Long(long l) => l.ToString(CultureInfo.InvariantCulture) + "L";

    private static string Bool(bool b) => b ? "true" : "false";

    /// <summary>Round-trip form, always with a '.' or exponent so it reads as a double.</summary>
    private static string Double(double d)
    {
        var s = d.ToString("R", CultureInfo.InvariantCulture);
        return s.IndexOf('.') >= 0 || s.IndexOf('E') >= 0 ? s : s + ".0";
    }

    private static string Cref(string fullName) => "global::" + fullName;

    private static string Xml(string s) => s.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;");
}
