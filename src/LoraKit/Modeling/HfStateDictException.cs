namespace LoraKit.Modeling;

/// <summary>A shape that did not fit: the parameter's name, the model's shape and the given tensor's.</summary>
public sealed record ShapeMismatch(string Name, long[] Expected, long[] Got)
{
    public override string ToString() => $"{Name} expected [{string.Join(", ", Expected)}], got [{string.Join(", ", Got)}]";
}

/// <summary>
/// A Hugging Face state dict did not fit the model: lists by name every missing weight, every unexpected
/// weight and every shape mismatch (nothing is copied when this is thrown).
/// </summary>
public sealed class HfStateDictException : InvalidOperationException
{
    public HfStateDictException(string model, IReadOnlyList<string> missing, IReadOnlyList<string> unexpected, IReadOnlyList<ShapeMismatch> mismatched)
        : base(Describe(model, missing, unexpected, mismatched))
    {
        Missing = missing;
        Unexpected = unexpected;
        ShapeMismatches = mismatched;
    }

    private HfStateDictException(string message, HfStateDictException from) : base(message, from)
    {
        Missing = from.Missing;
        Unexpected = from.Unexpected;
        ShapeMismatches = from.ShapeMismatches;
    }

    /// <summary>The same findings, with the message naming the weights file and how to fix it.</summary>
    internal HfStateDictException WithWeights(string weightsFile) =>
        new($"{Message.TrimEnd('.')} (weights: {weightsFile}); take config.json and the weights from the same model", this);

    public IReadOnlyList<string> Missing { get; }
    public IReadOnlyList<string> Unexpected { get; }
    public IReadOnlyList<ShapeMismatch> ShapeMismatches { get; }

    private static string Describe(string model, IReadOnlyList<string> missing, IReadOnlyList<string> unexpected, IReadOnlyList<ShapeMismatch> mismatched)
    {
        var parts = new List<string>();
        if (missing.Count > 0) parts.Add($"{missing.Count} missing: {string.Join(", ", missing)}");
        if (unexpected.Count > 0) parts.Add($"{unexpected.Count} unexpected: {string.Join(", ", unexpected)}");
        if (mismatched.Count > 0) parts.Add($"{mismatched.Count} with the wrong shape: {string.Join("; ", mismatched.Select(m => m.ToString()))}");
        return $"The weights do not fit {model}: {string.Join("; ", parts)}.";
    }
}
