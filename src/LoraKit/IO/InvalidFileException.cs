namespace LoraKit.IO;

/// <summary>
/// A file LoraKit reads that is missing or malformed (a safetensors file or index, a PEFT adapter folder or its
/// adapter_config.json): one line naming the file, the key or tensor to blame when there is one, and the problem.
/// Commands report it as bad input (exit 2).
/// </summary>
public abstract class InvalidFileException : Exception
{
    private protected InvalidFileException(string message, string file, string? key, string problem, Exception? inner)
        : base(message, inner)
    {
        File = file;
        Key = key;
        Problem = problem;
    }

    /// <summary>The file that is missing or malformed.</summary>
    public string File { get; }

    /// <summary>The JSON key or tensor name to blame, or null when the problem concerns the file as a whole.</summary>
    public string? Key { get; }

    /// <summary>What is wrong, without the file and key.</summary>
    public string Problem { get; }
}
