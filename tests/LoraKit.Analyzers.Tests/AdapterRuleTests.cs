using System.Linq;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Xunit;
using static LoraKit.Analyzers.Tests.AnalyzerVerifier;

namespace LoraKit.Analyzers.Tests;

/// <summary>LORA1001–LORA1005 on [LoraAdapter] attributes: fires, boundary, configuration, location, message.</summary>
public class AdapterRuleTests
{
    // ---- The seed's own mistakes ----

    [Fact]
    public async Task Seed_r8_with_alpha_left_at_the_previous_configs_8_is_LORA1001()
    {
        var d = await VerifyAsync(Sources.WithModels("""
            [LoraAdapter(typeof(Llama2_7B), Rank = 8, {|LORA1001:Alpha = 8|}, Dropout = 0.05, TargetModules = new[] { "q_proj", "v_proj" })]
            public partial class SupportAdapter;
            """));
        Assert.Equal("SupportAdapter: alpha/r = 8/8 = 1, expected 2; the update is scaled by 1 instead of 2 (set Alpha = 16)",
            Single(d, "LORA1001").GetMessage());
        Assert.Equal(DiagnosticSeverity.Warning, Single(d, "LORA1001").Severity);
    }

    [Fact]
    public async Task Seed_llama2_7b_at_r4_on_q_v_is_under_the_budget_floor()
    {
        var d = await VerifyAsync(Sources.WithModels("""
            [LoraAdapter(typeof(Llama2_7B), {|LORA1002:Rank = 4|}, Alpha = 8, Dropout = 0.05, TargetModules = new[] { "q_proj", "v_proj" })]
            public partial class SupportAdapter;
            """));
        Assert.Equal("SupportAdapter trains 2,097,152 parameters = 0.031 % of Llama2_7B's 6,738,415,616; the budget is 0.05 %–1 % (raise the rank or add target modules)",
            Single(d, "LORA1002").GetMessage());
        Assert.Equal("https://github.com/lorakit/lorakit/blob/main/docs/rules/LORA1002.md", Single(d, "LORA1002").Descriptor.HelpLinkUri);
    }

    [Fact]
    public async Task The_seeds_recommended_adapter_is_clean()
    {
        await VerifyAsync(Sources.WithModels("""
            [LoraAdapter(typeof(Llama2_7B), Rank = 8, Alpha = 16, Dropout = 0.05, TargetModules = new[] { "q_proj", "v_proj" })]
            public partial class SupportAdapter;
            """));
    }

    // ---- LORA1001 ----

    [Fact]
    public async Task Alpha_ratio_follows_lorakit_alpha_ratio()
    {
        var options = new TestOptions().WithEditorConfig("lorakit.alpha_ratio", "1");
        await VerifyAsync(Sources.WithModels("""
            [LoraAdapter(typeof(Llama2_7B), Rank = 8, Alpha = 8)]
            public partial class A;
            [LoraAdapter(typeof(Llama2_7B), Rank = 8, {|LORA1001:Alpha = 16|})]
            public partial class B;
            """), options);
        var both = new TestOptions().WithEditorConfig("lorakit.alpha_ratio", "1, 2");
        await VerifyAsync(Sources.WithModels("""
            [LoraAdapter(typeof(Llama2_7B), Rank = 8, Alpha = 8)]
            public partial class A;
            [LoraAdapter(typeof(Llama2_7B), Rank = 8, Alpha = 16)]
            public partial class B;
            [LoraAdapter(typeof(Llama2_7B), Rank = 8, {|LORA1001:Alpha = 32|})]
            public partial class C;
            """), both);
    }

    [Fact]
    public async Task Alpha_left_at_its_default_is_reported_on_the_rank()
    {
        // Alpha defaults to 16: right for r=8, wrong for r=16.
        var d = await VerifyAsync(Sources.WithModels("""
            [LoraAdapter(typeof(Llama2_7B), Rank = 8)]
            public partial class A;
            [LoraAdapter(typeof(Llama2_7B), {|LORA1001:Rank = 16|})]
            public partial class B;
            """));
        Assert.Equal("true", Single(d, "LORA1001").Properties["AlphaMissing"]);
        Assert.Equal("32", Single(d, "LORA1001").Properties["ExpectedAlpha"]);
    }

    [Fact]
    public async Task Alpha_ratio_is_not_checked_for_non_default_initialisation()
    {
        await VerifyAsync(Sources.WithModels("""
            [LoraAdapter(typeof(Llama2_7B), Rank = 8, Alpha = 8, InitWeights = LoraInitWeights.Gaussian)]
            public partial class A;
            """));
    }

    // ---- LORA1002 ----

    [Fact]
    public async Task Budget_boundary_is_inclusive()
    {
        // Exact: r=8 on fc = 16,000 of 1,600,000 = exactly 1 %; r=16 = 2 %.
        var d = await VerifyAsync(Sources.WithModels("""
            [LoraAdapter(typeof(Exact), Rank = 8, Alpha = 16, TargetModules = new[] { "fc" })]
            public partial class AtMax;
            [LoraAdapter(typeof(Exact), {|LORA1002:Rank = 16|}, Alpha = 32, TargetModules = new[] { "fc" })]
            public partial class Above;
            """));
        Assert.Equal("Above trains 32,000 parameters = 2.000 % of Exact's 1,600,000; the budget is 0.05 %–1 % (lower the rank or target fewer modules)",
            Single(d, "LORA1002").GetMessage());
    }

    [Fact]
    public async Task Budget_follows_lorakit_budget_keys()
    {
        var lower = new TestOptions().WithEditorConfig("lorakit.budget_min_percent", "0.03");
        await VerifyAsync(Sources.WithModels("""
            [LoraAdapter(typeof(Llama2_7B), Rank = 4, Alpha = 8)]
            public partial class SupportAdapter;
            """), lower);
        var tighter = new TestOptions().WithEditorConfig("lorakit.budget_max_percent", "0.5");
        await VerifyAsync(Sources.WithModels("""
            [LoraAdapter(typeof(Exact), {|LORA1002:Rank = 8|}, Alpha = 16, TargetModules = new[] { "fc" })]
            public partial class AtMax;
            """), tighter);
    }

    [Fact]
    public async Task Budget_without_a_rank_argument_is_reported_on_the_attribute()
    {
        // Default rank 8 on fc is 1 %; a 0.5 % ceiling makes it too much, and there is no Rank to point at.
        var options = new TestOptions().WithEditorConfig("lorakit.budget_max_percent", "0.5");
        await VerifyAsync(Sources.WithModels("""
            [{|LORA1002:LoraAdapter(typeof(Exact), TargetModules = new[] { "fc" })|}]
            public partial class Defaults;
            """), options);
    }

    // ---- LORA1003 ----

    [Fact]
    public async Task Rank_not_a_power_of_two()
    {
        var d = await VerifyAsync(Sources.WithModels("""
            [LoraAdapter(typeof(Llama2_7B), {|LORA1003:Rank = 12|}, Alpha = 24)]
            public partial class A;
            [LoraAdapter(typeof(Llama2_7B), Rank = 16, Alpha = 32)]
            public partial class B;
            """));
        var rank = Single(d, "LORA1003");
        Assert.Equal("A: rank 12 is not a power of two; use 8 or 16 (nearest: 16)", rank.GetMessage());
        Assert.Equal("16", rank.Properties["SuggestedRank"]);
        Assert.Equal(DiagnosticSeverity.Warning, rank.Severity);
    }

    [Fact]
    public async Task Rank_range_and_lorakit_max_rank()
    {
        var d = await VerifyAsync(Sources.WithModels("""
            [LoraAdapter(typeof(Llama2_7B), {|LORA1003:Rank = 0|})]
            public partial class Zero;
            [LoraAdapter(typeof(Llama2_7B), {|LORA1002:Rank = 256|}, Alpha = 512)]
            public partial class AtMax;
            [LoraAdapter(typeof(Llama2_7B), {|LORA1002,LORA1003:Rank = 512|}, Alpha = 1024)]
            public partial class AboveMax;
            """));
        var zero = d.Single(x => x.Id == "LORA1003" && x.GetMessage().StartsWith("Zero:"));
        Assert.Equal(DiagnosticSeverity.Error, zero.Severity);
        Assert.False(zero.Properties.ContainsKey("SuggestedRank"));

        var raised = new TestOptions().WithEditorConfig("lorakit.max_rank", "512").WithEditorConfig("lorakit.budget_max_percent", "10");
        await VerifyAsync(Sources.WithModels("""
            [LoraAdapter(typeof(Llama2_7B), Rank = 512, Alpha = 1024)]
            public partial class AboveMax;
            """), raised);
    }

    // ---- LORA1004 ----

    [Fact]
    public async Task Misspelt_target_is_an_error_on_the_string()
    {
        var d = await VerifyAsync(Sources.WithModels("""
            [LoraAdapter(typeof(Llama2_7B), Rank = 16, Alpha = 32, TargetModules = new[] { "q_proj", {|LORA1004:"v_prj"|} })]
            public partial class A;
            """));
        var target = Single(d, "LORA1004");
        Assert.Equal(DiagnosticSeverity.Error, target.Severity);
        Assert.Equal("target module 'v_prj' matches nothing in Llama2_7B; its linear modules are q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj, lm_head; did you mean 'v_proj'?",
            target.GetMessage());
        Assert.Equal("v_proj", target.Properties["SuggestedTarget"]);
    }

    [Fact]
    public async Task A_separate_projection_on_phi3_suggests_the_fused_module_peft_targets()
    {
        // Phi-3-mini's shapes: q/k/v live in qkv_proj, gate/up in gate_up_proj (one letter from o_proj is not the answer).
        var d = await VerifyAsync(Sources.WithModels("""
            [LoraModel(LoraArchitecture.Phi3, HiddenSize = 3072, IntermediateSize = 8192, Layers = 32, AttentionHeads = 32, KeyValueHeads = 32, VocabSize = 32064)]
            public partial class Phi3Mini;

            [LoraAdapter(typeof(Phi3Mini), Rank = 16, Alpha = 32, TargetModules = new[] { {|LORA1004:"q_proj"|}, "o_proj", {|LORA1004:"up_proj"|} })]
            public partial class A;
            """));
        var targets = d.Where(x => x.Id == "LORA1004").OrderBy(x => x.Location.SourceSpan.Start).ToArray();
        Assert.Equal("target module 'q_proj' matches nothing in Phi3Mini; its linear modules are qkv_proj, o_proj, gate_up_proj, down_proj, lm_head; did you mean 'qkv_proj'?",
            targets[0].GetMessage());
        Assert.Equal(new[] { "qkv_proj", "gate_up_proj" }, targets.Select(t => t.Properties["SuggestedTarget"]));
    }

    [Fact]
    public async Task Gemma2_budget_is_taken_of_its_published_parameter_count()
    {
        // Gemma-2-2B as its config.json describes it: 2,614,341,888 parameters (four norms per layer, tied head).
        // r 4 on q_proj: 4·(2304 + 8·256) per layer × 26 layers = 452,608.
        var d = await VerifyAsync(Sources.WithModels("""
            [LoraModel(LoraArchitecture.Gemma2, HiddenSize = 2304, IntermediateSize = 9216, Layers = 26, AttentionHeads = 8, KeyValueHeads = 4, HeadDim = 256, VocabSize = 256000, TieWordEmbeddings = true)]
            public partial class Gemma2_2B;

            [LoraAdapter(typeof(Gemma2_2B), {|LORA1002:Rank = 4|}, Alpha = 8, TargetModules = new[] { "q_proj" })]
            public partial class G;
            """));
        Assert.Equal("G trains 452,608 parameters = 0.017 % of Gemma2_2B's 2,614,341,888; the budget is 0.05 %–1 % (raise the rank or add target modules)",
            Single(d, "LORA1002").GetMessage());
    }

    [Fact]
    public async Task Targets_that_exist_do_not_fire()
    {
        await VerifyAsync(Sources.WithModels("""
            [LoraAdapter(typeof(Llama2_7B), Rank = 8, Alpha = 16, TargetModules = new[] { "self_attn.q_proj", "model.layers.0.self_attn.v_proj", "v_proj" })]
            public partial class Suffixes;
            [LoraAdapter(typeof(Llama2_7B), Rank = 8, Alpha = 16, TargetModules = new[] { "all-linear" })]
            public partial class AllLinear;
            """));
    }

    [Fact]
    public async Task Every_missing_target_is_reported_even_when_all_miss()
    {
        await VerifyAsync(Sources.WithModels("""
            [LoraAdapter(typeof(Exact), Rank = 8, Alpha = 16, TargetModules = new[] { {|LORA1004:"fc1"|}, {|LORA1004:"q_proj"|} })]
            public partial class A;
            """));
    }

    // ---- LORA1005 ----

    [Fact]
    public async Task Dropout_range()
    {
        var d = await VerifyAsync(Sources.WithModels("""
            [LoraAdapter(typeof(Llama2_7B), Rank = 8, Alpha = 16, {|LORA1005:Dropout = 0.5|})]
            public partial class Half;
            [LoraAdapter(typeof(Llama2_7B), Rank = 8, Alpha = 16, Dropout = 0.49)]
            public partial class JustBelow;
            [LoraAdapter(typeof(Llama2_7B), Rank = 8, Alpha = 16, Dropout = 0)]
            public partial class None;
            [LoraAdapter(typeof(Llama2_7B), Rank = 8, Alpha = 16, {|LORA1005:Dropout = -0.1|})]
            public partial class Negative;
            """));
        Assert.Contains(d, x => x.GetMessage() == "Half: dropout 0.5 is outside [0, 0.5); typical LoRA dropout is 0.05–0.2");
    }

    [Fact]
    public async Task Severity_configuration_silences_a_rule()
    {
        var options = new TestOptions();
        options.Severity["LORA1005"] = ReportDiagnostic.Suppress;
        options.Severity["LORA1001"] = ReportDiagnostic.Error;
        var d = await VerifyAsync(Sources.WithModels("""
            [LoraAdapter(typeof(Llama2_7B), Rank = 8, {|LORA1001:Alpha = 8|}, Dropout = 0.9)]
            public partial class A;
            """), options);
        Assert.Equal(DiagnosticSeverity.Error, Single(d, "LORA1001").Severity);
    }

    // ---- constants, not literals ----

    [Fact]
    public async Task Constant_expressions_are_evaluated()
    {
        await VerifyAsync(Sources.WithModels("""
            static class Ranks { public const int Base = 8; }
            [LoraAdapter(typeof(Llama2_7B), Rank = Ranks.Base * 2, {|LORA1001:Alpha = Ranks.Base|})]
            public partial class A;
            """));
    }
}
