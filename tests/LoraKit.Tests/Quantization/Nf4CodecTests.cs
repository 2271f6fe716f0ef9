using System;
using System.Linq;
using LoraKit.Quantization;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace LoraKit.Tests.Quantization;

/// <summary>NF4 against bitsandbytes' own outputs: bit for bit on the fixture, and its error bound on N(0,1).</summary>
public class Nf4CodecTests
{
    private static int[] Bits(float[] values) => values.Select(BitConverter.SingleToInt32Bits).ToArray();

    [Fact]
    public void Tables_are_bitsandbytes_code_book_midpoints_and_dynamic_map()
    {
        Assert.Equal(Bits(Nf4Fixture.TableFloats("nf4_code")), Bits(Nf4.CodeBook.ToArray()));
        Assert.Equal(Bits(Nf4Fixture.TableFloats("midpoints_float32_default_backend")), Bits(Nf4.Midpoints.ToArray()));
        Assert.Equal(Bits(Nf4Fixture.TableFloats("dynamic_map_8bit")), Bits(Nf4.DynamicMap.ToArray()));
    }

    [Fact]
    public void Quantize_gives_bitsandbytes_packed_bytes_absmax_codes_and_dequantized_values()
    {
        var input = Nf4Fixture.Floats("input");
        var blocks = Nf4.Quantize(input, 64);
        var expectedPacked = Nf4Fixture.Bytes("packed");
        Assert.Equal(Nf4Fixture.Hex(Nf4Fixture.Randn.GetProperty("packed_hex").GetString()!), expectedPacked);
        Assert.Equal(expectedPacked, blocks.Packed);
        Assert.Equal(Bits(Nf4Fixture.Floats("absmax")), Bits(blocks.Absmax));
        Assert.Equal(Nf4Fixture.Bytes("codes"), Nf4.Unpack(blocks.Packed, input.Length));
        var dequantized = Nf4.Dequantize(blocks.Packed, blocks.Absmax, input.Length, 64);
        Assert.Equal(Bits(Nf4Fixture.Floats("dequantized")), Bits(dequantized));
    }

    [Fact]
    public void Double_quantization_gives_bitsandbytes_offset_codes_nested_absmax_and_values()
    {
        var absmax = Nf4Fixture.Floats("absmax");
        var offset = Nf4Checkpoint.TorchMean(absmax);
        Assert.Equal(BitConverter.SingleToInt32Bits(Nf4Fixture.Floats("dq_offset")[0]), BitConverter.SingleToInt32Bits(offset));
        var nested = Nf4.QuantizeAbsmax(absmax, offset);
        Assert.Equal(Nf4Fixture.Bytes("dq_absmax_codes"), nested.Codes);
        Assert.Equal(Nf4Fixture.Hex(Nf4Fixture.Randn.GetProperty("double_quant").GetProperty("absmax_codes_hex").GetString()!), nested.Codes);
        Assert.Equal(Bits(Nf4Fixture.Floats("dq_nested_absmax")), Bits(nested.NestedAbsmax));
        var restored = Nf4.DequantizeAbsmax(nested);
        Assert.Equal(Bits(Nf4Fixture.Floats("dq_absmax_dequantized")), Bits(restored));
        var values = Nf4.Dequantize(Nf4Fixture.Bytes("packed"), restored, absmax.Length * 64L, 64);
        Assert.Equal(Bits(Nf4Fixture.Floats("dq_dequantized")), Bits(values));
    }

    [Fact]
    public void Quant_state_json_is_bitsandbytes_as_dict_packed()
    {
        var input = Nf4Fixture.Floats("input");
        var entries = Nf4Checkpoint.Entries("w", Nf4.Quantize(input, 64), new long[] { 256, 64 }, "float32", doubleQuant: true);
        var state = entries.Single(e => e.Name == "w.quant_state.bitsandbytes__nf4");
        Assert.Equal(Nf4Fixture.Randn.GetProperty("double_quant").GetProperty("quant_state_json").GetString(), System.Text.Encoding.UTF8.GetString(state.Data.Span));
        Assert.Equal(new[] { "w", "w.absmax", "w.quant_map", "w.nested_absmax", "w.nested_quant_map", "w.quant_state.bitsandbytes__nf4" }, entries.Select(e => e.Name));
        Assert.Equal(new long[] { 8192, 1 }, entries[0].Shape);
    }

    [Theory]
    [InlineData(2.600919723510742, "2.600919723510742")]
    [InlineData(1e-05, "1e-05")]
    [InlineData(0.0001, "0.0001")]
    [InlineData(123.0, "123.0")]
    [InlineData(1e16, "1e+16")]
    [InlineData(-0.5, "-0.5")]
    [InlineData(1.5e-07, "1.5e-07")]
    public void Python_float_repr(double value, string expected) => Assert.Equal(expected, PythonFloat.Repr(value));

    [Fact]
    public void A_value_on_a_midpoint_takes_the_lower_code_and_an_odd_count_pads_with_code_7()
    {
        // Block absmax 1, so each value is its own scaled value; midpoints[i] has exactly i midpoints below it.
        var mids = Nf4Fixture.TableFloats("midpoints_float32_default_backend");
        var values = new[] { 1f }.Concat(mids).ToArray(); // 16 values
        var codes = Nf4.Unpack(Nf4.Quantize(values, 32).Packed, values.Length);
        Assert.Equal(15, codes[0]);
        for (var i = 0; i < mids.Length; i++) Assert.Equal(i, codes[i + 1]);
        // Just above a midpoint takes the upper code.
        Assert.Equal(8, Nf4.Encode(BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(mids[7]) + 1)));

        var odd = Nf4.Quantize(new[] { 1f, -1f, 0f }, 64);
        Assert.Equal(new byte[] { 0xF0, 0x77 }, odd.Packed); // codes 15, 0 | 7, pad 7
    }

    [Fact]
    public void Round_trip_error_of_a_1024x1024_normal_tensor_is_within_bitsandbytes_bound()
    {
        using var generator = new Generator(20251127, CPU);
        using var x = torch.randn(new long[] { 1024, 1024 }, generator: generator);
        var values = x.data<float>().ToArray();
        var blocks = Nf4.Quantize(values, 64);
        var back = Nf4.Dequantize(blocks.Packed, blocks.Absmax, values.Length, 64);
        var error = values.Zip(back, (a, b) => Math.Abs((double)a - b)).Average();
        // bitsandbytes tests/test_functional.py: 0.072798 ± 7 × 0.000074 for NF4, blocksize 64.
        Assert.InRange(error, 0.072798 - 7 * 0.000074, 0.072798 + 7 * 0.000074);
    }

    [Fact]
    public void Block_sizes_outside_32_to_4096_or_not_powers_of_two_are_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Nf4.Quantize(new float[64], 16));
        Assert.Throws<ArgumentOutOfRangeException>(() => Nf4.Quantize(new float[64], 96));
        Assert.Throws<ArgumentOutOfRangeException>(() => Nf4.Quantize(new float[64], 8192));
        Assert.Equal(2, Nf4.Quantize(new float[8192], 4096).Absmax.Length);
    }
}
