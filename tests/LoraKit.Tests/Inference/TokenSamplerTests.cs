using System;
using System.Linq;
using LoraKit.Inference;
using TorchSharp;
using Xunit;

namespace LoraKit.Tests.Inference;

/// <summary>
/// The warpers against transformers' definitions worked by hand on p = [0.5, 0.3, 0.15, 0.05]
/// (TopPLogitsWarper: ascending cumulative probabilities 0.05, 0.2, 0.5, 1.0; tokens with cumulative ≤ 1 − p go).
/// </summary>
public sealed class TokenSamplerTests
{
    private static readonly double[] P = { 0.5, 0.3, 0.15, 0.05 };

    private static double[] Probabilities(GenerationOptions options)
    {
        using var logits = torch.tensor(P.Select(x => (float)Math.Log(x)).ToArray());
        using var probs = TokenSampler.Probabilities(logits, options);
        return probs.data<float>().ToArray().Select(x => (double)x).ToArray();
    }

    private static void Near(double[] expected, double[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++) Assert.InRange(Math.Abs(expected[i] - actual[i]), 0, 1e-6);
    }

    [Fact]
    public void Top_p_keeps_the_smallest_set_reaching_p()
    {
        Near(new[] { 0.5 / 0.8, 0.3 / 0.8, 0, 0 }, Probabilities(new GenerationOptions { TopP = 0.75 }));   // drops 0.05 and 0.15 (cum 0.2 ≤ 0.25)
        Near(new[] { 0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0 }, Probabilities(new GenerationOptions { TopP = 0.9 }));
        Near(new[] { 1.0, 0, 0, 0 }, Probabilities(new GenerationOptions { TopP = 0.4 }));  // cum 0.5 ≤ 0.6: only the top token stays
        Near(new[] { 1.0, 0, 0, 0 }, Probabilities(new GenerationOptions { TopP = 1e-9 })); // never fewer than one token
    }

    [Fact]
    public void Top_k_and_temperature_follow_transformers()
    {
        Near(new[] { 0.5 / 0.8, 0.3 / 0.8, 0, 0 }, Probabilities(new GenerationOptions { TopK = 2 }));
        Near(P, Probabilities(new GenerationOptions { TopK = 10 }));
        var sqrt = P.Select(x => Math.Sqrt(x)).ToArray();
        Near(sqrt.Select(x => x / sqrt.Sum()).ToArray(), Probabilities(new GenerationOptions { Temperature = 2 }));
        // Temperature first, then top-k: top-2 of the tempered distribution.
        Near(new[] { sqrt[0] / (sqrt[0] + sqrt[1]), sqrt[1] / (sqrt[0] + sqrt[1]), 0, 0 }, Probabilities(new GenerationOptions { Temperature = 2, TopK = 2 }));
    }

    [Fact]
    public void Greedy_takes_the_argmax_and_sampling_repeats_with_its_seed()
    {
        using var logits = torch.tensor(new float[] { 0.1f, 2f, 2f, -1f });
        using (var greedy = new TokenSampler(new GenerationOptions())) Assert.Equal(1, greedy.Next(logits)); // first of equal maxima
        int[] Draw(long seed)
        {
            using var s = new TokenSampler(new GenerationOptions { Temperature = 1.0, Seed = seed });
            return Enumerable.Range(0, 64).Select(_ => s.Next(logits)).ToArray();
        }
        Assert.Equal(Draw(7), Draw(7));
        Assert.NotEqual(Draw(7), Draw(8));
        Assert.Contains(2, Draw(7));
        Assert.Contains(1, Draw(7));
    }

    [Theory]
    [InlineData(0.0, null, 5)]
    [InlineData(-1.0, null, null)]
    [InlineData(null, 0.0, null)]
    [InlineData(null, 1.5, null)]
    public void Invalid_settings_are_refused(double? temperature, double? topP, int? topK)
    {
        Assert.Throws<ArgumentException>(() => new GenerationOptions { Temperature = temperature, TopP = topP, TopK = topK }.Validate());
    }
}
