using System;
using System.Linq;
using LoraKit.Models;
using Xunit;

namespace LoraKit.Core.Tests;

/// <summary>
/// Inverse frequencies and attention factors of every rope_type against values computed outside LoraKit from
/// the published formulas (transformers' modeling_rope_utils): a Python 3.11 script evaluating each formula
/// in double precision with <c>math</c> (the "formula" values below; LoraKit's float32 results must be within
/// float32 rounding of them).
/// </summary>
public class RopeMathTests
{
    private static LlamaDimensions Dims(int headDim, double theta, RopeScaling? rope, int maxPositions = 2048) => new()
    {
        HiddenSize = headDim * 4, IntermediateSize = 8, Layers = 1, AttentionHeads = 4, VocabSize = 8,
        RopeTheta = theta, RopeScaling = rope, MaxPositionEmbeddings = maxPositions,
    };

    private static void Near(double expected, float actual, int index, double relative = 5e-7) =>
        Assert.True(Math.Abs(actual - expected) <= relative * Math.Abs(expected), $"inv_freq[{index}] = {actual:R}, formula gives {expected:R}");

    private static void AllNear(float[] actual, params (int Index, double Value)[] expected)
    {
        foreach (var (i, v) in expected) Near(v, actual[i], i);
    }

    [Fact]
    public void Llama3_1_8b_bands_match_the_formula()
    {
        // Llama-3.1-8B: head_dim 128, theta 500000, factor 8, low 1, high 4, original context 8192.
        // Index 20 is a high frequency (kept), 30 in the smoothed band, 40+ low frequencies (divided by 8).
        var d = HfConfig.Load(TestFiles.Config("llama3.1-8b"));
        var inv = RopeMath.InverseFrequencies(d, 16);
        Assert.Equal(64, inv.Length);
        AllNear(inv, (0, 1.0), (10, 0.12868737343265052), (20, 0.016560440080994446), (30, 0.0013718935677611381),
            (40, 3.428102195952591e-05), (45, 1.2297638677963614e-05), (50, 4.411534674558404e-06), (63, 3.068925988914511e-07));
        Assert.Equal(1.0, RopeMath.AttentionFactor(d));
    }

    [Fact]
    public void Yarn_ramp_matches_the_formula_and_scales_cos_sin()
    {
        // Qwen2.5's long-context recipe (factor 4, original 32768), written so that transformers versions agree:
        // max_position_embeddings = 4 · 32768.
        var d = Dims(128, 1_000_000.0, new RopeScaling { Type = RopeType.Yarn, Factor = 4, OriginalMaxPositionEmbeddings = 32768 }, 131072);
        AllNear(RopeMath.InverseFrequencies(d, 16), (0, 1.0), (10, 0.1154781984689458), (20, 0.01333521432163324), (30, 0.0010643609812470017),
            (40, 4.445698525097307e-05), (45, 1.5107409755953319e-05), (50, 5.133812566142866e-06), (63, 3.102344401879299e-07));
        Assert.Equal(1.138629436111989, RopeMath.AttentionFactor(d), 12); // 0.1·ln 4 + 1
    }

    [Fact]
    public void Yarn_without_truncation_and_with_mscale()
    {
        var d = Dims(128, 10000.0, new RopeScaling { Type = RopeType.Yarn, Factor = 8, Truncate = false }, 4096);
        AllNear(RopeMath.InverseFrequencies(d, 16), (0, 1.0), (10, 0.23713737056616555), (20, 0.056234132519034905), (30, 0.008947669055942235),
            (40, 0.0009728577591530727), (45, 0.00019399485143149734), (50, 9.373677616655697e-05), (63, 1.4434774808618228e-05));
        var m = Dims(128, 10000.0, new RopeScaling { Type = RopeType.Yarn, Factor = 40, Mscale = 0.707, MscaleAllDim = 1.0 }, 4096 * 40);
        Assert.Equal(0.9210423553163399, RopeMath.AttentionFactor(m), 12); // (0.1·0.707·ln 40 + 1) / (0.1·ln 40 + 1)
        var given = Dims(128, 10000.0, new RopeScaling { Type = RopeType.Yarn, Factor = 40, AttentionFactor = 1.5 }, 4096 * 40);
        Assert.Equal(1.5, RopeMath.AttentionFactor(given));
    }

    [Fact]
    public void Dynamic_ntk_grows_the_base_only_beyond_max_positions()
    {
        var d = Dims(64, 10000.0, new RopeScaling { Type = RopeType.Dynamic, Factor = 2 }, 2048);
        // At or below 2048 positions: the plain frequencies.
        Assert.Equal(RopeMath.Default(64, 10000.0), RopeMath.InverseFrequencies(d, 2048));
        // 4096 positions: base = 10000 · (2·4096/2048 − 1)^(64/62).
        AllNear(RopeMath.InverseFrequencies(d, 4096), (0, 1.0), (1, 0.7237840223942559), (10, 0.03945389803352641), (31, 4.445071440544414e-05));
        Assert.True(RopeMath.DependsOnSequence(d));
    }

    [Fact]
    public void Longrope_switches_to_long_factors_beyond_the_original_context()
    {
        var shortFactor = Enumerable.Repeat(1.0, 32).ToArray();
        var longFactor = Enumerable.Range(0, 32).Select(i => 1.0 + 0.1 * i).ToArray();
        var d = Dims(64, 10000.0, new RopeScaling
        {
            Type = RopeType.LongRope, Factor = 32, OriginalMaxPositionEmbeddings = 4096, ShortFactor = shortFactor, LongFactor = longFactor,
        }, 131072);
        Assert.Equal(RopeMath.Default(64, 10000.0), RopeMath.InverseFrequencies(d, 4096));
        AllNear(RopeMath.InverseFrequencies(d, 4097), (0, 1.0), (1, 0.6817220084840507), (10, 0.028117066259517452), (31, 3.252491297959327e-05));
        Assert.Equal(1.1902380714238083, RopeMath.AttentionFactor(d), 12); // √(1 + ln 32 / ln 4096)
    }

    /// <summary>
    /// transformers computes inv_freq in float32 torch ops; these values come from torch 1.13.1 (Debian's
    /// python3-torch) running the formulas written as modeling_rope_utils writes them (arange(...).float() / dim,
    /// base ** that, the llama3/yarn blends, dynamic NTK with its 0-d int64 sequence-length tensor). LoraKit must
    /// agree to 1 ulp of float32 (torch's vectorised pow is not always correctly rounded).
    /// </summary>
    [Theory]
    [InlineData("llama3", new[] { 0, 10, 20, 30, 40, 45, 50, 63 }, new[] { 1.0, 0.12868738174438477, 0.016560440883040428, 0.0013718936825171113, 3.428102354519069e-05, 1.2297638932068367e-05, 4.411534519022098e-06, 3.068925877869333e-07 })]
    [InlineData("yarn", new[] { 0, 10, 20, 30, 40, 45, 50, 63 }, new[] { 1.0, 0.11547820270061493, 0.01333521492779255, 0.0010643609566614032, 4.4456985051510856e-05, 1.5107409126358107e-05, 5.133812464919174e-06, 3.102344408034696e-07 })]
    [InlineData("yarn-untruncated", new[] { 0, 10, 20, 30, 40, 45, 50, 63 }, new[] { 1.0, 0.23713736236095428, 0.05623412877321243, 0.008947668597102165, 0.0009728576405905187, 0.00019399476877879351, 9.373677312396467e-05, 1.4434774129767902e-05 })]
    [InlineData("dynamic", new[] { 0, 1, 10, 31 }, new[] { 1.0, 0.7237839698791504, 0.0394538976252079, 4.445071317604743e-05 })]
    [InlineData("longrope", new[] { 0, 1, 10, 31 }, new[] { 1.0, 0.6817219853401184, 0.028117064386606216, 3.2524916605325416e-05 })]
    [InlineData("default", new[] { 0, 10, 20, 30, 40, 45, 50, 63 }, new[] { 1.0, 0.11547820270061493, 0.01333521492779255, 0.0015399265103042126, 0.00017782794020604342, 6.042963650543243e-05, 2.0535249859676696e-05, 1.2409377632138785e-06 })]
    public void Float32_results_match_torch_to_one_ulp(string kind, int[] indices, double[] torchValues)
    {
        var (d, sequence) = kind switch
        {
            "llama3" => (HfConfig.Load(TestFiles.Config("llama3.1-8b")), 16L),
            "yarn" => (Dims(128, 1_000_000.0, new RopeScaling { Type = RopeType.Yarn, Factor = 4, OriginalMaxPositionEmbeddings = 32768 }, 131072), 16L),
            "yarn-untruncated" => (Dims(128, 10000.0, new RopeScaling { Type = RopeType.Yarn, Factor = 8, Truncate = false }, 4096), 16L),
            "dynamic" => (Dims(64, 10000.0, new RopeScaling { Type = RopeType.Dynamic, Factor = 2 }, 2048), 4096L),
            "longrope" => (Dims(64, 10000.0, new RopeScaling
            {
                Type = RopeType.LongRope, Factor = 32, OriginalMaxPositionEmbeddings = 4096,
                ShortFactor = Enumerable.Repeat(1.0, 32).ToArray(), LongFactor = Enumerable.Range(0, 32).Select(i => 1.0 + 0.1 * i).ToArray(),
            }, 131072), 4097L),
            _ => (Dims(128, 1_000_000.0, null), 16L),
        };
        var inv = RopeMath.InverseFrequencies(d, sequence);
        for (var k = 0; k < indices.Length; k++)
        {
            var expected = (float)torchValues[k];
            var actual = inv[indices[k]];
            var ulps = Math.Abs(BitConverter.SingleToInt32Bits(actual) - BitConverter.SingleToInt32Bits(expected));
            Assert.True(ulps <= 1, $"{kind} inv_freq[{indices[k]}] = {actual:R}, torch float32 gives {expected:R} ({ulps} ulp apart)");
        }
    }

    [Fact]
    public void Linear_divides_every_frequency_by_the_factor()
    {
        var d = Dims(16, 10000.0, new RopeScaling { Type = RopeType.Linear, Factor = 4 });
        var plain = RopeMath.Default(16, 10000.0);
        var scaled = RopeMath.InverseFrequencies(d, 16);
        for (var i = 0; i < plain.Length; i++) Assert.Equal(plain[i] / 4f, scaled[i]);
    }

    [Fact]
    public void Explicit_head_dim_sets_the_rotary_dimension()
    {
        // Llama-3.2-1B: hidden 2048 / 32 heads = 64, and head_dim 64 is written explicitly; Qwen3 uses 128 with hidden/heads = 64.
        var d = Dims(16, 10000.0, null) with { HeadDim = 8 };
        Assert.Equal(4, RopeMath.InverseFrequencies(d, 1).Length);
    }
}
