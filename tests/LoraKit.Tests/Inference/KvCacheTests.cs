using System;
using LoraKit.Modeling;
using LoraKit.Tests.Modeling;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace LoraKit.Tests.Inference;

/// <summary>Decoding with the cache gives the logits of one full forward pass (the references for the full pass are transformers' in ReferenceGenerationTests).</summary>
public sealed class KvCacheTests
{
    [Theory]
    [InlineData("llama")]
    [InlineData("qwen3")]
    [InlineData("window")]          // every layer a window of 3 keys (Mistral): the cache must drop keys as the full mask does
    [InlineData("window-from-1")]   // full attention in layer 0, the window from layer 1 on (Qwen2's max_window_layers)
    [InlineData("gemma2")]          // window 3 on layers 0 and 2, soft-capped eager attention
    public void Chunked_decoding_with_the_cache_equals_the_full_forward(string kind)
    {
        var dims = kind switch
        {
            "llama" => TinyLlamas.UntiedGqa,
            "qwen3" => TinyLlamas.Qwen3,
            "window" => TinyLlamas.UntiedGqa with { SlidingWindow = 3 },
            "gemma2" => Gemma2,
            _ => TinyLlamas.UntiedGqa with { SlidingWindow = 3, FirstSlidingLayer = 1 },
        };
        using var model = LlamaForCausalLM.Create(dims, seed: 3);
        model.eval();
        using var noGrad = torch.no_grad();
        using var ids = torch.randint(0, dims.VocabSize, new long[] { 1, 12 }, generator: new Generator(5));
        using var full = model.forward(ids);
        using var cache = model.NewCache(capacity: 4); // grows twice on the way
        var offset = 0L;
        // The full forward with a window is itself checked against transformers (TransformersRopeReferenceTests).
        foreach (var chunk in new long[] { 5, 1, 1, 3, 2 })
        {
            using var part = model.forward(ids.narrow(1, offset, chunk), cache);
            Assert.Equal(offset + chunk, cache.Length);
            var diff = (part - full.narrow(1, offset, chunk)).abs().max().item<float>();
            Assert.InRange(diff, 0, 1e-5f);
            offset += chunk;
        }
    }

    private static readonly LoraKit.Models.LlamaDimensions Gemma2 = new()
    {
        ModelType = "gemma2", HiddenSize = 32, IntermediateSize = 48, Layers = 3, AttentionHeads = 4, KeyValueHeads = 2, HeadDim = 8,
        VocabSize = 50, TieWordEmbeddings = true, HiddenActivation = LoraKit.Models.ModelFamily.GeluTanh, QueryPreAttentionScalar = 12,
        AttentionLogitSoftcap = 20, FinalLogitSoftcap = 10, SlidingWindow = 3, AlternatingWindow = true,
    };

    [Fact]
    public void Windowed_layers_keep_only_the_keys_their_window_still_sees()
    {
        using var model = LlamaForCausalLM.Create(Gemma2, seed: 4);
        model.eval();
        using var noGrad = torch.no_grad();
        using var ids = torch.randint(0, Gemma2.VocabSize, new long[] { 1, 40 }, generator: new Generator(6));
        using var full = model.forward(ids);
        using var cache = model.NewCache(capacity: 40);
        using (var prompt = model.forward(ids.narrow(1, 0, 5), cache))
            Assert.InRange((prompt - full.narrow(1, 0, 5)).abs().max().item<float>(), 0, 1e-5f);
        for (var t = 5; t < 40; t++)
        {
            using var step = model.forward(ids.narrow(1, t, 1), cache);
            Assert.InRange((step - full.narrow(1, t, 1)).abs().max().item<float>(), 0, 1e-5f);
            // Window 3: after each step a windowed layer holds at most W − 1 + max(1, W/8) − 1 = 2 positions past the
            // ones it dropped; the global layer 1 holds every position.
            Assert.InRange(cache.Layer(0).Length - cache.Layer(0).Start, 1, 2);
            Assert.Equal(cache.Layer(0).Start, cache.Layer(2).Start);
            Assert.Equal(0, cache.Layer(1).Start);
        }
        Assert.Equal(38, cache.Layer(0).Start);
    }

    [Fact]
    public void A_cache_refuses_an_attention_mask()
    {
        using var model = LlamaForCausalLM.Create(TinyLlamas.UntiedGqa);
        using var cache = model.NewCache();
        using var ids = torch.zeros(new long[] { 1, 3 }, ScalarType.Int64);
        Assert.Throws<ArgumentException>(() => model.model.forward(ids, torch.ones(1, 3), null, cache));
    }
}
