using LoraKit.IO;

namespace LoraKit.Peft;

/// <summary>
/// An invalid Hugging Face PEFT adapter folder or <c>adapter_config.json</c>. The message is one line
/// naming the file, the key or tensor to blame (when one is), the problem and the fix.
/// </summary>
public sealed class PeftFormatException : InvalidFileException
{
    public PeftFormatException(string file, string? key, string problem, string fix, Exception? inner = null)
        : base(key is null ? $"Invalid PEFT adapter '{file}': {problem}; {fix}" : $"Invalid PEFT adapter '{file}': '{key}' {problem}; {fix}",
            file, key, problem, inner)
    {
        Fix = fix;
    }

    public string Fix { get; }
}
