using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Xunit;
using static LoraKit.Generators.Tests.GeneratorHarness;

namespace LoraKit.Generators.Tests;

/// <summary>The pipeline caches: an unrelated edit leaves every tracked step Cached or Unchanged, and no step holds a symbol, compilation or syntax node.</summary>
public class IncrementalTests
{
    private static readonly string[] AllSources = { Sources.Llama, Sources.Gqa, Sources.AllLinear, Sources.Custom, Sources.NoNamespace, Sources.ConfigFile };

    private static (GeneratorDriver Driver, Compilation Compilation) FirstRun()
    {
        var compilation = Compile(AllSources);
        var driver = CreateDriver(new[] { new InMemoryText(Sources.SmolConfigPath, Sources.SmolConfig) }).RunGenerators(compilation);
        Assert.Equal(12, driver.GetRunResult().Results.Single().GeneratedSources.Length);
        return (driver, compilation);
    }

    [Fact]
    public void An_unrelated_edit_leaves_every_tracked_step_cached()
    {
        var (driver, compilation) = FirstRun();
        var edited = compilation.AddSyntaxTrees(CSharpSyntaxTree.ParseText("namespace Other { public class Unrelated { public int X => 1; } }", GeneratorHarness.ParseOptions, ProjectDir + "Other.cs"));
        var second = driver.RunGenerators(edited).GetRunResult().Results.Single();

        foreach (var step in StepNames)
        {
            Assert.True(second.TrackedSteps.TryGetValue(step, out var runs), $"step {step} did not run");
            var reasons = runs!.SelectMany(r => r.Outputs).Select(o => o.Reason).ToList();
            Assert.NotEmpty(reasons);
            Assert.All(reasons, r => Assert.True(r is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged,
                $"step {step} output was {r} after an unrelated edit"));
        }
        Assert.Equal(12, second.GeneratedSources.Length);
    }

    [Fact]
    public void Editing_an_adapter_reruns_only_its_plan()
    {
        var (driver, compilation) = FirstRun();
        var old = compilation.SyntaxTrees.First(t => t.ToString().Contains("SupportAdapter", StringComparison.Ordinal));
        var edited = compilation.ReplaceSyntaxTree(old, old.WithChangedText(Microsoft.CodeAnalysis.Text.SourceText.From(
            old.ToString().Replace("Rank = 8, Alpha = 16, Dropout", "Rank = 16, Alpha = 32, Dropout", StringComparison.Ordinal))));
        var second = driver.RunGenerators(edited).GetRunResult().Results.Single();
        var plans = second.TrackedSteps[LoraKit.Generators.Tests.GeneratorHarness.StepNames.Single(s => s == "AdapterPlans")]
            .SelectMany(r => r.Outputs).Select(o => o.Reason).ToList();
        Assert.Contains(IncrementalStepRunReason.Modified, plans);
        Assert.Contains(plans, r => r is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged);
        var text = second.GeneratedSources.Single(s => s.HintName == "Support.Models.SupportAdapter.g.cs").SourceText.ToString();
        Assert.Contains("public const int Rank = 16;", text, StringComparison.Ordinal);
    }

    [Fact]
    public void No_tracked_step_holds_a_symbol_compilation_semantic_model_or_syntax_node()
    {
        var (driver, _) = FirstRun();
        var run = driver.GetRunResult().Results.Single();
        foreach (var step in StepNames)
            foreach (var output in run.TrackedSteps[step].SelectMany(r => r.Outputs))
                AssertPlain(output.Value, $"{step}", new HashSet<object>(ReferenceEqualityComparer.Instance));
    }

    [Fact]
    public void The_walker_would_catch_a_symbol()
    {
        var compilation = Compile(new[] { "class C { }" });
        var symbol = compilation.GetTypeByMetadataName("C")!;
        Assert.ThrowsAny<Exception>(() => AssertPlain((1, new[] { (object)symbol }), "probe", new HashSet<object>(ReferenceEqualityComparer.Instance)));
        Assert.ThrowsAny<Exception>(() => AssertPlain(compilation, "probe", new HashSet<object>(ReferenceEqualityComparer.Instance)));
    }

    /// <summary>Walks an output's object graph (fields, including tuples and arrays) and fails on Roslyn's heavyweight types.</summary>
    private static void AssertPlain(object? value, string path, HashSet<object> seen)
    {
        if (value is null) return;
        var type = value.GetType();
        Assert.False(value is ISymbol or Compilation or SemanticModel or SyntaxNode or SyntaxTree,
            $"{path} holds a {type.FullName}: nothing past the first transform may hold Roslyn symbols or syntax");
        if (type.IsPrimitive || type.IsEnum || value is string or decimal) return;
        if (!type.IsValueType && !seen.Add(value)) return;
        if (value is IEnumerable items)
        {
            var i = 0;
            foreach (var item in items) AssertPlain(item, $"{path}[{i++}]", seen);
            if (type.IsArray || type.Namespace?.StartsWith("System.Collections", StringComparison.Ordinal) == true) return;
        }
        for (var t = type; t is not null && t != typeof(object); t = t.BaseType)
            foreach (var f in t.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
                AssertPlain(f.GetValue(value), $"{path}.{f.Name}", seen);
    }
}
