using System;
using System.IO;
using System.Linq;
using System.Reflection;
using LoraKit.Models;
using LoraKit.Rules;
using LoraKit.Serving;
using Xunit;

namespace LoraKit.Core.Tests;

/// <summary>The serving lint's rule table (LORA40xx) and its verdicts, from adapter facts.</summary>
public class ServeRulesTests
{
    private static LlamaDimensions Dims(bool qkvBias = false, bool tied = false) => new()
    {
        ModelType = "llama", HiddenSize = 64, IntermediateSize = 176, Layers = 3, AttentionHeads = 4, KeyValueHeads = 2, VocabSize = 300,
        QkvBias = qkvBias, TieWordEmbeddings = tied,
    };

    private static readonly ModelShape Llama = ModelShape.FromLlama("TinyLlama", Dims());

    private static AdapterServeFacts Facts(LoraConfig c, ModelShape? model = null) => AdapterServeFacts.FromConfig(c, model ?? Llama);

    private static string[] Ids(AdapterServeFacts f, ServeTargets t = ServeTargets.All) =>
        ServeRules.Check(f, t, "A").Select(x => x.Id).ToArray();

    [Theory]
    [InlineData("vllm", ServeTargets.Vllm)]
    [InlineData("vllm;llamacpp", ServeTargets.Vllm | ServeTargets.LlamaCpp)]
    [InlineData(" TGI , vllm ;", ServeTargets.Tgi | ServeTargets.Vllm)]
    [InlineData("vllm;llamacpp;tgi", ServeTargets.All)]
    [InlineData("", ServeTargets.None)]
    public void Target_names_parse(string text, ServeTargets expected)
    {
        Assert.True(ServeTargetNames.TryParse(text, out var t, out var error), error);
        Assert.Equal(expected, t);
    }

    [Fact]
    public void Unknown_target_names_are_named_and_the_known_ones_kept()
    {
        Assert.False(ServeTargetNames.TryParse("vllm;ollama;sglang", out var t, out var error));
        Assert.Equal(ServeTargets.Vllm, t);
        Assert.Equal("'ollama', 'sglang' are not servers LoraKit knows; use vllm, llamacpp, tgi, separated by ';'", error);
    }

    [Fact]
    public void A_plain_LoRA_on_the_attention_loads_everywhere()
    {
        var f = Facts(new LoraConfig { Rank = 16, Alpha = 32, TargetModules = new[] { "q_proj", "k_proj", "v_proj", "o_proj" } });
        Assert.Empty(ServeRules.Check(f, ServeTargets.All, "A"));
        foreach (var s in ServeTargetNames.Each(ServeTargets.All)) Assert.Equal(ServeVerdict.Loads, ServeRules.Verdict(s, Array.Empty<RuleFinding>()));
    }

    [Theory]
    [InlineData(16, null, null)]
    [InlineData(17, RuleSeverity.Warning, "start vLLM with --max-lora-rank 32")]
    [InlineData(64, RuleSeverity.Warning, "start vLLM with --max-lora-rank 64")]
    [InlineData(257, RuleSeverity.Warning, "start vLLM with --max-lora-rank 320")]
    [InlineData(512, RuleSeverity.Warning, "start vLLM with --max-lora-rank 512")]
    [InlineData(513, RuleSeverity.Error, "above 512, the largest --max-lora-rank vLLM accepts (1, 8, 16, 32, 64, 128, 256, 320, 512)")]
    public void VLLM_rank_needs_max_lora_rank_and_stops_at_512(int rank, RuleSeverity? severity, string? text)
    {
        var findings = ServeRules.Check(Facts(new LoraConfig { Rank = rank, Alpha = 2 * rank }), ServeTargets.Vllm, "A");
        if (severity is null) { Assert.Empty(findings); return; }
        var f = Assert.Single(findings);
        Assert.Equal(("LORA4001", severity.Value, "Rank"), (f.Id, f.Severity, f.Property));
        Assert.Contains(text!, f.Message);
        Assert.Equal(severity == RuleSeverity.Error ? ServeVerdict.Refused : ServeVerdict.LoadsWithWarnings, ServeRules.Verdict(ServeTargets.Vllm, findings));
    }

    [Fact]
    public void Bias_is_refused_by_vLLM_whatever_the_model_and_by_llama_cpp_only_when_bias_vectors_are_saved()
    {
        // Llama has no bias vectors: PEFT saves none, so llama.cpp's converter and TGI see nothing; vLLM reads the config key.
        var none = Facts(new LoraConfig { Bias = LoraBias.All });
        Assert.Equal(new[] { "LORA4004" }, Ids(none));
        Assert.Empty(none.BiasTensors!);

        // Qwen2-style q/k/v biases: "lora_only" saves those of adapted layers, "all" every one.
        var qwen = ModelShape.FromLlama("Qwen", Dims(qkvBias: true));
        var loraOnly = Facts(new LoraConfig { Bias = LoraBias.LoraOnly, TargetModules = new[] { "q_proj", "o_proj" } }, qwen);
        Assert.Equal(new[] { "model.layers.0.self_attn.q_proj.bias", "model.layers.1.self_attn.q_proj.bias", "model.layers.2.self_attn.q_proj.bias" }, loraOnly.BiasTensors);
        Assert.Equal(new[] { "LORA4004", "LORA4013", "LORA4023" }, Ids(loraOnly));
        var all = Facts(new LoraConfig { Bias = LoraBias.All, TargetModules = new[] { "o_proj" } }, qwen);
        Assert.Equal(9, all.BiasTensors!.Count);
        var llamaCpp = Assert.Single(ServeRules.Check(all, ServeTargets.LlamaCpp, "A"));
        Assert.Equal("A: bias \"all\" saves 9 bias vectors (model.layers.0.self_attn.q_proj.bias, model.layers.1.self_attn.q_proj.bias, model.layers.2.self_attn.q_proj.bias and 6 more) " +
            "and llama.cpp's convert_lora_to_gguf.py stops at them (\"Not a lora_A or lora_B tensor\"); train with Bias = None, or merge the adapter and convert the merged model", llamaCpp.Message);
    }

    [Fact]
    public void RsLoRA_converted_for_llama_cpp_is_scaled_by_alpha_over_r()
    {
        var f = Assert.Single(ServeRules.Check(Facts(new LoraConfig { Rank = 16, Alpha = 8, UseRsLora = true }), ServeTargets.All, "A"));
        Assert.Equal(("LORA4014", RuleSeverity.Warning, "UseRsLora"), (f.Id, f.Severity, f.Property));
        // PEFT: 8/√16 = 2; llama.cpp: 8/16 = 0.5, four times weaker; alpha·√r = 32 gives 32/16 = 2.
        Assert.Contains("is applied 4× too weakly; write alpha·√r = 32 as adapter.lora.alpha", f.Message);
    }

    [Fact]
    public void LoRA_on_a_tied_head_is_refused_by_llama_cpp_only()
    {
        var tied = ModelShape.FromLlama("Tied", Dims(tied: true));
        var f = Assert.Single(ServeRules.Check(Facts(new LoraConfig { TargetModules = new[] { "q_proj", "lm_head" } }, tied), ServeTargets.All, "A"));
        Assert.Equal(("LORA4016", RuleSeverity.Error, "TargetModules", "lm_head"), (f.Id, f.Severity, f.Property, f.Argument));
        Assert.Empty(ServeRules.Check(Facts(new LoraConfig { TargetModules = new[] { "q_proj", "lm_head" } }), ServeTargets.All, "A"));
    }

    [Fact]
    public void TGI_ignores_LoRA_outside_the_decoder_projections()
    {
        var custom = ModelShape.Custom("Mlp", new[] { new LinearLayer("encoder.{i}.fc1", 8, 16, 2), new LinearLayer("head", 16, 4) }, 0);
        var f = Assert.Single(ServeRules.Check(Facts(new LoraConfig { TargetModules = new[] { "fc1" } }, custom), ServeTargets.All, "A"));
        Assert.Equal(("LORA4025", RuleSeverity.Warning, "encoder.0.fc1"), (f.Id, f.Severity, f.Argument));
        Assert.Contains("so the LoRA on encoder.N.fc1 is ignored", f.Message);
        Assert.Empty(ServeRules.Check(Facts(new LoraConfig { TargetModules = new[] { LoraConfig.AllLinear } }), ServeTargets.Tgi, "A"));
    }

    [Fact]
    public void DoRA_and_modules_to_save_are_refused_by_vLLM_and_llama_cpp_and_ignored_by_TGI()
    {
        var f = Facts(new LoraConfig()) with { UseDora = true, ModulesToSave = new[] { "lm_head" } };
        var findings = ServeRules.Check(f, ServeTargets.All, "A");
        Assert.Equal(new[] { "LORA4002", "LORA4003", "LORA4011", "LORA4012", "LORA4021", "LORA4022" }, findings.Select(x => x.Id).ToArray());
        Assert.Equal(ServeVerdict.Refused, ServeRules.Verdict(ServeTargets.Vllm, findings));
        Assert.Equal(ServeVerdict.Refused, ServeRules.Verdict(ServeTargets.LlamaCpp, findings));
        Assert.Equal(ServeVerdict.LoadsWithWarnings, ServeRules.Verdict(ServeTargets.Tgi, findings));
        Assert.Equal(new[] { "LORA4002", "LORA4003" }, Ids(f, ServeTargets.Vllm));
    }

    [Fact]
    public void Per_module_patterns_are_lost_by_TGI_and_alpha_patterns_by_llama_cpp()
    {
        var rank = Facts(new LoraConfig()) with { HasRankPattern = true };
        Assert.Equal(new[] { "LORA4024" }, Ids(rank));
        var alpha = Facts(new LoraConfig()) with { HasAlphaPattern = true };
        Assert.Equal(new[] { "LORA4015", "LORA4024" }, Ids(alpha));
    }

    [Fact]
    public void Every_rule_has_a_LORA40xx_id_of_its_own_and_a_DiagnosticIds_constant()
    {
        var ids = ServeRules.All.Select(r => r.Id).ToArray();
        Assert.Equal(ids.Length, ids.Distinct().Count());
        Assert.All(ids, id => Assert.Matches("^LORA40[0-9]{2}$", id));
        var constants = typeof(DiagnosticIds).GetFields(BindingFlags.Public | BindingFlags.Static).Select(f => (string)f.GetValue(null)!).ToArray();
        Assert.Equal(constants.Length, constants.Distinct().Count());
        Assert.Equal(ids.OrderBy(x => x), constants.Where(c => c.StartsWith("LORA40", StringComparison.Ordinal)).OrderBy(x => x));
        Assert.All(ServeRules.All, r => Assert.Single(ServeTargetNames.Each(r.Server)));
    }

    [Fact]
    public void Every_rule_page_cites_the_source_files_the_rule_was_read_from()
    {
        var root = RepoRoot();
        var serving = File.ReadAllText(Path.Combine(root, "docs", "serving.md"));
        foreach (var rule in ServeRules.All)
        {
            var page = Path.Combine(root, "docs", "rules", rule.Id + ".md");
            Assert.True(File.Exists(page), $"docs/rules/{rule.Id}.md is missing");
            var text = File.ReadAllText(page);
            Assert.StartsWith($"# {rule.Id}: ", text);
            foreach (var s in rule.Sources)
            {
                Assert.True(text.Contains($"https://github.com/{s.Repository}/blob/{s.Commit}/{s.Path}", StringComparison.Ordinal),
                    $"docs/rules/{rule.Id}.md does not link {s.Repository}/{s.Path} at {s.Commit}");
            }
            Assert.Contains($"[{rule.Id}](rules/{rule.Id}.md)", serving);
        }
    }

    private static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Toolchain.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("Toolchain.sln not found above the test folder");
    }
}
