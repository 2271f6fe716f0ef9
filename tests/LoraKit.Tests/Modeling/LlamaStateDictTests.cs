using System;
using System.Collections.Generic;
using System.Linq;
using LoraKit.Modeling;
using LoraKit.Models;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace LoraKit.Tests.Modeling;

public class LlamaStateDictTests
{
    [Theory]
    [MemberData(nameof(TinyLlamas.Variants), MemberType = typeof(TinyLlamas))]
    public void State_dict_round_trip_gives_identical_logits(string variant)
    {
        var d = TinyLlamas.Get(variant);
        using var source = LlamaForCausalLM.Create(d, seed: 1);
        using var target = LlamaForCausalLM.Create(d, seed: 2);
        var ids = TinyLlamas.Ids(d.VocabSize, 3, 2, 6);
        using var noGrad = torch.no_grad();
        Assert.True(TinyLlamas.MaxAbsDiff(source.forward(ids), target.forward(ids)) > 1e-4);

        target.LoadHfStateDict(source.HfStateDict());
        Assert.True(TinyLlamas.Identical(source.forward(ids), target.forward(ids)));
    }

    private static Dictionary<string, Tensor> Weights(LlamaForCausalLM m) => m.HfStateDict().ToDictionary(kv => kv.Key, kv => kv.Value);

    [Fact]
    public void Missing_weight_is_named_and_nothing_is_copied()
    {
        using var source = LlamaForCausalLM.Create(TinyLlamas.UntiedGqa, seed: 1);
        using var target = LlamaForCausalLM.Create(TinyLlamas.UntiedGqa, seed: 2);
        var before = TinyLlamas.Floats(target.model.embed_tokens.weight!);
        var weights = Weights(source);
        weights.Remove("model.layers.1.post_attention_layernorm.weight");
        weights.Remove("lm_head.weight");

        var ex = Assert.Throws<HfStateDictException>(() => target.LoadHfStateDict(weights));
        Assert.Contains("model.layers.1.post_attention_layernorm.weight", ex.Message);
        Assert.Contains("lm_head.weight", ex.Message);
        Assert.Equal(new[] { "model.layers.1.post_attention_layernorm.weight", "lm_head.weight" }, ex.Missing);
        Assert.Empty(ex.Unexpected);
        Assert.Empty(ex.ShapeMismatches);
        Assert.Equal(before, TinyLlamas.Floats(target.model.embed_tokens.weight!));
    }

    [Fact]
    public void Unexpected_weight_is_named()
    {
        using var m = LlamaForCausalLM.Create(TinyLlamas.Qwen3);
        var weights = Weights(m);
        weights["model.layers.0.self_attn.q_proj.bias"] = torch.zeros(64);
        weights["model.layers.7.mlp.gate_proj.weight"] = torch.zeros(48, 32);
        var ex = Assert.Throws<HfStateDictException>(() => m.LoadHfStateDict(weights));
        Assert.Contains("model.layers.0.self_attn.q_proj.bias", ex.Message);
        Assert.Contains("model.layers.7.mlp.gate_proj.weight", ex.Message);
        Assert.Equal(2, ex.Unexpected.Count);
        Assert.Empty(ex.Missing);
    }

    [Fact]
    public void Shape_mismatch_names_the_tensor_and_both_shapes()
    {
        using var m = LlamaForCausalLM.Create(TinyLlamas.UntiedGqa);
        var weights = Weights(m);
        weights["model.layers.0.self_attn.k_proj.weight"] = torch.zeros(32, 32);
        var ex = Assert.Throws<HfStateDictException>(() => m.LoadHfStateDict(weights));
        Assert.Contains("model.layers.0.self_attn.k_proj.weight expected [16, 32], got [32, 32]", ex.Message);
        var mismatch = Assert.Single(ex.ShapeMismatches);
        Assert.Equal("model.layers.0.self_attn.k_proj.weight", mismatch.Name);
    }

    [Fact]
    public void Loading_converts_dtype_and_ignores_rotary_inv_freq()
    {
        var d = TinyLlamas.UntiedGqa;
        using var source = LlamaForCausalLM.Create(d, seed: 1);
        using var target = LlamaForCausalLM.Create(d, seed: 2);
        var weights = source.HfStateDict().ToDictionary(kv => kv.Key, kv => kv.Value.to(ScalarType.BFloat16));
        weights["model.layers.0.self_attn.rotary_emb.inv_freq"] = torch.ones(4);
        weights["model.rotary_emb.inv_freq"] = torch.ones(4);
        target.LoadHfStateDict(weights);
        var q = target.named_parameters().Single(p => p.name == "model.layers.0.self_attn.q_proj.weight").parameter;
        Assert.Equal(ScalarType.Float32, q.dtype);
        Assert.True(TinyLlamas.Identical(q, weights["model.layers.0.self_attn.q_proj.weight"].to(ScalarType.Float32)));
    }

    [Fact]
    public void Tied_head_shares_the_embedding_weight()
    {
        var d = TinyLlamas.Tied;
        using var m = LlamaForCausalLM.Create(d, seed: 3);
        var head = Assert.IsType<TiedLinear>(m.lm_head);
        Assert.True(TinyLlamas.SharesStorage(head.weight, m.model.embed_tokens.weight!));
        Assert.True(TinyLlamas.SharesStorage(m.model.embed_tokens.weight!, head.weight));
        Assert.DoesNotContain(m.named_parameters(), p => p.name.StartsWith("lm_head", StringComparison.Ordinal));
        Assert.DoesNotContain("lm_head.weight", m.HfStateDict().Keys);

        // Changing the head's weight changes the embedding, and the logits follow the embedding.
        var ids = TinyLlamas.Ids(d.VocabSize, 1, 1, 4);
        using var noGrad = torch.no_grad();
        var before = m.forward(ids).clone();
        head.weight[3].add_(1.0f);
        Assert.Equal(TinyLlamas.Floats(head.weight[3]), TinyLlamas.Floats(m.model.embed_tokens.weight![3]));
        var hidden = m.model.forward(ids);
        Assert.True(TinyLlamas.MaxAbsDiff(m.forward(ids), hidden.matmul(m.model.embed_tokens.weight!.t())) < 1e-6);
        Assert.True(TinyLlamas.MaxAbsDiff(before, m.forward(ids)) > 1e-3);
    }

    [Fact]
    public void Tied_model_survives_a_dtype_change_and_accepts_a_redundant_lm_head_weight()
    {
        var d = TinyLlamas.Tied;
        using var m = LlamaForCausalLM.Create(d, seed: 3);
        var weights = Weights(m);
        m.to(ScalarType.Float64);
        var head = (TiedLinear)m.lm_head;
        Assert.Equal(ScalarType.Float64, m.model.embed_tokens.weight!.dtype);
        Assert.Equal(ScalarType.Float64, head.weight.dtype);
        Assert.True(TinyLlamas.SharesStorage(head.weight, m.model.embed_tokens.weight!));
        Assert.True(m.parameters().All(p => p.dtype == ScalarType.Float64));

        weights["lm_head.weight"] = weights["model.embed_tokens.weight"].clone();
        m.LoadHfStateDict(weights);
        weights["lm_head.weight"] = torch.zeros(3, 3);
        var ex = Assert.Throws<HfStateDictException>(() => m.LoadHfStateDict(weights));
        Assert.Contains("lm_head.weight", ex.Message);
    }

    [Fact]
    public void Same_seed_gives_identical_weights_and_another_seed_different_ones()
    {
        var d = TinyLlamas.Qwen2;
        using var a = LlamaForCausalLM.Create(d, seed: 5);
        using var b = LlamaForCausalLM.Create(d, seed: 5);
        using var c = LlamaForCausalLM.Create(d, seed: 6);
        var wa = a.HfStateDict();
        var wb = b.HfStateDict();
        var wc = c.HfStateDict();
        foreach (var (name, t) in wa)
        {
            Assert.True(TinyLlamas.Identical(t, wb[name]), name);
            var random = !name.EndsWith(".bias", StringComparison.Ordinal) && !name.Contains("norm");
            Assert.Equal(random, !TinyLlamas.Identical(t, wc[name]));
        }
    }

    [Fact]
    public void Initialisation_follows_hugging_face()
    {
        var d = TinyLlamas.Qwen3 with { QkvBias = true, OutputProjectionBias = true, VocabSize = 400 };
        using var m = LlamaForCausalLM.Create(d, seed: 9);
        foreach (var (name, p) in m.named_parameters())
        {
            if (name.EndsWith(".bias", StringComparison.Ordinal)) Assert.True(p.eq(0).all().item<bool>(), name);
            else if (name.EndsWith("norm.weight", StringComparison.Ordinal)) Assert.True(p.eq(1).all().item<bool>(), name);
        }
        var embedding = m.model.embed_tokens.weight!;
        var std = embedding.std().item<float>();
        Assert.InRange(std, 0.019, 0.021);
        Assert.InRange(embedding.mean().item<float>(), -0.002, 0.002);
    }

    [Fact]
    public void Reduced_precision_models_run_and_keep_their_dtype()
    {
        foreach (var dtype in new[] { ScalarType.BFloat16, ScalarType.Float16 })
        {
            var d = TinyLlamas.Qwen3;
            using var m = LlamaForCausalLM.Create(d, dtype: dtype, seed: 1);
            Assert.True(m.parameters().All(p => p.dtype == dtype));
            using var reference = LlamaForCausalLM.Create(d, seed: 1);
            var ids = TinyLlamas.Ids(d.VocabSize, 2, 1, 6);
            using var noGrad = torch.no_grad();
            var logits = m.forward(ids);
            Assert.Equal(dtype, logits.dtype);
            Assert.False(logits.isnan().any().item<bool>());
            // Same seed draws the same float32 numbers, rounded: the logits agree to reduced precision.
            Assert.True(TinyLlamas.MaxAbsDiff(reference.forward(ids), logits) < 0.05, $"{dtype}: {TinyLlamas.MaxAbsDiff(reference.forward(ids), logits)}");
        }
    }

    [Fact]
    public void Model_moves_with_to_and_still_runs()
    {
        var d = TinyLlamas.UntiedGqa;
        using var m = LlamaForCausalLM.Create(d, seed: 1);
        var ids = TinyLlamas.Ids(d.VocabSize, 2, 1, 5);
        Tensor expected;
        using (torch.no_grad()) expected = m.forward(ids).clone();
        m.to(torch.CPU);
        m.to(ScalarType.BFloat16);
        Assert.True(m.parameters().All(p => p.dtype == ScalarType.BFloat16));
        m.to(ScalarType.Float32);
        using var noGrad = torch.no_grad();
        Assert.True(TinyLlamas.MaxAbsDiff(expected, m.forward(ids)) < 0.05);
    }
}
