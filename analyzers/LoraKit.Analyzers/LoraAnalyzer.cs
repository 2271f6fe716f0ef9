using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;

namespace LoraKit.Analyzers;

/// <summary>
/// Checks LoRA adapters at compile time: <c>[LoraModel]</c> + <c>[LoraAdapter]</c> attributes with constant
/// arguments (LORA1001–LORA1007, LORA2xxx) and <c>new LoraConfig { … }</c> with constant values (rank, alpha,
/// dropout). Every number comes from LoraKit.Core, compiled into this assembly.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class LoraAnalyzer : DiagnosticAnalyzer
{
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics => LoraDescriptors.All;

    public override void Initialize(AnalysisContext context)
    {
        context.EnableConcurrentExecution();
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.RegisterCompilationStartAction(OnCompilationStart);
    }

    private static void OnCompilationStart(CompilationStartAnalysisContext context)
    {
        // Nothing to do, and nothing to pay for, in a compilation that does not reference LoraKit.
        var types = LoraTypes.Resolve(context.Compilation);
        if (types is null) return;
        var session = new AnalysisSession(types, context.Options, context.CancellationToken);
        context.RegisterSymbolAction(session.AnalyzeNamedType, SymbolKind.NamedType);
        // Object initializers, not every object creation: an operation action would make Roslyn build the
        // operation tree of every method body in the project; this binds only `new … { X = … }` expressions.
        if (types.LoraConfig is not null)
            context.RegisterSyntaxNodeAction(session.AnalyzeObjectInitializer, SyntaxKind.ObjectInitializerExpression);
    }
}
