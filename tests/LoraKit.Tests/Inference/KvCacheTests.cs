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
    public void Chunked_decoding_with_the_cache_equals_the_full_forward(string kind)
    {
        var dims = kind switch
        {
            "llama" => TinyLlamas.UntiedGqa,
            "qwen3" => TinyLlamas.Qwen3,
            "window" => TinyLlamas.UntiedGqa with { SlidingWindow = 3 },
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

    [Fact]
    public void A_cache_refuses_an_attention_mask()
    {
        using var model = LlamaForCausalLM.Create(TinyLlamas.UntiedGqa);
        using var cache = model.NewCache();
        using var ids = torch.zeros(new long[] { 1, 3 }, ScalarType.Int64);
        Assert.Throws<ArgumentException>(() => model.model.forward(ids, torch.ones(1, 3), null, cache));
    }
}
