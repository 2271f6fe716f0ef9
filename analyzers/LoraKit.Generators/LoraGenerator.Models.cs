using LoraKit.Roslyn;

namespace LoraKit.Generators;

// The generator's pipeline models: plain, equatable records of strings and numbers. No ISymbol,
// Compilation, SemanticModel or SyntaxNode lives past the first transform, or nothing would be cached.

/// <summary>A class as the emitter needs it; <see cref="CanComplete"/> is false for types the generator leaves alone.</summary>
/// <param name="Namespace">Null for a class in the global namespace.</param>
/// <param name="FullName">Namespace-qualified name without <c>global::</c>, e.g. <c>MyApp.SupportAdapter</c>.</param>
/// <param name="CanComplete">Partial, top-level (not nested), non-generic and non-static: the shapes the generator completes.</param>
internal sealed record TypeName(string? Namespace, string Name, string FullName, bool CanComplete)
{
    public string GlobalName => "global::" + FullName;
}

/// <summary>A <c>[LoraModel]</c> class: its name and its attributes' values as the shared reader read them (not yet checked).</summary>
internal sealed record ModelDescription(TypeName Type, ModelValues Values);

/// <summary>A <c>[LoraAdapter]</c> class with its attribute's values and its model's description, as written.</summary>
/// <param name="HasErrors">The attribute does not bind, the adapter is abstract or its model type is missing.</param>
internal sealed record AdapterDescription(TypeName Type, ModelDescription? Model, AdapterValues Values, bool HasErrors);

/// <summary>An AdditionalFile that may be a Hugging Face config.json.</summary>
internal sealed record ConfigText(string Path, string? Text);

/// <summary>
/// What the plans need from outside the attributes: the candidate config files and the project folder (to resolve a
/// ConfigFile), and the MSBuild property LoraKitQuantize (for adapters whose attribute does not set Quantize).
/// </summary>
internal sealed record ModelInputs(EquatableArray<ConfigText> ConfigFiles, string? ProjectDir, LoraQuantization DefaultQuantize);

/// <summary>What the compilation offers the generated code.</summary>
/// <param name="HasRuntime">LoraKit's TorchSharp runtime (LoraKit.dll) is referenced: emit the module API.</param>
/// <param name="HasModuleInitializer">ModuleInitializerAttribute exists (net5+): register adapters on load.</param>
internal sealed record Capabilities(bool HasRuntime, bool HasModuleInitializer);

/// <summary>A valid model, ready to emit.</summary>
/// <param name="Llama">Core's checked dimensions (a value-equal record, so the plan caches); null for a custom model.</param>
/// <param name="Linears">A custom model's layers as Core counts them.</param>
internal sealed record ModelPlan(
    TypeName Type,
    string? ConfigFile,
    LoraKit.Models.LlamaDimensions? Llama,
    EquatableArray<LinearValues> Linears,
    long OtherParameters,
    long BaseParameters);

/// <summary>
/// One adapted module family. Layered (a <c>{i}</c> template): a property of the per-layer type; otherwise
/// a property of the adapter itself. <see cref="EveryLayer"/> is false when only some blocks are adapted,
/// and the property is then nullable.
/// </summary>
internal sealed record ModulePlan(string PropertyName, string PathTemplate, bool Layered, bool EveryLayer, int InFeatures, int OutFeatures);

/// <summary>A valid adapter with every constant computed by LoraKit.Core, ready to emit.</summary>
internal sealed record AdapterPlan(
    TypeName Type,
    string ModelFullName,
    int Rank,
    double Alpha,
    double Dropout,
    EquatableArray<string> TargetModules,
    LoraBias Bias,
    bool UseRsLora,
    LoraInitWeights InitWeights,
    LoraQuantization Quantize,
    bool QuantizeOnAdapter,
    double Scaling,
    long TrainableParameters,
    long BaseParameters,
    double BudgetPercent,
    int AdaptedModules,
    int LayerCount,
    EquatableArray<ModulePlan> Modules);
