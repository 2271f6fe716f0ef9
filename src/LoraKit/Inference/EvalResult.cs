namespace LoraKit.Inference;

/// <summary>One line's score: its 1-based <see cref="Line"/> (0 for examples not read from a file), scored tokens, mean loss (null when truncation left nothing to score).</summary>
public sealed record EvalExample(int Line, int Tokens, double? MeanLoss, bool Truncated);

/// <summary>
/// The token-weighted mean next-token loss (natural log) of one model — the base (<see cref="Adapter"/> null) or
/// an adapter — over every example, its perplexity e^loss, and each example's own figures.
/// </summary>
public sealed record EvalResult(string? Adapter, double MeanLoss, long Tokens, int TruncatedExamples, IReadOnlyList<EvalExample> Examples)
{
    public double Perplexity => Math.Exp(MeanLoss);
}
