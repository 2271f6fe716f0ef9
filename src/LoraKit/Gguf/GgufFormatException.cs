using LoraKit.IO;

namespace LoraKit.Gguf;

/// <summary>
/// A GGUF file that is malformed, or that LoraKit will not read. The message is one line naming the file, the
/// metadata key or tensor when one is to blame, what is wrong and, where there is one, the fix.
/// </summary>
public sealed class GgufFormatException : InvalidFileException
{
    public GgufFormatException(string file, string? key, string problem, Exception? inner = null)
        : base(key is null ? $"Invalid GGUF file '{file}': {problem}" : $"Invalid GGUF file '{file}', '{key}': {problem}", file, key, problem, inner)
    {
    }
}
