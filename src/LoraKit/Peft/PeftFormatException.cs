namespace LoraKit.Peft;

/// <summary>
/// An invalid Hugging Face PEFT adapter folder or <c>adapter_config.json</c>. The message is one line
/// naming the file, the key or tensor to blame (when one is), the problem and the fix.
/// </summary>
public sealed class PeftFormatException : Exception
{
    public PeftFormatException(string file, string? key, string problem, string fix, Exception? inner = null)
        : base(Format(file, key, problem, fix), inner)
    {
        File = file;
        Key = key;
        Problem = problem;
        Fix = fix;
    }

    /// <summary>The file that is missing or invalid.</summary>
    public string File { get; }

    /// <summary>The JSON key or tensor name to blame, or null.</summary>
    public string? Key { get; }

    public string Problem { get; }
    public string Fix { get; }

    private static string Format(string file, string? key, string problem, string fix) =>
        key is null ? $"Invalid PEFT adapter '{file}': {problem}; {fix}" : $"Invalid PEFT adapter '{file}': '{key}' {problem}; {fix}";
}
