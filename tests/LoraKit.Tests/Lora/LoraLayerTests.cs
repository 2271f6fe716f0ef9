using System;
using System.Linq;
using LoraKit.Lora;
using LoraKit.Models;
using LoraKit.Modeling;
using LoraKit.Tests.Modeling;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace LoraKit.Tests.Lora;

public class LoraLayerTests
{
    private static LlamaForCausalLM Model(string variant = nameof(TinyLlamas.UntiedGqa), long seed = 3) =>
        LlamaForCausalLM.Create(TinyLlamas.Get(variant), seed: seed);

    [Theory]
    [MemberData(nameof(TinyLlamas.Variants), MemberType = typeof(TinyLlamas))]
    public void With_B_zero_the_adapted_model_equals_the_base_exactly(string variant)
    {
        var model = Model(variant);
        model.eval();
        var ids = TinyLlamas.Ids(TinyLlamas.Get(variant).VocabSize, 1, 2, 7);
        var before = model.forward(ids).detach().clone();
        LoraInjector.Inject(model, new LoraConfig { Rank = 4, Alpha = 8, TargetModules = new[] { LoraConfig.AllLinear } });
        var after = model.forward(ids).detach();
        Assert.True(Same(before, after));
    }

    [Fact]
    public void Merged_forward_equals_unmerged_and_unmerge_restores_the_base()
    {
        var model = Model();
        model.eval();
        var baseWeights = model.HfStateDict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        LoraInjector.Inject(model, new LoraConfig { Rank = 4, Alpha = 8, TargetModules = new[] { "q_proj", "v_proj", "down_proj" } });
        LoraTestHelpers.RandomiseB(model, 7);
        var ids = TinyLlamas.Ids(50, 2, 2, 9);
        var unmerged = model.forward(ids).detach().clone();
        Assert.False(unmerged.allclose(Model().forward(ids).detach(), rtol: 0, atol: 1e-4)); // the adapter does something

        LoraInjector.Merge(model);
        Assert.True(LoraInjector.LoraLayers(model).All(l => l.Layer.MergedAdapters.Contains("default")));
        var merged = model.forward(ids).detach();
        Assert.True(merged.allclose(unmerged, rtol: 0, atol: 1e-5), $"max diff {(merged - unmerged).abs().max().item<float>()}");

        LoraInjector.Unmerge(model);
        foreach (var (path, layer) in LoraInjector.LoraLayers(model))
        {
            var w = LinearWeights.Of(layer).Weight;
            Assert.True(w.allclose(baseWeights[path + ".weight"], rtol: 0, atol: 1e-6), path);
        }
        Assert.True(model.forward(ids).detach().allclose(unmerged, rtol: 0, atol: 1e-5));
    }

    [Fact]
    public void Gradients_reach_only_lora_parameters()
    {
        var model = Model();
        LoraInjector.Inject(model, new LoraConfig { Rank = 2, Alpha = 4, TargetModules = new[] { "q_proj", "v_proj" } });
        LoraTestHelpers.RandomiseB(model, 1);
        var ids = TinyLlamas.Ids(50, 3, 2, 6);
        model.Loss(ids, ids).backward();
        var withGrad = model.named_parameters().Where(p => p.parameter.grad is not null && p.parameter.grad.abs().sum().item<float>() > 0).Select(p => p.name).ToList();
        Assert.Equal(2 * 2 * 2, withGrad.Count); // 2 layers × (q, v) × (A, B)
        Assert.All(withGrad, n => Assert.Matches(@"\.lora_[AB]\.default\.weight$", n));
        Assert.All(model.named_parameters().Where(p => !p.name.Contains(".lora_")), p => Assert.Null(p.parameter.grad));
    }

    [Fact]
    public void Parameter_names_follow_peft()
    {
        var model = Model();
        LoraInjector.Inject(model, new LoraConfig { Rank = 2, Alpha = 4, TargetModules = new[] { "q_proj" } });
        var names = model.named_parameters().Select(p => p.name).ToHashSet();
        Assert.Contains("model.layers.0.self_attn.q_proj.base_layer.weight", names);
        Assert.Contains("model.layers.0.self_attn.q_proj.lora_A.default.weight", names);
        Assert.Contains("model.layers.1.self_attn.q_proj.lora_B.default.weight", names);
        Assert.DoesNotContain("model.layers.0.self_attn.q_proj.weight", names);
    }

    [Theory]
    [InlineData(nameof(TinyLlamas.UntiedGqa), "q_proj,v_proj", 4)]
    [InlineData(nameof(TinyLlamas.Qwen2), "all-linear", 8)]
    [InlineData(nameof(TinyLlamas.Qwen3), "k_proj,o_proj,up_proj", 2)]
    [InlineData(nameof(TinyLlamas.Tied), "layers.1.mlp.down_proj", 16)]
    public void Trainable_count_equals_the_core_prediction(string variant, string targets, int rank)
    {
        var dims = TinyLlamas.Get(variant);
        var model = Model(variant);
        var config = new LoraConfig { Rank = rank, Alpha = 2 * rank, TargetModules = targets.Split(',') };
        var injection = LoraInjector.Inject(model, config);
        var requiresGrad = model.parameters().Where(p => p.requires_grad).Sum(p => p.numel());
        var predicted = ParameterCount.Compute(ModelShape.FromLlama(variant, dims), config);
        Assert.Equal(predicted.TrainableParameters, requiresGrad);
        Assert.Equal(predicted.AdaptedModules, injection.AdaptedPaths.Count);
        LoraPreflight.Check(model, injection, ModelShape.FromLlama(variant, dims)); // does not throw
    }

    [Fact]
    public void Bias_modes_unfreeze_the_biases_peft_does()
    {
        var dims = TinyLlamas.Qwen2; // q/k/v carry biases
        foreach (var mode in new[] { LoraBias.LoraOnly, LoraBias.All })
        {
            var model = Model(nameof(TinyLlamas.Qwen2));
            var config = new LoraConfig { Rank = 2, Alpha = 4, TargetModules = new[] { "q_proj" }, Bias = mode };
            var injection = LoraInjector.Inject(model, config);
            var predicted = ParameterCount.Compute(ModelShape.FromLlama("q", dims), config).TrainableParameters;
            Assert.Equal(predicted, model.parameters().Where(p => p.requires_grad).Sum(p => p.numel()));
            LoraPreflight.Check(model, injection, ModelShape.FromLlama("q", dims));
        }
    }

    [Fact]
    public void A_target_that_matches_nothing_is_an_error_even_when_others_match()
    {
        var e = Assert.Throws<LoraException>(() => LoraInjector.Inject(Model(), new LoraConfig { TargetModules = new[] { "q_proj", "v_porj" } }));
        Assert.Equal("LORA1004", e.Id);
        Assert.Contains("'v_porj'", e.Message);
        Assert.Contains("its linear modules are ", e.Message);
        foreach (var name in new[] { "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "lm_head" })
            Assert.Contains(name, e.Message);
        Assert.EndsWith("did you mean 'v_porj' → 'v_proj'?", e.Message);
    }

    [Fact]
    public void All_linear_leaves_the_output_head_alone()
    {
        var model = Model();
        var injection = LoraInjector.Inject(model, new LoraConfig { Rank = 2, Alpha = 4, TargetModules = new[] { LoraConfig.AllLinear } });
        Assert.Equal(2 * 7, injection.AdaptedPaths.Count);
        Assert.DoesNotContain("lm_head", injection.AdaptedPaths);
        Assert.IsNotType<LoraLinear>(model.lm_head);
    }

    [Fact]
    public void Preflight_names_an_unfrozen_base_weight()
    {
        var model = Model();
        var injection = LoraInjector.Inject(model, new LoraConfig { Rank = 2, Alpha = 4 });
        model.model.norm.weight!.requires_grad = true;
        var e = Assert.Throws<LoraException>(() => LoraPreflight.Check(model, injection));
        Assert.Equal("LORA3006", e.Id);
        Assert.Contains("base weight model.norm.weight requires grad", e.Message);
    }

    [Fact]
    public void Preflight_catches_a_count_that_differs_from_the_prediction()
    {
        var model = Model();
        var config = new LoraConfig { Rank = 2, Alpha = 4 };
        var injection = LoraInjector.Inject(model, config);
        var wrongShape = ModelShape.FromLlama("other", TinyLlamas.UntiedGqa with { Layers = 3 });
        var e = Assert.Throws<LoraException>(() => LoraPreflight.Check(model, injection, wrongShape));
        Assert.Contains("LoraKit.Core predicts", e.Message);
    }

    [Fact]
    public void Init_follows_peft_and_is_deterministic()
    {
        var layer = new LoraLinear(nn.Linear(64, 32));
        layer.AddAdapter("a", new LoraConfig { Rank = 8, Alpha = 16 }, new Generator(5, CPU));
        layer.AddAdapter("g", new LoraConfig { Rank = 8, Alpha = 16, InitWeights = LoraInitWeights.Gaussian }, new Generator(5, CPU));
        Assert.Equal(new long[] { 8, 64 }, layer.A("a").shape);
        Assert.Equal(new long[] { 32, 8 }, layer.B("a").shape);
        Assert.True(layer.A("a").abs().max().item<float>() <= 1 / MathF.Sqrt(64)); // kaiming_uniform(a=√5) bound
        Assert.Equal(0f, layer.B("a").abs().sum().item<float>());
        Assert.InRange(layer.A("g").std().item<float>(), 0.1f, 0.15f);                // std 1/r = 0.125
        Assert.Equal(0f, layer.B("g").abs().sum().item<float>());

        var again = new LoraLinear(nn.Linear(64, 32));
        again.AddAdapter("a", new LoraConfig { Rank = 8, Alpha = 16 }, new Generator(5, CPU));
        Assert.True(Same(again.A("a"), layer.A("a")));
    }

    [Fact]
    public void Forward_adds_scaling_times_B_A_x_and_rslora_scales_by_sqrt_r()
    {
        foreach (var rs in new[] { false, true })
        {
            var linear = nn.Linear(6, 5);
            var layer = new LoraLinear(linear);
            var config = new LoraConfig { Rank = 4, Alpha = 6, UseRsLora = rs, InitWeights = LoraInitWeights.Random };
            layer.AddAdapter("default", config, new Generator(1, CPU));
            var x = torch.randn(3, 6);
            var scaling = rs ? 6 / Math.Sqrt(4) : 6 / 4.0;
            var expected = linear.forward(x) + x.matmul(layer.A("default").t()).matmul(layer.B("default").t()) * scaling;
            Assert.True(layer.forward(x).allclose(expected, rtol: 1e-5, atol: 1e-6));
            Assert.Equal(scaling, layer.ScalingOf("default"), 12);
        }
    }

    [Fact]
    public void Dropout_applies_in_training_only()
    {
        var layer = new LoraLinear(nn.Linear(16, 16));
        layer.AddAdapter("d", new LoraConfig { Rank = 4, Alpha = 8, Dropout = 0.5, InitWeights = LoraInitWeights.Random }, new Generator(2, CPU));
        var x = torch.randn(4, 16);
        layer.eval();
        Assert.True(Same(layer.forward(x), layer.forward(x)));
        layer.train();
        Assert.False(Same(layer.forward(x), layer.forward(x)));
    }

    [Fact]
    public void Several_named_adapters_switch_and_train_separately()
    {
        var model = Model();
        model.eval();
        LoraInjector.Inject(model, new LoraConfig { Rank = 2, Alpha = 4 }, "support", seed: 1);
        LoraInjector.Inject(model, new LoraConfig { Rank = 4, Alpha = 8 }, "sales", seed: 2);
        LoraTestHelpers.RandomiseB(model, 9);
        var ids = TinyLlamas.Ids(50, 4, 1, 5);
        var layers = LoraInjector.LoraLayers(model);
        foreach (var (_, l) in layers) l.SetActiveAdapters(new[] { "support" });
        var support = model.forward(ids).detach().clone();
        foreach (var (_, l) in layers) l.SetActiveAdapters(new[] { "sales" });
        var sales = model.forward(ids).detach().clone();
        Assert.False(support.allclose(sales));

        // After injecting "sales" only its parameters train.
        var trainable = model.named_parameters().Where(p => p.parameter.requires_grad).Select(p => p.name).ToList();
        Assert.All(trainable, n => Assert.Contains(".sales.", n));
        Assert.Equal(new long[] { 4, 32 }, layers[0].Layer.A("sales").shape);
        Assert.Equal(new long[] { 2, 32 }, layers[0].Layer.A("support").shape);
    }

    [Fact]
    public void Fan_in_fan_out_weights_merge_transposed()
    {
        var conv = new Conv1DLike(6, 5);
        var layer = new LoraLinear(conv, fanInFanOut: true);
        Assert.Equal((6L, 5L), (layer.InFeatures, layer.OutFeatures));
        layer.AddAdapter("default", new LoraConfig { Rank = 2, Alpha = 4, InitWeights = LoraInitWeights.Random }, new Generator(3, CPU));
        var x = torch.randn(4, 6);
        var unmerged = layer.forward(x).detach().clone();
        layer.Merge();
        Assert.True(layer.forward(x).allclose(unmerged, rtol: 0, atol: 1e-5));
    }

    [Fact]
    public void A_tied_head_refuses_to_merge()
    {
        var model = Model(nameof(TinyLlamas.Tied));
        LoraInjector.Inject(model, new LoraConfig { Rank = 2, Alpha = 4, TargetModules = new[] { "lm_head" } });
        var e = Assert.Throws<InvalidOperationException>(() => LoraInjector.Merge(model));
        Assert.Contains("tied", e.Message);
    }

    private static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    /// <summary>GPT-2's Conv1D: weight stored [in, out], y = x·W + b.</summary>
    private sealed class Conv1DLike : nn.Module<Tensor, Tensor>
    {
        public Parameter weight;
        public Parameter bias;

        public Conv1DLike(int inFeatures, int outFeatures) : base("Conv1D")
        {
            weight = new Parameter(torch.randn(inFeatures, outFeatures));
            bias = new Parameter(torch.randn(outFeatures));
            RegisterComponents();
        }

        public override Tensor forward(Tensor x) => x.matmul(weight) + bias;
    }
}
