using System;
using System.Linq;
using LoraKit.Models;
using Xunit;

namespace LoraKit.Core.Tests;

public class ArithmeticTests
{
    private static readonly LlamaDimensions Small = new()
    {
        HiddenSize = 64, IntermediateSize = 160, Layers = 2, AttentionHeads = 4, KeyValueHeads = 2, VocabSize = 100,
    };

    [Theory]
    [InlineData(8, 16, false, 2.0)]
    [InlineData(16, 16, false, 1.0)]
    [InlineData(16, 16, true, 4.0)] // rsLoRA: α/√r
    [InlineData(4, 8, true, 4.0)]
    public void Scaling_is_alpha_over_r_or_over_sqrt_r(int rank, double alpha, bool rs, double expected)
    {
        var config = new LoraConfig { Rank = rank, Alpha = alpha, UseRsLora = rs };
        Assert.Equal(expected, config.Scaling, 12);
    }

    [Fact]
    public void Scaling_refuses_rank_zero()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new LoraConfig { Rank = 0 }.Scaling);
    }

    [Fact]
    public void Small_gqa_model_counts_by_hand()
    {
        var shape = ModelShape.FromLlama("small", Small);
        // head_dim 16, kv dim 32. Per layer: q 64·64, k 64·32, v 64·32, o 64·64, mlp 3·64·160, norms 2·64.
        long perLayer = 4096 + 2048 + 2048 + 4096 + 3 * 64 * 160 + 128;
        long expected = 2 * perLayer + 100 * 64 /*embed*/ + 100 * 64 /*lm_head*/ + 64 /*final norm*/;
        Assert.Equal(expected, shape.TotalParameters);

        var count = ParameterCount.Compute(shape, new LoraConfig { Rank = 2, TargetModules = new[] { "k_proj" } });
        Assert.Equal(2 * 2 * (64 + 32), count.LoraParameters);
    }

    [Fact]
    public void Tied_head_is_counted_once_and_qwen2_biases_are_counted()
    {
        var untied = ModelShape.FromLlama("a", Small);
        var tied = ModelShape.FromLlama("b", Small with { TieWordEmbeddings = true });
        Assert.Equal(100 * 64, untied.TotalParameters - tied.TotalParameters);

        var qwen = ModelShape.FromLlama("c", Small with { QkvBias = true });
        Assert.Equal(2 * (64 + 32 + 32), qwen.TotalParameters - untied.TotalParameters);

        var qwen3 = ModelShape.FromLlama("d", Small with { QkNorm = true });
        Assert.Equal(2 * 2 * 16, qwen3.TotalParameters - untied.TotalParameters);
    }

    [Fact]
    public void Explicit_head_dim_overrides_hidden_over_heads()
    {
        var d = Small with { HeadDim = 32 }; // q dim 128, kv dim 64, independent of hidden 64
        var shape = ModelShape.FromLlama("x", d);
        var q = shape.Linears.Single(l => l.LeafName == "q_proj");
        var o = shape.Linears.Single(l => l.LeafName == "o_proj");
        Assert.Equal((64, 128), (q.InFeatures, q.OutFeatures));
        Assert.Equal((128, 64), (o.InFeatures, o.OutFeatures));
    }

    [Fact]
    public void Bias_modes_add_the_biases_peft_unfreezes()
    {
        var qwen = ModelShape.FromLlama("q", Small with { QkvBias = true });
        var none = ParameterCount.Compute(qwen, new LoraConfig { Rank = 2, TargetModules = new[] { "q_proj" } });
        var loraOnly = ParameterCount.Compute(qwen, new LoraConfig { Rank = 2, TargetModules = new[] { "q_proj" }, Bias = LoraBias.LoraOnly });
        var all = ParameterCount.Compute(qwen, new LoraConfig { Rank = 2, TargetModules = new[] { "q_proj" }, Bias = LoraBias.All });
        Assert.Equal(0, none.TrainableBiasParameters);
        Assert.Equal(2 * 64, loraOnly.TrainableBiasParameters);            // q biases of 2 layers
        Assert.Equal(2 * (64 + 32 + 32), all.TrainableBiasParameters);     // q, k, v biases of 2 layers
        Assert.Equal(none.LoraParameters + 2 * 64, loraOnly.TrainableParameters);
    }

    [Fact]
    public void Custom_model_counts_its_layers_and_other_parameters()
    {
        var shape = ModelShape.Custom("mlp", new[]
        {
            new LinearLayer("encoder.fc1", 784, 256, HasBias: true),
            new LinearLayer("blocks.{i}.fc", 256, 256, Count: 3),
            new LinearLayer("head", 256, 10, HasBias: true) { IsOutputHead = true },
        }, otherParameters: 1000);
        Assert.Equal(784 * 256 + 256 + 3 * 256 * 256 + 2560 + 10 + 1000, shape.TotalParameters);

        var all = ParameterCount.Compute(shape, new LoraConfig { Rank = 4, TargetModules = new[] { LoraConfig.AllLinear } });
        Assert.Equal(4 * (784 + 256) + 3 * 4 * 512, all.LoraParameters); // head excluded
        var one = ParameterCount.Compute(shape, new LoraConfig { Rank = 4, TargetModules = new[] { "blocks.1.fc" } });
        Assert.Equal(4 * 512, one.LoraParameters);
    }

    [Fact]
    public void Custom_model_errors_name_the_layer_and_the_fix()
    {
        var dup = Assert.Throws<ModelDescriptionException>(() => ModelShape.Custom("m",
            new[] { new LinearLayer("fc", 2, 2), new LinearLayer("fc", 2, 2) }, 0));
        Assert.Equal("LORA2005", dup.Id);
        Assert.Contains("listed twice", dup.Message);

        var repeated = Assert.Throws<ModelDescriptionException>(() => ModelShape.Custom("m", new[] { new LinearLayer("fc", 2, 2, Count: 3) }, 0));
        Assert.Contains("{i}", repeated.Message);

        var size = Assert.Throws<ModelDescriptionException>(() => ModelShape.Custom("m", new[] { new LinearLayer("fc", 0, 2) }, 0));
        Assert.Contains("LoraLinear(\"fc\")", size.Message);

        Assert.Throws<ModelDescriptionException>(() => ModelShape.Custom("m", Array.Empty<LinearLayer>(), 0));
        Assert.Throws<ModelDescriptionException>(() => ModelShape.Custom("m", new[] { new LinearLayer("fc", 2, 2) }, -1));
    }
}

public class RegistryTests
{
    private sealed class A1 { }
    private sealed class A2 { }

    [Fact]
    public void Finds_by_full_or_unique_simple_name_and_ignores_a_second_registration()
    {
        var d1 = new LoraAdapterDescriptor("RegistryProbeAdapter", "X.RegistryProbeAdapter", "X.M", typeof(A1), () => new LoraConfig { Rank = 4 }, 1, 2);
        LoraAdapterRegistry.Register(d1);
        LoraAdapterRegistry.Register(d1 with { FullName = "ignored" });
        Assert.Same(d1, LoraAdapterRegistry.Find("RegistryProbeAdapter"));
        Assert.Same(d1, LoraAdapterRegistry.Find("X.RegistryProbeAdapter"));
        Assert.Null(LoraAdapterRegistry.Find("ignored"));
        LoraAdapterRegistry.Register(d1 with { FullName = "Y.RegistryProbeAdapter", AdapterType = typeof(A2) });
        Assert.Throws<InvalidOperationException>(() => LoraAdapterRegistry.Find("RegistryProbeAdapter"));
        Assert.Equal(4, LoraAdapterRegistry.Find("Y.RegistryProbeAdapter")!.Config().Rank);
    }
}
