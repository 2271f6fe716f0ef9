using System;
using System.Collections.Generic;
using System.Linq;
using LoraKit.Lora;
using LoraKit.Memory;
using LoraKit.Models;
using LoraKit.Modeling;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace LoraKit.Tests.Modeling;

/// <summary>
/// Each memory-saving path against the plain path on the same inputs and seed (fp32 CPU): gradient checkpointing (plain
/// and offload) gives bit-identical gradients, LoRA dropout's masks replayed; the chunked loss gives the full-logits loss
/// and gradients within 1e-6.
/// </summary>
public class MemorySavingPathTests
{
    private static readonly LlamaDimensions Dims = TinyLlamas.UntiedGqa with { Layers = 3 };

    private static readonly LoraConfig AllLinear = new()
    {
        Rank = 4, Alpha = 8, Dropout = 0.1, InitWeights = LoraInitWeights.Random,
        TargetModules = new[] { "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj" },
    };

    /// <summary>Loss and the LoRA gradients (by name) of one forward+backward in training mode.</summary>
    private static (float Loss, Dictionary<string, Tensor> Grads) Step(LlamaDimensions dims, LoraConfig config, LoraGradientCheckpointing checkpointing, bool chunked,
        Tensor ids, Tensor? mask = null)
    {
        using var model = LlamaForCausalLM.Create(dims, seed: 3);
        model.LossChunkTokens = ChunkTokens;
        LoraInjector.Inject(model, config, "default", seed: 5);
        model.train();
        model.model.GradientCheckpointing = checkpointing;
        model.ChunkedLoss = chunked;
        var labels = ids.clone();
        float value;
        using (var scope = NewDisposeScope())
        {
            var loss = model.Loss(ids, labels, mask);
            value = loss.item<float>();
            loss.backward();
        }
        var grads = model.named_parameters().Where(p => p.parameter.requires_grad)
            .ToDictionary(p => p.name, p => p.parameter.grad!.detach().clone());
        return (value, grads);
    }

    /// <summary>‖a − b‖₂ / ‖b‖₂ in float64 (a head's gradient sums its chunks in another order than one matmul does).</summary>
    private static double Relative(Tensor a, Tensor b)
    {
        using var a64 = a.to(ScalarType.Float64);
        using var b64 = b.to(ScalarType.Float64);
        return (a64 - b64).norm().item<double>() / Math.Max(b64.norm().item<double>(), 1e-300);
    }

    private static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    [Theory]
    [InlineData(LoraGradientCheckpointing.On)]
    [InlineData(LoraGradientCheckpointing.Offload)]
    public void Checkpointed_layers_give_bit_identical_gradients_with_dropout_replayed(LoraGradientCheckpointing mode)
    {
        using var ids = TinyLlamas.Ids(Dims.VocabSize, 11, 2, 24);
        var plain = Step(Dims, AllLinear, LoraGradientCheckpointing.None, chunked: false, ids);
        var checkpointed = Step(Dims, AllLinear, mode, chunked: false, ids);
        Assert.Equal(plain.Loss, checkpointed.Loss);
        Assert.Equal(plain.Grads.Keys.OrderBy(k => k), checkpointed.Grads.Keys.OrderBy(k => k));
        Assert.Equal(3 * 7 * 2, plain.Grads.Count);
        foreach (var (name, g) in plain.Grads)
        {
            Assert.True(g.abs().sum().item<float>() > 0, $"{name} has no gradient: the test would prove nothing");
            Assert.True(Same(g, checkpointed.Grads[name]), $"{name}: checkpointed gradient differs by {(g - checkpointed.Grads[name]).abs().max().item<float>()}");
        }
    }

    [Fact]
    public void Draws_between_forward_and_backward_do_not_reach_the_recompute()
    {
        using var ids = TinyLlamas.Ids(Dims.VocabSize, 11, 2, 24);
        var a = Step(Dims, AllLinear, LoraGradientCheckpointing.None, chunked: false, ids);
        // The control: other dropout draws (no dropout at all) give other gradients, so the masks matter here.
        var noDropout = Step(Dims, new LoraConfig { Rank = 4, Alpha = 8, InitWeights = LoraInitWeights.Random, TargetModules = AllLinear.TargetModules.ToArray() },
            LoraGradientCheckpointing.None, chunked: false, ids);
        Assert.Contains(a.Grads, p => !Same(p.Value, noDropout.Grads[p.Key]));
        using var model = LlamaForCausalLM.Create(Dims, seed: 3);
        LoraInjector.Inject(model, AllLinear, "default", seed: 5);
        model.train();
        model.model.GradientCheckpointing = LoraGradientCheckpointing.On;
        model.ChunkedLoss = false;
        // Advance every LoRA dropout generator between forward and backward, as a recompute without the replay would.
        var generators = model.modules().OfType<LoraDropout>().Select(d => d.Generator!).Distinct().ToList();
        Assert.Single(generators);
        using (var scope = NewDisposeScope())
        {
            var loss = model.Loss(ids, ids.clone());
            using (torch.rand(1000, generator: generators[0])) { }
            loss.backward();
        }
        var same = model.named_parameters().Where(p => p.parameter.requires_grad).All(p => Same(p.parameter.grad!, a.Grads[p.name]));
        Assert.True(same, "the replay restores the states saved in forward, so drawing between forward and backward changes nothing");
    }

    [Fact]
    public void The_output_cache_trim_finds_torchsharps_fields()
    {
        // A TorchSharp upgrade that renames them must fail here rather than quietly cost a hidden state per layer on a GPU.
        Assert.True(OutputCache.IsAvailable);
    }

    [Fact]
    public void Checkpointing_is_off_in_eval_and_without_grad()
    {
        using var ids = TinyLlamas.Ids(Dims.VocabSize, 11, 1, 16);
        using var model = LlamaForCausalLM.Create(Dims, seed: 3);
        LoraInjector.Inject(model, AllLinear, "default", seed: 5);
        model.eval();
        using var plain = model.forward(ids);
        model.model.GradientCheckpointing = LoraGradientCheckpointing.On;
        using var checkpointed = model.forward(ids);
        Assert.True(Same(plain, checkpointed));
    }

    /// <summary>Chunks of 7 tokens (not dividing the rows), so the tiny models' rows span several (real vocabularies get Core's size).</summary>
    private const long ChunkTokens = 7;

    private static readonly LlamaDimensions WideVocab = TinyLlamas.UntiedGqa with { VocabSize = 300, MaxPositionEmbeddings = 256 };

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void The_chunked_loss_equals_the_full_logits_loss_and_gradients(bool trainHead)
    {
        var config = new LoraConfig
        {
            // An adapted head with dropout: backward's recompute must draw forward's masks again, chunk by chunk.
            Rank = 4, Alpha = 8, InitWeights = LoraInitWeights.Random, Dropout = trainHead ? 0.1 : 0,
            TargetModules = trainHead ? new[] { "q_proj", "v_proj", "lm_head" } : new[] { "q_proj", "v_proj" },
        };
        using var ids = TinyLlamas.Ids(WideVocab.VocabSize, 13, 2, 100);
        var full = Step(WideVocab, config, LoraGradientCheckpointing.None, chunked: false, ids);
        var chunked = Step(WideVocab, config, LoraGradientCheckpointing.None, chunked: true, ids);
        Assert.True(Math.Abs(full.Loss - chunked.Loss) <= 1e-6 * Math.Abs(full.Loss), $"loss {full.Loss} vs {chunked.Loss}");
        if (trainHead) Assert.Contains(full.Grads.Keys, k => k.StartsWith("lm_head.", StringComparison.Ordinal));
        foreach (var (name, g) in full.Grads)
        {
            var relative = Relative(chunked.Grads[name], g);
            Assert.True(relative <= 1e-6, $"{name}: relative difference {relative}");
        }
    }

    [Fact]
    public void The_chunked_loss_ignores_minus_100_like_the_full_loss()
    {
        using var model = LlamaForCausalLM.Create(WideVocab, seed: 3);
        model.LossChunkTokens = ChunkTokens;
        using var ids = TinyLlamas.Ids(WideVocab.VocabSize, 17, 2, 150);
        using var labels = ids.clone();
        labels.narrow(1, 0, 90).fill_(-100);
        using var noGrad = torch.no_grad();
        model.ChunkedLoss = false;
        var full = model.Loss(ids, labels).item<float>();
        model.ChunkedLoss = true;
        var chunked = model.Loss(ids, labels).item<float>();
        Assert.True(Math.Abs(full - chunked) <= 1e-6 * full, $"{full} vs {chunked}");
        // Per token: the eval path's chunked token losses match cross_entropy(reduction: none) of the full logits.
        using var hidden = model.model.forward(ids);
        using var perToken = ChunkedCausalLmLoss.TokenLosses(model.lm_head, WideVocab.VocabSize, hidden, labels, chunkTokens: ChunkTokens);
        using var logits = model.forward(ids);
        using var next = LlamaForCausalLM.NextTokenLabels(labels).reshape(-1);
        using var reference = nn.functional.cross_entropy(logits.reshape(-1, WideVocab.VocabSize), next, ignore_index: -100, reduction: nn.Reduction.None);
        Assert.True((perToken.reshape(-1) - reference).abs().max().item<float>() <= 1e-5f);
    }

    [Fact]
    public void Checkpointing_and_the_chunked_loss_together_match_the_plain_step()
    {
        using var ids = TinyLlamas.Ids(WideVocab.VocabSize, 19, 1, 160);
        var config = AllLinear;
        var plain = Step(WideVocab, config, LoraGradientCheckpointing.None, chunked: false, ids);
        var both = Step(WideVocab, config, LoraGradientCheckpointing.On, chunked: true, ids);
        Assert.True(Math.Abs(plain.Loss - both.Loss) <= 1e-6 * plain.Loss);
        foreach (var (name, g) in plain.Grads)
            Assert.True(Relative(both.Grads[name], g) <= 1e-6, $"{name}: relative difference {Relative(both.Grads[name], g)}");
    }
}
