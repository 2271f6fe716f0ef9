namespace LoraKit.SafeTensors;

/// <summary>
/// A safetensors file (or sharded checkpoint index) that is malformed. The message is one line naming
/// the file, the tensor when one is to blame, and what is wrong.
/// </summary>
public sealed class SafeTensorsFormatException : Exception
{
    public SafeTensorsFormatException(string file, string? tensor, string problem, Exception? inner = null)
        : base(Format(file, tensor, problem), inner)
    {
        File = file;
        Tensor = tensor;
        Problem = problem;
    }

    /// <summary>The file that is malformed (a safetensors file, a shard, or an index).</summary>
    public string File { get; }

    /// <summary>The tensor the problem concerns, or null when it concerns the file as a whole.</summary>
    public string? Tensor { get; }

    /// <summary>What is wrong, without the file and tensor.</summary>
    public string Problem { get; }

    private static string Format(string file, string? tensor, string problem) =>
        tensor is null
            ? $"Invalid safetensors file '{file}': {problem}"
            : $"Invalid safetensors file '{file}', tensor '{tensor}': {problem}";
}
