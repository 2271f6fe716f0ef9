using TorchSharp;
using static TorchSharp.torch;

namespace LoraKit.Inference;

/// <summary>
/// Picks the next token from the last position's logits as transformers does: greedy = argmax (the first of equal
/// maxima); sampling = temperature, then top-k (<c>TopKLogitsWarper</c>: scores below the k-th largest become −∞),
/// then top-p (<c>TopPLogitsWarper</c>: sort ascending, drop the tokens whose cumulative probability is ≤ 1 − p,
/// always keep the most likely one), softmax, one multinomial draw from this sampler's own generator.
/// </summary>
public sealed class TokenSampler : IDisposable
{
    private readonly GenerationOptions _options;
    private readonly Generator? _generator;

    public TokenSampler(GenerationOptions options)
    {
        _options = options ?? throw new ArgumentNullException(nameof(options));
        options.Validate();
        if (!options.IsGreedy) _generator = new Generator(unchecked((ulong)(options.Seed ?? 0)), CPU);
    }

    /// <summary>The next token for <paramref name="logits"/> [vocab] (any device, any float type).</summary>
    public int Next(Tensor logits)
    {
        using var scope = torch.NewDisposeScope();
        var scores = logits.to(ScalarType.Float32).cpu();
        if (_options.IsGreedy) return (int)scores.argmax().item<long>();
        return (int)torch.multinomial(Probabilities(scores, _options), 1, false, _generator).item<long>();
    }

    /// <summary>The sampling distribution over the vocabulary after temperature, top-k and top-p ([vocab], float32).</summary>
    public static Tensor Probabilities(Tensor logits, GenerationOptions options)
    {
        using var scope = torch.NewDisposeScope();
        var scores = logits.to(ScalarType.Float32);
        var temperature = options.Temperature is double t && t > 0 ? t : 1.0;
        if (temperature != 1.0) scores = scores / temperature;
        var vocab = scores.shape[^1];
        if (options.TopK is int k && k < vocab)
        {
            var kth = scores.topk(k).values.narrow(-1, k - 1, 1);
            scores = scores.masked_fill(scores.lt(kth), double.NegativeInfinity);
        }
        if (options.TopP is double p && p < 1.0)
        {
            var (sorted, order) = scores.sort(descending: false);
            var cumulative = sorted.softmax(-1).cumsum(-1);
            var remove = cumulative.le(1.0 - p);
            remove[-1] = torch.tensor(false); // min_tokens_to_keep = 1: the most likely token stays
            var removeAtIndex = remove.scatter(-1, order, remove);
            scores = scores.masked_fill(removeAtIndex, double.NegativeInfinity);
        }
        return scores.softmax(-1).MoveToOuterDisposeScope();
    }

    public void Dispose() => _generator?.Dispose();
}
