using System.Linq;
using LoraKit.Memory;
using LoraKit.Models;
using Xunit;

namespace LoraKit.Core.Tests;

/// <summary>
/// Gemma 2 and Phi-3 as Core knows them: the published configs' traits, module names, LoRA counts and suggestions,
/// the keys each family honours or refuses (transformers 4.47's Gemma2Config / Phi3Config), and the presets.
/// </summary>
public class FamilyConfigTests
{
    private const string Minimal = """
        { "model_type": "TYPE", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 4,
          "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 100 }
        """;

    private static LlamaDimensions Parse(string type, string extra = "") =>
        HfConfig.Parse(Minimal.Replace("TYPE", type).Replace("\"vocab_size\": 100", "\"vocab_size\": 100" + (extra.Length > 0 ? ", " + extra : "")), "m/config.json");

    private static ModelDescriptionException Refused(string type, string extra) => Assert.Throws<ModelDescriptionException>(() => Parse(type, extra));

    [Fact]
    public void Gemma2_reads_its_published_config()
    {
        var d = HfConfig.Load(TestFiles.Config("gemma-2-2b"));
        Assert.Equal("gemma2", d.ModelType);
        Assert.True(d.TieWordEmbeddings); // absent from the file: Gemma2Config's default
        Assert.Equal(256, d.EffectiveHeadDim);
        Assert.Equal(ModelFamily.GeluTanh, d.HiddenActivation);
        Assert.Equal((256.0, 50.0, 30.0), (d.QueryPreAttentionScalar, d.AttentionLogitSoftcap, d.FinalLogitSoftcap));
        // transformers 4.47: layers 0, 2, 4, … slide over 4096 keys, the odd ones attend fully.
        Assert.Equal(new[] { 4096, 0, 4096, 0 }, Enumerable.Range(0, 4).Select(d.AttentionWindow));
        Assert.Equal(8192, MemoryEstimator.AttendedKeys(d, 1, 8192));
        Assert.Equal(4096, MemoryEstimator.AttendedKeys(d, 2, 8192));
        var shape = HfConfig.LoadShape(TestFiles.Config("gemma-2-2b"));
        Assert.Equal(LoraArchitecture.Gemma2, shape.Architecture);
        Assert.Equal(new[] { "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "lm_head" }, shape.LinearLeafNames);
    }

    [Fact]
    public void Phi3_reads_its_published_configs_with_fused_modules()
    {
        var mini = HfConfig.Load(TestFiles.Config("phi-3-mini-4k-instruct"));
        Assert.Equal((2047, 0, 96), (mini.AttentionWindow(0), mini.FirstSlidingLayer, mini.EffectiveHeadDim));
        Assert.Equal(2047, mini.AttentionWindow(31));
        Assert.Null(mini.RopeScaling);
        var longContext = HfConfig.Load(TestFiles.Config("phi-3.5-mini-instruct"));
        Assert.Equal(RopeType.LongRope, longContext.RopeScaling!.Type);
        Assert.Equal(32.0, longContext.RopeScaling.Factor); // 131072 / 4096
        Assert.Equal(4096, RopeMath.OriginalContext(longContext));
        Assert.Equal(131072, RopeMath.LongestSequence(longContext));
        var shape = HfConfig.LoadShape(TestFiles.Config("phi-3-mini-4k-instruct"));
        Assert.Equal(LoraArchitecture.Phi3, shape.Architecture);
        Assert.Equal(new[] { "qkv_proj", "o_proj", "gate_up_proj", "down_proj", "lm_head" }, shape.LinearLeafNames);
        // all-linear at r 8: qkv 8·(3072 + 9216), o 8·(3072 + 3072), gate_up 8·(3072 + 16384), down 8·(8192 + 3072), 32 layers.
        var all = ParameterCount.Compute(shape, new LoraConfig { Rank = 8, TargetModules = new[] { LoraConfig.AllLinear } });
        Assert.Equal(32L * 8 * (3072 + 9216 + 3072 + 3072 + 3072 + 16384 + 8192 + 3072), all.LoraParameters);
        Assert.Equal(new[] { "qkv_proj", "o_proj", "gate_up_proj", "down_proj" }, TargetMatcher.Match(shape, new[] { LoraConfig.AllLinear }).Modules.Select(m => m.Layer.LeafName).Distinct());
    }

    [Fact]
    public void Presets_hold_the_published_counts()
    {
        Assert.Equal(2_614_341_888L, ModelPresets.GetShape("gemma2-2b").TotalParameters);
        Assert.Equal(9_241_705_984L, ModelPresets.GetShape("gemma2-9b").TotalParameters);
        foreach (var phi in new[] { "phi3-mini-4k", "phi3-mini-128k", "phi3.5-mini" })
            Assert.Equal(3_821_079_552L, ModelPresets.GetShape(phi).TotalParameters);
        // The presets equal what the published files give.
        Assert.Equal(HfConfig.Load(TestFiles.Config("gemma-2-2b")).AttentionWindow(0), ModelPresets.GetShape("gemma2-2b").Llama!.AttentionWindow(0));
    }

    [Fact]
    public void Gemma2_memory_counts_its_eager_soft_capped_attention_and_logits()
    {
        var gemma = HfConfig.LoadShape(TestFiles.Config("gemma-2-2b"));
        var config = new LoraConfig { Rank = 8, TargetModules = new[] { "q_proj", "v_proj" } };
        var options = new MemoryOptions { SequenceLength = 1024, FusedAttention = true };
        // LoraKit runs Gemma 2's attention eagerly (soft-capped scores): a fused kernel saves nothing there.
        Assert.Equal(MemoryEstimator.ActivationBytes(gemma, config, options with { FusedAttention = false }), MemoryEstimator.ActivationBytes(gemma, config, options));
        // The eager path masks the window rather than cutting it: every layer holds all s keys. Per score it keeps the
        // tanh's output only when soft-capped (one compute-dtype value, bf16 here), besides softmax's float32 output and
        // its bf16 copy, which a model without capping keeps too.
        var plain = ModelShape.FromLlama("no-cap", gemma.Llama! with { AttentionLogitSoftcap = 0, FinalLogitSoftcap = 0 });
        long scores = 26L * 8 * 1024 * 1024;
        Assert.Equal(2 * scores, MemoryEstimator.ActivationBytes(gemma, config, options) - MemoryEstimator.ActivationBytes(plain, config, options));
        // The final soft-capping keeps its input and output in the compute dtype (2 × 2 bytes more per logit in bf16) in
        // each chunk of the chunked loss, and over the whole [b, s, V] without it.
        long vocab = gemma.Llama!.VocabSize;
        var chunkTokens = System.Math.Min(1024L, MemoryEstimator.LossChunkTokens(vocab));
        Assert.Equal(chunkTokens * vocab * 4, MemoryEstimator.LogitBytes(gemma, options) - MemoryEstimator.LogitBytes(plain, options));
        var whole = options with { ChunkedLoss = false };
        Assert.Equal(1024L * vocab * 4, MemoryEstimator.LogitBytes(gemma, whole) - MemoryEstimator.LogitBytes(plain, whole));
        Assert.Equal(1024L * vocab * 8, MemoryEstimator.LogitBytes(gemma, whole with { ActivationBytes = 4 }) - MemoryEstimator.LogitBytes(plain, whole with { ActivationBytes = 4 }));
    }

    [Theory]
    [InlineData("q_proj", "qkv_proj")]
    [InlineData("v_proj", "qkv_proj")]
    [InlineData("up_proj", "gate_up_proj")]
    [InlineData("gate_proj", "gate_up_proj")]
    [InlineData("down_prj", "down_proj")]
    public void A_separate_projection_name_on_phi3_suggests_the_fused_module(string target, string suggestion)
    {
        var shape = HfConfig.LoadShape(TestFiles.Config("phi-3-mini-4k-instruct"));
        Assert.Empty(TargetMatcher.Match(shape, new[] { target }).Modules);
        Assert.Equal(suggestion, TargetMatcher.SuggestClosest(shape, target));
        // On Gemma 2 the same names exist.
        Assert.Equal("q_proj", TargetMatcher.SuggestClosest(HfConfig.LoadShape(TestFiles.Config("gemma-2-2b")), "q_prj"));
    }

    [Fact]
    public void Family_defaults_follow_transformers_4_47_configs()
    {
        var gemma = HfConfig.Parse("""{ "model_type": "gemma2", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 100 }""", "g");
        Assert.Equal((4, 256, 8192, 4096, true), (gemma.KeyValueHeads, gemma.HeadDim, gemma.MaxPositionEmbeddings, gemma.SlidingWindow, gemma.TieWordEmbeddings));
        Assert.Equal((256.0, 50.0, 30.0), (gemma.QueryPreAttentionScalar, gemma.AttentionLogitSoftcap, gemma.FinalLogitSoftcap));
        var uncapped = Parse("gemma2", "\"attn_logit_softcapping\": null, \"final_logit_softcapping\": null");
        Assert.Equal((0.0, 0.0), (uncapped.AttentionLogitSoftcap, uncapped.FinalLogitSoftcap));
        var phi = Parse("phi3");
        Assert.Equal((4096, 0, 1e-5, false), (phi.MaxPositionEmbeddings, phi.SlidingWindow, phi.RmsNormEps, phi.TieWordEmbeddings));
        // Phi3Config._rope_scaling_adjustment: the legacy "su" (and "yarn") mean longrope; original context defaults to 4096.
        var factors = "[" + string.Join(", ", Enumerable.Repeat("1.0", 8)) + "]";
        var su = Parse("phi3", $"\"max_position_embeddings\": 16384, \"rope_scaling\": {{\"type\": \"su\", \"short_factor\": {factors}, \"long_factor\": {factors}}}");
        Assert.Equal((RopeType.LongRope, 4.0, 4096), (su.RopeScaling!.Type, su.RopeScaling.Factor, RopeMath.OriginalContext(su)));
        // Partial rotary: the first head_dim · factor features turn.
        var partial = Parse("phi3", $"\"partial_rotary_factor\": 0.5");
        Assert.Equal(8, partial.RotaryDim);
    }

    [Theory]
    [InlineData("gemma2", "\"rope_scaling\": {\"rope_type\": \"linear\", \"factor\": 2.0}", "'rope_scaling' is set, but transformers 4.47's Gemma 2 ignores RoPE scaling")]
    [InlineData("gemma2", "\"sliding_window\": null", "'sliding_window' is null")]
    [InlineData("gemma2", "\"layer_types\": [\"full_attention\", \"sliding_attention\", \"full_attention\", \"sliding_attention\"]", "'layer_types' differs from Gemma 2's layout")]
    [InlineData("gemma2", "\"hidden_activation\": \"relu\"", "'hidden_activation' is \"relu\", an activation LoraKit does not implement")]
    [InlineData("gemma2", "\"use_bidirectional_attention\": true", "'use_bidirectional_attention' is true")]
    [InlineData("phi3", "\"rope_scaling\": {\"rope_type\": \"linear\", \"factor\": 2.0}", "transformers 4.47's Phi-3 accepts only longrope")]
    [InlineData("phi3", "\"resid_pdrop\": 0.1", "'resid_pdrop' is 0.1")]
    [InlineData("phi3", "\"embd_pdrop\": 0.1", "'embd_pdrop' is 0.1")]
    [InlineData("phi3", "\"head_dim\": 32", "'head_dim' is 32, but transformers 4.47's Phi-3 uses hidden_size / num_attention_heads = 16")]
    [InlineData("phi3", "\"attention_bias\": true", "'attention_bias' is true, but transformers' phi3 attention has fixed biases")]
    [InlineData("phi3", "\"final_logit_softcapping\": 30.0", "'final_logit_softcapping' is a Gemma 2 key that transformers' phi3 does not read")]
    [InlineData("qwen2", "\"hidden_activation\": \"silu\"", "'hidden_activation' is \"silu\", but transformers' qwen2 reads hidden_act")]
    [InlineData("llama", "\"partial_rotary_factor\": 0.5", "'partial_rotary_factor' is 0.5")]
    public void What_a_family_does_not_compute_is_refused_naming_the_key(string type, string extra, string message)
    {
        var e = Refused(type, extra);
        Assert.Equal("LORA2004", e.Id);
        Assert.Contains("m/config.json", e.Message);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void Every_key_of_the_family_configs_is_known_and_none_is_refused()
    {
        // auto_map names Phi-3's own code, which transformers replaces by its built-in class: accepted for phi3 only.
        Assert.Equal("phi3", HfConfig.Load(TestFiles.Config("phi-3.5-mini-instruct")).ModelType);
        Assert.Equal(4096, Parse("gemma2", "\"sliding_window_size\": 4096, \"cache_implementation\": \"hybrid\", \"hidden_act\": \"gelu\"").SlidingWindow);
    }

    [Theory]
    [InlineData("\"rope_scaling\": {\"rope_type\": \"linear\", \"factor\": 2.0}, \"max_position_embeddings\": 2048", 4096)]
    [InlineData("\"rope_scaling\": {\"rope_type\": \"dynamic\", \"factor\": 4.0}, \"max_position_embeddings\": 32", 128)]
    [InlineData("\"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4.0}, \"max_position_embeddings\": 32", 128)]
    [InlineData("\"rope_scaling\": {\"type\": \"yarn\", \"factor\": 4.0, \"original_max_position_embeddings\": 32768}, \"max_position_embeddings\": 32768", 131072)]
    [InlineData("\"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4.0, \"original_max_position_embeddings\": 8192}, \"max_position_embeddings\": 32768", 32768)]
    [InlineData("\"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0, \"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 8192}, \"max_position_embeddings\": 131072", 131072)]
    [InlineData("\"max_position_embeddings\": 512", 512)]
    public void The_longest_sequence_is_the_context_the_rope_scaling_runs(string extra, int longest)
    {
        Assert.Equal(longest, RopeMath.LongestSequence(Parse("qwen2", extra)));
    }
}
