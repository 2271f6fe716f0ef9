using System;
using System.IO;
using System.Linq;
using LoraKit.Lora;
using LoraKit.Models;
using LoraKit.Modeling;
using LoraKit.Peft;
using LoraKit.Serving;
using Xunit;

namespace LoraKit.Cli.Tests;

/// <summary>
/// `lorakit inspect --serve-targets`: the serving lint (LORA40xx) on saved adapters — PEFT's own (hf-reference, the GPT-2
/// SEQ_CLS adapter), adapters in PEFT's DoRA and modules_to_save layout (Fixtures/serving/PROVENANCE.md), and LoraKit's.
/// </summary>
public class InspectServeTargetsTests
{
    private const string All = "vllm;llamacpp;tgi";

    private static string Fixture(params string[] path) => Path.Combine(new[] { AppContext.BaseDirectory, "Fixtures" }.Concat(path).ToArray());

    private static string[] Ids(string output, string prefix) =>
        output.Split('\n').Where(l => l.StartsWith(prefix + " LORA40", StringComparison.Ordinal)).Select(l => l.Substring(prefix.Length + 1, 8)).ToArray();

    [Fact]
    public void PEFTs_plain_adapters_load_everywhere()
    {
        var llama = CliRunner.Run("inspect", Fixture("hf-reference", "peft-llama-r4"), "--serve-targets", All, "--config", Fixture("hf-reference", "tiny-llama", "config.json"));
        Assert.True(llama.ExitCode == 0, llama.Err);
        Assert.Contains("serving     vllm loads it; llamacpp loads it; tgi loads it\n", llama.Out);
        Assert.Empty(Ids(llama.Out, "error").Concat(Ids(llama.Out, "warning")));

        // Qwen2: q/k/v biases (not trained: bias "none") and a tied head (not targeted).
        var qwen = CliRunner.Run("inspect", Fixture("hf-reference", "peft-qwen2-r4"), "--serve-targets", All, "--config", Fixture("hf-reference", "tiny-qwen2", "config.json"));
        Assert.True(qwen.ExitCode == 0, qwen.Err);
        Assert.Contains("serving     vllm loads it; llamacpp loads it; tgi loads it\n", qwen.Out);
    }

    [Fact]
    public void A_head_PEFT_saved_whole_without_listing_it_is_found_in_the_weights()
    {
        // The real GPT-2 SEQ_CLS adapter: modules_to_save is null in its config, but score.weight [6, 768] is in its weights.
        var r = CliRunner.Run("inspect", Fixture("peft-gpt2-seqcls"), "--serve-targets", All);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("serving     vllm refuses it; llamacpp refuses it; tgi loads it, with warnings\n", r.Out);
        Assert.Equal(new[] { "LORA4003", "LORA4012" }, Ids(r.Out, "error"));
        Assert.Equal(new[] { "LORA4022", "LORA4025" }, Ids(r.Out, "warning").Where(id => id.StartsWith("LORA40", StringComparison.Ordinal)));
        Assert.Contains("error LORA4003: peft-gpt2-seqcls: vLLM refuses adapters with modules saved whole (score; \"vLLM only supports modules_to_save being None.\")", r.Out);
        Assert.Contains("so the LoRA on transformer.h.N.attn.c_attn is ignored", r.Out);
    }

    [Fact]
    public void DoRA_is_refused_by_vLLM_and_llama_cpp_and_served_without_magnitudes_by_TGI()
    {
        var r = CliRunner.Run("inspect", Fixture("serving", "peft-llama-r4-dora"), "--serve-targets", All);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("serving     vllm refuses it; llamacpp refuses it; tgi loads it, with warnings\n", r.Out);
        Assert.Equal(new[] { "LORA4002", "LORA4011" }, Ids(r.Out, "error"));
        Assert.Equal(new[] { "LORA4021" }, Ids(r.Out, "warning"));

        // The magnitude tensors alone say DoRA, whatever the config says.
        using var adapter = PeftAdapter.Load(Fixture("serving", "peft-llama-r4-dora"));
        adapter.Config.UseDora = false;
        Assert.True(PeftServeFacts.Of(adapter).UseDora);
        Assert.Empty(PeftServeFacts.Of(adapter).ModulesToSave);
    }

    [Fact]
    public void Modules_to_save_are_refused_by_vLLM_and_llama_cpp_and_ignored_by_TGI()
    {
        var r = CliRunner.Run("inspect", Fixture("serving", "peft-llama-r4-lm-head-saved"), "--serve-targets", "tgi,LlamaCpp");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("serving     llamacpp refuses it; tgi loads it, with warnings\n", r.Out);
        Assert.Equal(new[] { "LORA4012" }, Ids(r.Out, "error"));
        Assert.Equal(new[] { "LORA4022" }, Ids(r.Out, "warning"));
        Assert.Contains("modules saved whole (lm_head; ", r.Out);
    }

    [Fact]
    public void What_LoraKit_saves_is_what_the_compile_time_rules_predicted()
    {
        // A Qwen2-style model (q/k/v biases) trained with bias "lora_only" and rsLoRA at rank 16: the analyzers see
        // AdapterServeFacts.FromConfig; the saved folder must give the same bias vectors and rank.
        var dims = new LlamaDimensions
        {
            ModelType = "qwen2", HiddenSize = 32, IntermediateSize = 48, Layers = 2, AttentionHeads = 4, KeyValueHeads = 2, VocabSize = 50, QkvBias = true,
        };
        var config = new LoraConfig { Rank = 16, Alpha = 8, UseRsLora = true, Bias = LoraBias.LoraOnly, TargetModules = new[] { "q_proj", "o_proj" } };
        var folder = Path.Combine(Path.GetTempPath(), "lorakit-cli-tests", Guid.NewGuid().ToString("N"));
        var model = LlamaForCausalLM.Create(dims, seed: 1);
        LoraInjector.Inject(model, config);
        LoraAdapterFiles.Save(model, "default", folder);

        var predicted = AdapterServeFacts.FromConfig(config, ModelShape.FromLlama("Tiny", dims));
        using (var adapter = PeftAdapter.Load(folder))
        {
            var saved = PeftServeFacts.Of(adapter);
            Assert.Equal(predicted.BiasTensors, saved.BiasTensors);
            Assert.Equal(new[] { "model.layers.0.self_attn.q_proj.bias", "model.layers.1.self_attn.q_proj.bias" }, saved.BiasTensors);
            Assert.Equal(predicted.AdaptedModules.OrderBy(x => x), saved.AdaptedModules.OrderBy(x => x));
            Assert.Equal((predicted.Rank, predicted.UseRsLora, predicted.Bias), (saved.Rank, saved.UseRsLora, saved.Bias));
            Assert.Empty(saved.ModulesToSave);
            Assert.Equal(ServeRules.Check(predicted, ServeTargets.All, "x").Select(f => f.Message), ServeRules.Check(saved, ServeTargets.All, "x").Select(f => f.Message));
        }

        var r = CliRunner.Run("inspect", folder, "--serve-targets", All);
        Assert.Equal(1, r.ExitCode);
        Assert.Equal(new[] { "LORA4004", "LORA4013" }, Ids(r.Out, "error"));
        Assert.Equal(new[] { "LORA4014", "LORA4023" }, Ids(r.Out, "warning"));
    }

    [Fact]
    public void An_unknown_server_is_bad_input_and_no_option_adds_nothing()
    {
        var bad = CliRunner.Run("inspect", Fixture("hf-reference", "peft-llama-r4"), "--serve-targets", "vllm;sglang");
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("error: --serve-targets vllm;sglang: 'sglang' is not a server LoraKit knows; use vllm, llamacpp, tgi, separated by ';'", bad.Err);

        var plain = CliRunner.Run("inspect", Fixture("serving", "peft-llama-r4-dora"));
        Assert.Equal(0, plain.ExitCode);
        Assert.DoesNotContain("\nserving ", plain.Out);
        Assert.DoesNotContain("LORA40", plain.Out);
    }
}
