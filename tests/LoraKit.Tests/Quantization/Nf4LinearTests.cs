using System;
using System.Linq;
using LoraKit.Lora;
using LoraKit.Quantization;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace LoraKit.Tests.Quantization;

public class Nf4LinearTests
{
    private const int Out = 40, In = 96; // 3,840 values: blocks of 64 straddle rows

    private static (Nf4Linear Layer, Tensor Reference, Tensor Bias) Make(ScalarType compute = ScalarType.Float32, long seed = 3)
    {
        using var g = new Generator((ulong)seed, CPU);
        var w = torch.randn(new long[] { Out, In }, generator: g).mul(0.1);
        var bias = torch.randn(new long[] { Out }, generator: g);
        var blocks = Nf4.Quantize(w.data<float>().ToArray(), 64);
        // The reference weight: LoraKit.Core's float32 dequantization (checked bit for bit against bitsandbytes).
        var reference = torch.tensor(Nf4.Dequantize(blocks.Packed, blocks.Absmax, blocks.Count, 64)).reshape(Out, In);
        return (new Nf4Linear(blocks, Out, In, bias, compute), reference, bias);
    }

    [Fact]
    public void Dequantize_of_the_fixture_is_bitsandbytes_values_in_float32()
    {
        var input = Nf4Fixture.Floats("input");
        using var layer = new Nf4Linear(Nf4.Quantize(input, 64), 256, 64, null, ScalarType.Float32);
        using var w = layer.Dequantize(ScalarType.Float32);
        Assert.Equal(Nf4Fixture.Floats("dequantized"), w.data<float>().ToArray());
    }

    [Fact]
    public void Dequantize_to_bf16_casts_the_code_book_first_as_bitsandbytes_does()
    {
        var (layer, _, _) = Make();
        using var _l = layer;
        var blocks = Nf4.Quantize(layer.Dequantize(ScalarType.Float32).data<float>().ToArray(), 64); // any valid packed weight
        using var q = new Nf4Linear(blocks, Out, In, null, ScalarType.BFloat16);
        var codes = Nf4.Unpack(blocks.Packed, blocks.Count);
        using var codeBf16 = torch.tensor(Nf4Fixture.TableFloats("nf4_code")).to_type(ScalarType.BFloat16).to_type(ScalarType.Float32);
        var book = codeBf16.data<float>().ToArray();
        var expected = codes.Select((c, i) => book[c] * blocks.Absmax[i / 64]).ToArray();
        using var expectedBf16 = torch.tensor(expected).to_type(ScalarType.BFloat16).reshape(Out, In);
        using var got = q.Dequantize(ScalarType.BFloat16);
        Assert.Equal(ScalarType.BFloat16, got.dtype);
        Assert.True(got.to_type(ScalarType.Float32).data<float>().ToArray().SequenceEqual(expectedBf16.to_type(ScalarType.Float32).data<float>().ToArray()));
    }

    [Theory]
    [InlineData(Nf4Linear.DefaultChunkElements)]
    [InlineData(1L)] // the smallest chunk: 2 rows (96 × 2 = 3 blocks of 64)
    [InlineData(500L)]
    public void Forward_and_input_gradient_equal_a_linear_with_the_dequantized_weight(long chunkElements)
    {
        var (layer, reference, bias) = Make();
        using var _l = layer;
        layer.ChunkElements = chunkElements;
        using var g = new Generator(9, CPU);
        using var x = torch.randn(new long[] { 3, 5, In }, generator: g).requires_grad_(true);
        using var x2 = x.detach().clone().requires_grad_(true);
        var y = layer.forward(x);
        var expected = nn.functional.linear(x2, reference, bias);
        Assert.True(y.allclose(expected, rtol: 1e-5, atol: 1e-5), $"max diff {y.sub(expected).abs().max().item<float>()}");
        using var upstream = torch.randn(new long[] { 3, 5, Out }, generator: g);
        y.mul(upstream).sum().backward();
        expected.mul(upstream).sum().backward();
        Assert.True(x.grad!.allclose(x2.grad!, rtol: 1e-5, atol: 1e-5), $"max grad diff {x.grad!.sub(x2.grad!).abs().max().item<float>()}");
        Assert.DoesNotContain(layer.parameters(), p => p.requires_grad);
    }

    [Fact]
    public void A_layer_built_inside_a_dispose_scope_keeps_its_buffers()
    {
        Nf4Linear layer;
        using (NewDisposeScope())
            layer = Make().Layer;
        using var _l = layer;
        using var x = torch.ones(new long[] { 1, In });
        using var y = layer.forward(x);
        Assert.Equal(new long[] { 1, Out }, y.shape);
        Assert.Equal(3840 / 64, layer.Absmax.shape[0]);
    }

    [Fact]
    public void Bf16_compute_runs_in_bf16_and_returns_the_input_dtype()
    {
        var (layer, reference, bias) = Make(ScalarType.BFloat16);
        using var _l = layer;
        using var x = torch.randn(new long[] { 4, In });
        using var y = layer.forward(x);
        Assert.Equal(ScalarType.Float32, y.dtype);
        using var expected = nn.functional.linear(x, reference, bias);
        Assert.True(y.allclose(expected, rtol: 0.05, atol: 0.05));
    }

    [Fact]
    public void LoRA_trains_on_a_4bit_base_and_merge_needs_the_dequantized_base()
    {
        var (layer, reference, bias) = Make();
        var lora = new LoraLinear(layer);
        lora.AddAdapter("default", new LoraConfig { Rank = 4, Alpha = 8, InitWeights = LoraInitWeights.Random });
        Assert.Equal(In, lora.InFeatures);
        Assert.Equal(Out, lora.OutFeatures);
        using var x = torch.randn(new long[] { 2, In });
        var y = lora.forward(x);
        y.sum().backward();
        Assert.NotNull(lora.A("default").grad);
        Assert.NotNull(lora.B("default").grad);
        var error = Assert.Throws<InvalidOperationException>(() => lora.Merge());
        Assert.Contains("Nf4Model.Dequantize", error.Message);

        // Dequantized to float32, the merged layer gives what the adapter gave on the 4-bit base.
        using var holder = new Holder(lora);
        Assert.Equal(new[] { "layer.base_layer" }, Nf4Model.Dequantize(holder, ScalarType.Float32));
        using (no_grad())
        {
            var before = lora.forward(x);
            lora.Merge();
            var after = lora.forward(x);
            Assert.True(after.allclose(before, rtol: 1e-5, atol: 1e-5));
            Assert.True(after.allclose(nn.functional.linear(x, reference.add(lora.DeltaWeight("default")), bias), rtol: 1e-5, atol: 1e-5));
        }
    }

    private sealed class Holder : nn.Module
    {
#pragma warning disable IDE1006
        public nn.Module<Tensor, Tensor> layer;
#pragma warning restore IDE1006

        public Holder(nn.Module<Tensor, Tensor> inner) : base(nameof(Holder))
        {
            layer = inner;
            RegisterComponents();
        }
    }
}
