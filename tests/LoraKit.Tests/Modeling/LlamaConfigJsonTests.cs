using System;
using LoraKit.Modeling;
using LoraKit.Models;
using TorchSharp;
using Xunit;

namespace LoraKit.Tests.Modeling;

public class LlamaConfigJsonTests
{
    [Theory]
    [MemberData(nameof(TinyLlamas.Variants), MemberType = typeof(TinyLlamas))]
    public void Config_json_round_trips_through_HfConfig(string variant)
    {
        var d = TinyLlamas.Get(variant);
        if (d.ModelType != "llama") d = d with { KeyValueHeads = d.EffectiveKeyValueHeads, HeadDim = d.EffectiveHeadDim };
        var json = LlamaForCausalLM.ToHfConfigJson(d);
        Assert.Equal(d, HfConfig.Parse(json, "x"));
    }

    [Fact]
    public void Config_json_has_the_keys_a_transformers_loader_reads()
    {
        var d = TinyLlamas.UntiedGqa with { RmsNormEps = 1e-6, RopeTheta = 500000.0, HeadDim = 8 };
        var json = LlamaForCausalLM.ToHfConfigJson(d, torch.ScalarType.BFloat16);
        foreach (var key in new[]
                 {
                     "\"architectures\"", "\"LlamaForCausalLM\"", "\"model_type\": \"llama\"", "\"hidden_size\": 32", "\"intermediate_size\": 48",
                     "\"num_hidden_layers\": 2", "\"num_attention_heads\": 4", "\"num_key_value_heads\": 2", "\"head_dim\": 8",
                     "\"vocab_size\": 50", "\"rms_norm_eps\"", "\"rope_theta\": 500000", "\"max_position_embeddings\": 128",
                     "\"tie_word_embeddings\": false", "\"attention_bias\": false", "\"mlp_bias\": false", "\"hidden_act\": \"silu\"",
                     "\"torch_dtype\": \"bfloat16\"",
                 })
            Assert.Contains(key, json);
        Assert.Equal(d, HfConfig.Parse(json, "x"));
    }

    [Fact]
    public void Derived_heads_are_omitted_for_llama_and_made_explicit_for_qwen3()
    {
        var llama = TinyLlamas.Tied;
        var json = LlamaForCausalLM.ToHfConfigJson(llama);
        Assert.DoesNotContain("num_key_value_heads", json);
        Assert.DoesNotContain("head_dim", json);
        Assert.Equal(llama, HfConfig.Parse(json, "x"));

        var qwen3 = TinyLlamas.Qwen3 with { HeadDim = 0, KeyValueHeads = 0 };
        var back = HfConfig.Parse(LlamaForCausalLM.ToHfConfigJson(qwen3), "x");
        Assert.Equal(qwen3 with { HeadDim = 8, KeyValueHeads = 4 }, back);
    }

    [Fact]
    public void Attention_bias_round_trips_for_llama()
    {
        var d = TinyLlamas.UntiedGqa with { QkvBias = true, OutputProjectionBias = true, MlpBias = true, RmsNormEps = 1.5e-5 };
        Assert.Equal(d, HfConfig.Parse(LlamaForCausalLM.ToHfConfigJson(d), "x"));
    }

    [Fact]
    public void Dimensions_a_config_cannot_express_are_refused()
    {
        var ex = Assert.Throws<ArgumentException>(() => LlamaForCausalLM.ToHfConfigJson(TinyLlamas.UntiedGqa with { QkvBias = true }));
        Assert.Contains("attention_bias", ex.Message);
        Assert.Throws<ArgumentException>(() => LlamaForCausalLM.ToHfConfigJson(TinyLlamas.Qwen3 with { QkNorm = false }));
        Assert.Throws<ArgumentException>(() => LlamaForCausalLM.ToHfConfigJson(TinyLlamas.UntiedGqa with { QkNorm = true }));
    }
}
