extern alias analyzers;
using System.Linq;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Xunit;
using static LoraKit.Analyzers.Tests.AnalyzerVerifier;
using ServeAnalyzer = analyzers::LoraKit.Analyzers.ServeAnalyzer;

namespace LoraKit.Analyzers.Tests;

/// <summary>The serving lint LORA40xx on [LoraAdapter], switched on by the MSBuild property LoraKitServeTargets.</summary>
public class ServeRuleTests
{
    private static TestOptions Serve(string targets) => new TestOptions().WithBuildProperty("LoraKitServeTargets", targets);

    private static Task<System.Collections.Immutable.ImmutableArray<Diagnostic>> Verify(string markup, TestOptions options, params string[] outsideSource) =>
        VerifyAsync(new ServeAnalyzer(), markup, options, outsideSource);

    /// <summary>Qwen2-0.5B's shape: q/k/v biases and a head tied to the embeddings.</summary>
    private const string Qwen = """
        [LoraModel(LoraArchitecture.Llama, HiddenSize = 896, IntermediateSize = 4864, Layers = 24, AttentionHeads = 14, KeyValueHeads = 2,
                   VocabSize = 151936, AttentionBias = true, TieWordEmbeddings = true)]
        public partial class Qwen05B;

        """;

    [Fact]
    public async Task Nothing_is_checked_without_the_property()
    {
        const string source = """
            [LoraAdapter(typeof(Llama2_7B), Rank = 1024, Alpha = 2048, Bias = LoraBias.All, UseRsLora = true)]
            public partial class Big;
            """;
        await Verify(Sources.WithModels(source), new TestOptions());
        await Verify(Sources.WithModels(source), Serve(" "));
    }

    [Fact]
    public async Task VLLM_rank_above_the_default_max_lora_rank_is_a_warning_on_Rank()
    {
        var d = await Verify(Sources.WithModels("""
            [LoraAdapter(typeof(Llama2_7B), Rank = 16, Alpha = 32)]
            public partial class Fits;
            [LoraAdapter(typeof(Llama2_7B), {|LORA4001:Rank = 32|}, Alpha = 64)]
            public partial class Needs32;
            """), Serve("vllm"));
        var f = Single(d, "LORA4001");
        Assert.Equal(DiagnosticSeverity.Warning, f.Severity);
        Assert.Equal("Needs32: vLLM refuses LoRA rank 32 at its default --max-lora-rank 16 (\"LoRA rank 32 is greater than max_lora_rank\"); " +
            "start vLLM with --max-lora-rank 32 (it reserves memory for that rank in every LoRA slot), or use rank 16 or less", f.GetMessage());
        Assert.Equal("https://github.com/lorakit/lorakit/blob/main/docs/rules/LORA4001.md", f.Descriptor.HelpLinkUri);
    }

    [Fact]
    public async Task VLLM_rank_above_512_is_an_error()
    {
        var d = await Verify(Sources.WithModels("""
            [LoraAdapter(typeof(Llama2_7B), {|LORA4001:Rank = 1024|}, Alpha = 2048)]
            public partial class Huge;
            """), Serve("vllm"));
        Assert.Equal(DiagnosticSeverity.Error, Single(d, "LORA4001").Severity);
    }

    [Fact]
    public async Task Only_the_named_servers_are_checked()
    {
        const string source = """
            [LoraAdapter(typeof(Llama2_7B), Rank = 32, Alpha = 64)]
            public partial class Needs32;
            """;
        await Verify(Sources.WithModels(source), Serve("llamacpp;tgi"));
    }

    [Fact]
    public async Task Bias_is_refused_by_vLLM_and_on_a_model_with_biases_by_llama_cpp_and_ignored_by_TGI()
    {
        await Verify(Sources.WithModels("""
            [LoraAdapter(typeof(Llama2_7B), Rank = 8, Alpha = 16, {|LORA4004:Bias = LoraBias.All|})]
            public partial class NoBiases;
            """), Serve("vllm;llamacpp;tgi"));
        // Three rules on one argument (the markup does not nest): each on "Bias = LoraBias.LoraOnly".
        var source = Sources.WithModels(Qwen + """
            [LoraAdapter(typeof(Qwen05B), Rank = 8, Alpha = 16, Bias = LoraBias.LoraOnly)]
            public partial class QwenBiases;
            """);
        var d = await GetDiagnosticsAsync(new ServeAnalyzer(), Compile(source, options: Serve("vllm;llamacpp;tgi")), Serve("vllm;llamacpp;tgi"));
        Assert.Equal(new[] { "LORA4004", "LORA4013", "LORA4023" }, d.Select(x => x.Id).OrderBy(x => x).ToArray());
        Assert.All(d, x => Assert.Equal("Bias = LoraBias.LoraOnly", source.Substring(x.Location.SourceSpan.Start, x.Location.SourceSpan.Length)));
        Assert.All(d.Where(x => x.Id != "LORA4023"), x => Assert.Equal(DiagnosticSeverity.Error, x.Severity));
        Assert.Equal(DiagnosticSeverity.Warning, Single(d, "LORA4023").Severity);
        // PEFT's lora_only saves the biases of the adapted q_proj/v_proj (24 layers each): 48 vectors.
        Assert.StartsWith("QwenBiases: bias \"lora_only\" saves 48 bias vectors (model.layers.0.self_attn.q_proj.bias, model.layers.1.self_attn.q_proj.bias, model.layers.2.self_attn.q_proj.bias and 45 more)",
            Single(d, "LORA4013").GetMessage());
    }

    [Fact]
    public async Task RsLoRA_for_llama_cpp_is_a_warning_on_UseRsLora_with_the_alpha_to_write()
    {
        var d = await Verify(Sources.WithModels("""
            [LoraAdapter(typeof(Llama2_7B), Rank = 16, Alpha = 8, {|LORA4014:UseRsLora = true|})]
            public partial class RsAdapter;
            """), Serve("vllm;llamacpp;tgi"));
        Assert.Contains("is applied 4× too weakly; write alpha·√r = 32 as adapter.lora.alpha when converting", Single(d, "LORA4014").GetMessage());
    }

    [Fact]
    public async Task LoRA_on_a_tied_head_is_reported_on_its_target_for_llama_cpp()
    {
        await Verify(Sources.WithModels(Qwen + """
            [LoraAdapter(typeof(Qwen05B), Rank = 8, Alpha = 16, TargetModules = new[] { "q_proj", {|LORA4016:"lm_head"|} })]
            public partial class HeadAdapter;
            [LoraAdapter(typeof(Llama2_7B), Rank = 8, Alpha = 16, TargetModules = new[] { "q_proj", "lm_head" })]
            public partial class UntiedHead;
            """), Serve("vllm;llamacpp;tgi"));
    }

    [Fact]
    public async Task TGI_ignores_a_custom_models_layers()
    {
        var d = await Verify(Sources.WithModels("""
            [LoraAdapter(typeof(Exact), Rank = 8, Alpha = 16, TargetModules = new[] { {|LORA4025:"fc"|} })]
            public partial class CustomAdapter;
            [LoraAdapter(typeof(Llama2_7B), Rank = 8, Alpha = 16, TargetModules = new[] { "all-linear" })]
            public partial class AllLinear;
            """), Serve("tgi"));
        Assert.Equal(DiagnosticSeverity.Warning, Single(d, "LORA4025").Severity);
    }

    [Fact]
    public async Task An_unknown_server_name_is_LORA1008_and_the_known_ones_are_checked()
    {
        var d = await Verify(Sources.WithModels("""
            [LoraAdapter(typeof(Llama2_7B), {|LORA4001:Rank = 32|}, Alpha = 64)]
            public partial class A;
            [LoraAdapter(typeof(Llama2_7B), {|LORA4001:Rank = 64|}, Alpha = 128)]
            public partial class B;
            """), Serve("vllm;ollama"), "LORA1008");
        Assert.Equal("MSBuild property LoraKitServeTargets = vllm;ollama: 'ollama' is not a server LoraKit knows; use vllm, llamacpp, tgi, separated by ';'; only vllm is checked",
            Single(d, "LORA1008").GetMessage());
    }

    [Fact]
    public void Catalog_has_one_descriptor_per_serving_rule_with_help_links_and_pages()
    {
        var descriptors = new ServeAnalyzer().SupportedDiagnostics;
        Assert.Equal(new[] { "LORA1008", "LORA4001", "LORA4002", "LORA4003", "LORA4004", "LORA4011", "LORA4012", "LORA4013", "LORA4014", "LORA4015", "LORA4016",
            "LORA4021", "LORA4022", "LORA4023", "LORA4024", "LORA4025" }, descriptors.Select(x => x.Id).OrderBy(x => x).ToArray());
        foreach (var d in descriptors.Where(x => x.Id != "LORA1008"))
        {
            Assert.Equal("LoraKit.Serving", d.Category);
            Assert.Equal($"https://github.com/lorakit/lorakit/blob/main/docs/rules/{d.Id}.md", d.HelpLinkUri);
            Assert.True(System.IO.File.Exists(System.IO.Path.Combine(ScopeTests.RepoRoot(), "docs", "rules", d.Id + ".md")), $"docs/rules/{d.Id}.md is missing");
            Assert.Contains("Switched on by the MSBuild property LoraKitServeTargets (vllm, llamacpp, tgi). Read from ", d.Description.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
    }
}
