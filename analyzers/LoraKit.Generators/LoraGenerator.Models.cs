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

/// <summary>One <c>[LoraLinear]</c> of a custom model, as written.</summary>
internal sealed record LinearDescription(string Name, int InFeatures, int OutFeatures, int Count, bool Bias, bool IsOutputHead);

/// <summary>A <c>[LoraModel]</c> attribute's values, as written (not yet checked).</summary>
internal sealed record ModelDescription(
    TypeName Type,
    int Architecture,
    string? ConfigFile,
    int HiddenSize,
    int IntermediateSize,
    int Layers,
    int AttentionHeads,
    int KeyValueHeads,
    int VocabSize,
    int HeadDim,
    bool TieWordEmbeddings,
    bool AttentionBias,
    bool MlpBias,
    long OtherParameters,
    EquatableArray<LinearDescription> Linears,
    bool HasErrors);

/// <summary>A <c>[LoraAdapter]</c> attribute's values with its model's description, as written.</summary>
internal sealed record AdapterDescription(
    TypeName Type,
    ModelDescription? Model,
    int Rank,
    double Alpha,
    double Dropout,
    EquatableArray<string> TargetModules,
    int Bias,
    bool UseRsLora,
    int InitWeights,
    int? Quantize,
    bool HasErrors);

/// <summary>An AdditionalFile that may be a Hugging Face config.json.</summary>
internal sealed record ConfigText(string Path, string? Text);

/// <summary>
/// What the plans need from outside the attributes: the candidate config files and the project folder (to resolve a
/// ConfigFile), and the MSBuild property LoraKitQuantize (for adapters whose attribute does not set Quantize).
/// </summary>
internal sealed record ModelInputs(EquatableArray<ConfigText> ConfigFiles, string? ProjectDir, int DefaultQuantize);

/// <summary>What the compilation offers the generated code.</summary>
/// <param name="HasRuntime">LoraKit's TorchSharp runtime (LoraKit.dll) is referenced: emit the module API.</param>
/// <param name="HasModuleInitializer">ModuleInitializerAttribute exists (net5+): register adapters on load.</param>
internal sealed record Capabilities(bool HasRuntime, bool HasModuleInitializer);

/// <summary>Checked Llama dimensions (from the attribute or config.json), with derived values resolved.</summary>
internal sealed record LlamaPlan(
    string ModelType,
    int HiddenSize,
    int IntermediateSize,
    int Layers,
    int AttentionHeads,
    int KeyValueHeads,
    int EffectiveKeyValueHeads,
    int VocabSize,
    int HeadDim,
    int EffectiveHeadDim,
    bool TieWordEmbeddings,
    bool QkvBias,
    bool OutputProjectionBias,
    bool MlpBias,
    bool QkNorm,
    double RopeTheta,
    double RmsNormEps,
    int MaxPositionEmbeddings,
    int SlidingWindow,
    int FirstSlidingLayer,
    LoraKit.Models.RopeScaling? RopeScaling);

/// <summary>A valid model, ready to emit.</summary>
internal sealed record ModelPlan(
    TypeName Type,
    int Architecture,
    string? ConfigFile,
    LlamaPlan? Llama,
    EquatableArray<LinearDescription> Linears,
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
    int Bias,
    bool UseRsLora,
    int InitWeights,
    int Quantize,
    bool QuantizeOnAdapter,
    double Scaling,
    long TrainableParameters,
    long BaseParameters,
    double BudgetPercent,
    int AdaptedModules,
    int LayerCount,
    EquatableArray<ModulePlan> Modules);
