extern alias analyzers;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp.Testing;
using Microsoft.CodeAnalysis.Testing;
using LoraAnalyzer = analyzers::LoraKit.Analyzers.LoraAnalyzer;

namespace LoraKit.Analyzers.Tests;

/// <summary>
/// Code-fix tests on Roslyn's testing framework (Microsoft.CodeAnalysis.CSharp.CodeFix.Testing): the markup gives every
/// diagnostic of the analyzer before and after the fix; the framework applies the fix as an IDE does, then Fix All in
/// document, project and solution scope, and checks each result. References are the local reference pack (or the
/// running framework) plus LoraKit.Core.dll — <see cref="ReferenceAssemblies"/> names no package, so nothing is
/// resolved or downloaded at test time.
/// </summary>
public static class CodeFixVerifier
{
    /// <summary>No package: the framework adds only <see cref="AnalyzerVerifier.References"/>.</summary>
    private static readonly ReferenceAssemblies Local = new("net" + System.Environment.Version.ToString(2));

    /// <param name="equivalenceKey">The action to apply, by equivalence key: the test fails unless the fix offers one with this key (its title).</param>
    /// <param name="buildProperties">MSBuild properties the analyzers read (LoraKitGpuMemoryGiB=40), as a global analyzer config gives them.</param>
    public static Task VerifyFixAsync<TFix>(string before, string after, string equivalenceKey, params string[] buildProperties) where TFix : CodeFixProvider, new()
    {
        var test = new CSharpCodeFixTest<LoraAnalyzer, TFix, DefaultVerifier>
        {
            TestCode = before,
            FixedCode = after,
            ReferenceAssemblies = Local,
            CodeActionEquivalenceKey = equivalenceKey,
        };
        test.TestState.AdditionalReferences.AddRange(AnalyzerVerifier.References());
        if (buildProperties.Length > 0)
        {
            var config = "is_global = true\n" + string.Concat(System.Linq.Enumerable.Select(buildProperties, p => "build_property." + p.Replace("=", " = ") + "\n"));
            test.TestState.AnalyzerConfigFiles.Add(("/.globalconfig", config));
        }
        return test.RunAsync();
    }

    /// <summary>The diagnostics of the markup are reported and the provider offers no fix for any of them.</summary>
    public static Task VerifyNoFixAsync<TFix>(string source, params string[] buildProperties) where TFix : CodeFixProvider, new() =>
        VerifyFixAsync<TFix>(source, source, null!, buildProperties);
}
