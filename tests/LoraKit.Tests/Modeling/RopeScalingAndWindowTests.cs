using System;
using System.Linq;
using LoraKit.Modeling;
using LoraKit.Models;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace LoraKit.Tests.Modeling;

/// <summary>
/// The runtime applies config.json's RoPE scaling and sliding window: against a hand-built stack (cos/sin from
/// the formula's frequencies, a mask written element by element), and against consequences of the math that
/// need no reference implementation (linear scaling = positions divided by the factor; a one-layer windowed
/// model at position t depends only on the last W tokens).
/// </summary>
public class RopeScalingAndWindowTests
{
    private static readonly LlamaDimensions Mistral = new()
    {
        ModelType = "mistral", HiddenSize = 32, IntermediateSize = 48, Layers = 2, AttentionHeads = 4, KeyValueHeads = 2,
        VocabSize = 50, HeadDim = 8, RopeTheta = 10000.0, RmsNormEps = 1e-5, MaxPositionEmbeddings = 8,
    };

    /// <summary>[1, 1, s, s]: query i may see key j when j ≤ i and i − j &lt; W (W = 0: no window), written out element by element.</summary>
    private static Tensor ExplicitMask(long seq, int window)
    {
        var allowed = new bool[seq * seq];
        for (var i = 0; i < seq; i++)
            for (var j = 0; j <= i; j++)
                allowed[i * seq + j] = window == 0 || i - j < window;
        return torch.tensor(allowed).view(1, 1, seq, seq);
    }

    /// <summary>The decoder stack run layer by layer with cos/sin computed here from <paramref name="inverseFrequencies"/>.</summary>
    private static Tensor HandStack(LlamaForCausalLM m, Tensor ids, float[] inverseFrequencies, double attentionFactor, Func<int, Tensor?> mask)
    {
        var seq = ids.shape[1];
        var angles = torch.arange(seq, dtype: ScalarType.Float32).view(1, seq, 1) * torch.tensor(inverseFrequencies).view(1, 1, -1);
        var emb = torch.cat(new[] { angles, angles }, dim: -1);
        var cos = emb.cos() * (float)attentionFactor;
        var sin = emb.sin() * (float)attentionFactor;
        var hidden = m.model.embed_tokens.call(ids);
        for (var l = 0; l < m.model.layers.Count; l++)
            hidden = m.model.layers[l].forward(hidden, cos, sin, mask(l));
        return m.lm_head.call(m.model.norm.call(hidden));
    }

    private static void Close(Tensor expected, Tensor actual, double tolerance = 1e-5) =>
        Assert.True(TinyLlamas.MaxAbsDiff(expected, actual) < tolerance, $"max |Δ| = {TinyLlamas.MaxAbsDiff(expected, actual)}");

    [Theory]
    [InlineData("mistral", 3, 0)]   // every layer windowed
    [InlineData("qwen2", 4, 1)]     // Qwen2: layer 0 full, layer 1 windowed (max_window_layers = 1)
    public void Windowed_layers_equal_an_explicit_window_mask(string type, int window, int firstSliding)
    {
        using var _ = torch.NewDisposeScope();
        var d = Mistral with { ModelType = type, QkvBias = type == "qwen2", SlidingWindow = window, FirstSlidingLayer = firstSliding };
        using var m = LlamaForCausalLM.Create(d, seed: 5);
        var ids = TinyLlamas.Ids(d.VocabSize, 9, 2, 11);
        using var noGrad = torch.no_grad();
        var expected = HandStack(m, ids, RopeMath.Default(d.EffectiveHeadDim, d.RopeTheta), 1.0, l => ExplicitMask(11, d.AttentionWindow(l)));
        Close(expected, m.forward(ids));
        // The window really changes the result at this length.
        var full = HandStack(m, ids, RopeMath.Default(d.EffectiveHeadDim, d.RopeTheta), 1.0, _ => ExplicitMask(11, 0));
        Assert.True(TinyLlamas.MaxAbsDiff(full, expected) > 1e-3);
    }

    [Fact]
    public void One_windowed_layer_at_position_t_depends_only_on_the_last_W_tokens()
    {
        using var _ = torch.NewDisposeScope();
        const int window = 4;
        var d = Mistral with { Layers = 1, SlidingWindow = window };
        using var m = LlamaForCausalLM.Create(d, seed: 2);
        var ids = TinyLlamas.Ids(d.VocabSize, 4, 1, 12);
        using var noGrad = torch.no_grad();
        var logits = m.forward(ids);
        // Query t = 10 sees keys 7 … 10: the same tokens alone, at the same positions, give the same logits.
        var tail = ids.narrow(1, 7, window);
        var alone = m.forward(tail, null, torch.arange(7, 11, dtype: ScalarType.Int64).unsqueeze(0));
        Close(logits.narrow(1, 10, 1), alone.narrow(1, window - 1, 1));
    }

    [Fact]
    public void Padding_and_the_window_combine()
    {
        using var _ = torch.NewDisposeScope();
        var d = Mistral with { SlidingWindow = 3 };
        using var m = LlamaForCausalLM.Create(d, seed: 8);
        var ids = TinyLlamas.Ids(d.VocabSize, 6, 1, 12);
        var mask = torch.cat(new[] { torch.ones(1, 9, dtype: ScalarType.Int64), torch.zeros(1, 3, dtype: ScalarType.Int64) }, dim: 1);
        using var noGrad = torch.no_grad();
        // Right padding: the 9 real tokens' logits are those of the 9 tokens alone.
        var padded = m.forward(ids, mask);
        var alone = m.forward(ids.narrow(1, 0, 9));
        Close(alone, padded.narrow(1, 0, 9));
    }

    [Fact]
    public void Linear_factor_2_at_position_2k_equals_the_plain_model_at_position_k()
    {
        using var _ = torch.NewDisposeScope();
        var plain = TinyLlamas.UntiedGqa;
        var scaled = plain with { RopeScaling = new RopeScaling { Type = RopeType.Linear, Factor = 2 } };
        using var a = LlamaForCausalLM.Create(plain, seed: 3);
        using var b = LlamaForCausalLM.Create(scaled, seed: 3);
        var ids = TinyLlamas.Ids(plain.VocabSize, 1, 1, 9);
        using var noGrad = torch.no_grad();
        var k = torch.arange(9, dtype: ScalarType.Int64).unsqueeze(0);
        Close(a.forward(ids, null, k), b.forward(ids, null, k * 2), 1e-6);
        // … and not at the same positions.
        Assert.True(TinyLlamas.MaxAbsDiff(a.forward(ids, null, k), b.forward(ids, null, k)) > 1e-3);
    }

    [Fact]
    public void Yarn_frequencies_and_attention_factor_reach_the_forward_pass()
    {
        using var _ = torch.NewDisposeScope();
        var d = TinyLlamas.UntiedGqa with { MaxPositionEmbeddings = 64, RopeScaling = new RopeScaling { Type = RopeType.Yarn, Factor = 4 } };
        using var m = LlamaForCausalLM.Create(d, seed: 7);
        var ids = TinyLlamas.Ids(d.VocabSize, 2, 1, 10);
        using var noGrad = torch.no_grad();
        var factor = RopeMath.AttentionFactor(d);
        Assert.Equal(0.1 * Math.Log(4) + 1, factor, 12);
        Close(HandStack(m, ids, RopeMath.InverseFrequencies(d, 10), factor, _ => null), m.forward(ids));
        // Without the attention factor the result differs: the factor is applied.
        Assert.True(TinyLlamas.MaxAbsDiff(HandStack(m, ids, RopeMath.InverseFrequencies(d, 10), 1.0, _ => null), m.forward(ids)) > 1e-4);
    }

    [Fact]
    public void Dynamic_ntk_is_recomputed_only_beyond_max_positions()
    {
        using var _ = torch.NewDisposeScope();
        var plainDims = Mistral with { SlidingWindow = 0 };
        var d = plainDims with { RopeScaling = new RopeScaling { Type = RopeType.Dynamic, Factor = 2 } };
        using var plain = LlamaForCausalLM.Create(plainDims, seed: 4);
        using var m = LlamaForCausalLM.Create(d, seed: 4);
        using var noGrad = torch.no_grad();
        var shortIds = TinyLlamas.Ids(d.VocabSize, 3, 1, 8);   // = max_position_embeddings: plain RoPE
        Close(plain.forward(shortIds), m.forward(shortIds), 1e-7);
        var longIds = TinyLlamas.Ids(d.VocabSize, 3, 1, 16);   // beyond: base grows with seq = 16
        Close(HandStack(m, longIds, RopeMath.InverseFrequencies(d, 16), 1.0, _ => null), m.forward(longIds));
        Assert.True(TinyLlamas.MaxAbsDiff(plain.forward(longIds), m.forward(longIds)) > 1e-4);
    }

    [Fact]
    public void Longrope_uses_long_factors_beyond_the_original_context()
    {
        using var _ = torch.NewDisposeScope();
        var half = TinyLlamas.UntiedGqa.EffectiveHeadDim / 2;
        var d = TinyLlamas.UntiedGqa with
        {
            MaxPositionEmbeddings = 32,
            RopeScaling = new RopeScaling
            {
                Type = RopeType.LongRope, Factor = 4, OriginalMaxPositionEmbeddings = 8,
                ShortFactor = Enumerable.Repeat(1.0, half).ToArray(), LongFactor = Enumerable.Range(0, half).Select(i => 1.0 + i).ToArray(),
            },
        };
        using var m = LlamaForCausalLM.Create(d, seed: 6);
        using var noGrad = torch.no_grad();
        var factor = RopeMath.AttentionFactor(d);
        var shortIds = TinyLlamas.Ids(d.VocabSize, 5, 1, 8);
        Close(HandStack(m, shortIds, RopeMath.Default(d.EffectiveHeadDim, d.RopeTheta), factor, _ => null), m.forward(shortIds));
        var longIds = TinyLlamas.Ids(d.VocabSize, 5, 1, 12);
        var longInv = RopeMath.InverseFrequencies(d, 12);
        Assert.Equal(1f / (1f + (half - 1)) * RopeMath.Default(d.EffectiveHeadDim, d.RopeTheta)[half - 1], longInv[half - 1], 6);
        Close(HandStack(m, longIds, longInv, factor, _ => null), m.forward(longIds));
    }

    [Fact]
    public void Attend_mask_with_a_window_keeps_W_keys_and_the_padding()
    {
        using var _ = torch.NewDisposeScope();
        var mask = LlamaModel.AttendMask(null, 6, 2, torch.CPU);
        Assert.True(TinyLlamas.Identical(ExplicitMask(6, 2), mask));
        var padding = torch.tensor(new long[] { 1, 1, 1, 1, 0, 0 }).view(1, 6);
        var withPadding = LlamaModel.AttendMask(padding, 6, 2, torch.CPU);
        Assert.False(withPadding[0, 0, 5, 4].item<bool>()); // a padding key is never seen …
        Assert.True(withPadding[0, 0, 5, 5].item<bool>());  // … except a query's own position (no all-masked row)
        Assert.True(withPadding[0, 0, 3, 2].item<bool>());
        Assert.False(withPadding[0, 0, 3, 1].item<bool>()); // outside the window
    }

    [Fact]
    public void Written_config_json_reads_back_with_its_rope_scaling_and_window()
    {
        var half = TinyLlamas.UntiedGqa.EffectiveHeadDim / 2;
        var cases = new[]
        {
            TinyLlamas.UntiedGqa with { MaxPositionEmbeddings = 1024, RopeScaling = new RopeScaling { Type = RopeType.Llama3, Factor = 8, LowFrequencyFactor = 1, HighFrequencyFactor = 4, OriginalMaxPositionEmbeddings = 128 } },
            TinyLlamas.UntiedGqa with { RopeScaling = new RopeScaling { Type = RopeType.Yarn, Factor = 4, Mscale = 0.7, MscaleAllDim = 1, Truncate = false, AttentionFactor = 1.2 } },
            TinyLlamas.UntiedGqa with { RopeScaling = new RopeScaling { Type = RopeType.Dynamic, Factor = 2 } },
            TinyLlamas.UntiedGqa with { MaxPositionEmbeddings = 512, RopeScaling = new RopeScaling { Type = RopeType.LongRope, Factor = 4, OriginalMaxPositionEmbeddings = 128, ShortFactor = Enumerable.Repeat(1.0, half).ToArray(), LongFactor = Enumerable.Repeat(2.5, half).ToArray() } },
            Mistral with { SlidingWindow = 3 },
            Mistral,
            TinyLlamas.Qwen2 with { HeadDim = 8, SlidingWindow = 16, FirstSlidingLayer = 1 },
        };
        foreach (var d in cases)
            Assert.Equal(d, HfConfig.Parse(LlamaForCausalLM.ToHfConfigJson(d), "x"));
        Assert.Throws<ArgumentException>(() => LlamaForCausalLM.ToHfConfigJson(TinyLlamas.UntiedGqa with { SlidingWindow = 4 }));
    }
}
