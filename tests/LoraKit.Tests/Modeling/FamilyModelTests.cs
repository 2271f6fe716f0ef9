using System;
using System.IO;
using System.Linq;
using LoraKit.Lora;
using LoraKit.Modeling;
using LoraKit.Models;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace LoraKit.Tests.Modeling;

/// <summary>
/// Gemma 2 and Phi-3 built from dimensions (random weights): the properties every family must keep — the config.json
/// LoraKit writes reads back equal and reloads to identical logits, counts equal Core's shape, LoRA with B = 0 is the
/// identity, logits are causal, and the window alternates on Gemma 2. Exactness against transformers is in
/// HfReference.FamilyReferenceTests and HfReferenceLogitsTests.
/// </summary>
public sealed class FamilyModelTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    /// <summary>Gemma 2: soft-capping, query_pre_attn_scalar ≠ head_dim, window 3 on even layers, tied, head_dim 16 ≠ hidden/heads.</summary>
    private static readonly LlamaDimensions Gemma2 = new()
    {
        ModelType = "gemma2", HiddenSize = 32, IntermediateSize = 48, Layers = 3, AttentionHeads = 4, KeyValueHeads = 2, HeadDim = 16,
        VocabSize = 50, TieWordEmbeddings = true, HiddenActivation = ModelFamily.GeluTanh, QueryPreAttentionScalar = 24,
        AttentionLogitSoftcap = 20, FinalLogitSoftcap = 10, SlidingWindow = 3, AlternatingWindow = true, MaxPositionEmbeddings = 64,
    };

    /// <summary>Phi-3: fused projections, partial rotary (half of each head turns), a window of 5 on every layer, untied.</summary>
    private static readonly LlamaDimensions Phi3 = new()
    {
        ModelType = "phi3", HiddenSize = 32, IntermediateSize = 40, Layers = 2, AttentionHeads = 4, KeyValueHeads = 2, VocabSize = 50,
        PartialRotaryFactor = 0.5, SlidingWindow = 5, RmsNormEps = 1e-5, MaxPositionEmbeddings = 64,
    };

    public static TheoryData<string> Families => new() { "gemma2", "phi3" };

    private static LlamaDimensions Get(string family) => family == "gemma2" ? Gemma2 : Phi3;

    [Theory]
    [MemberData(nameof(Families))]
    public void Saved_checkpoints_read_back_equal_and_reload_to_identical_logits(string family)
    {
        var d = Get(family);
        Assert.Equal(d, HfConfig.Parse(LlamaForCausalLM.ToHfConfigJson(d), "x"));
        using var model = LlamaForCausalLM.Create(d, seed: 5);
        model.eval();
        Assert.Equal(ModelShape.FromLlama("tiny", d).TotalParameters, model.ParameterCount());
        var folder = _temp.File(family);
        HfCheckpoint.Save(model, folder);
        using var reloaded = HfCheckpoint.Load(folder);
        reloaded.eval();
        using var noGrad = torch.no_grad();
        var ids = TinyLlamas.Ids(d.VocabSize, 2, 2, 12);
        Assert.True(model.forward(ids).eq(reloaded.forward(ids)).all().item<bool>());
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void Lora_with_b_zero_is_the_identity_and_logits_are_causal(string family)
    {
        var d = Get(family);
        using var model = LlamaForCausalLM.Create(d, seed: 6);
        model.eval();
        var ids = TinyLlamas.Ids(d.VocabSize, 3, 2, 10);
        using var noGrad = torch.no_grad();
        var before = model.forward(ids).clone();
        var injection = LoraInjector.Inject(model, new LoraConfig { Rank = 2, Alpha = 4, TargetModules = new[] { LoraConfig.AllLinear } });
        Assert.Equal(d.Family.AttentionProjections.Count + d.Family.MlpProjections.Count, injection.AdaptedPaths.Count / d.Layers);
        Assert.True(before.eq(model.forward(ids)).all().item<bool>());
        var changed = ids.clone();
        changed.narrow(1, 6, 4).copy_((ids.narrow(1, 6, 4) + 1) % d.VocabSize);
        var after = model.forward(changed);
        Assert.True(TinyLlamas.MaxAbsDiff(before.narrow(1, 0, 6), after.narrow(1, 0, 6)) <= 1e-6);
        Assert.True(TinyLlamas.MaxAbsDiff(before.narrow(1, 6, 1), after.narrow(1, 6, 1)) > 1e-4);
    }

    [Fact]
    public void Gemma2_logits_stay_inside_the_final_soft_cap()
    {
        using var model = LlamaForCausalLM.Create(Gemma2, seed: 7);
        using var noGrad = torch.no_grad();
        // Large weights push raw logits far past the cap; the capped ones stay within ±10.
        foreach (var p in model.parameters()) p.mul_(30);
        var logits = model.forward(TinyLlamas.Ids(Gemma2.VocabSize, 4, 1, 8));
        Assert.True(logits.abs().max().item<float>() <= 10f);
        Assert.True(logits.abs().max().item<float>() > 9f);
    }

    [Fact]
    public void Gemma2_windows_even_layers_only()
    {
        Assert.Equal(new[] { 3, 0, 3 }, Enumerable.Range(0, 3).Select(Gemma2.AttentionWindow));
        // A token 4 positions back reaches the last position only through the global layer 1: changing it changes the
        // logits, while with every layer windowed (Mistral-like) it could not.
        using var model = LlamaForCausalLM.Create(Gemma2, seed: 8);
        model.eval();
        using var noGrad = torch.no_grad();
        var ids = TinyLlamas.Ids(Gemma2.VocabSize, 5, 1, 8);
        var changed = ids.clone();
        changed[0, 3] = (ids[0, 3] + 1) % Gemma2.VocabSize;
        Assert.True(TinyLlamas.MaxAbsDiff(model.forward(ids).narrow(1, 7, 1), model.forward(changed).narrow(1, 7, 1)) > 1e-5);
    }
}
