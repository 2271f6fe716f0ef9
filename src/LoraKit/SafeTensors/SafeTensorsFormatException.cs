using LoraKit.IO;

namespace LoraKit.SafeTensors;

/// <summary>
/// A safetensors file (or sharded checkpoint index) that is malformed. The message is one line naming
/// the file (a safetensors file, a shard, or an index), the tensor when one is to blame, and what is wrong.
/// </summary>
public sealed class SafeTensorsFormatException : InvalidFileException
{
    public SafeTensorsFormatException(string file, string? tensor, string problem, Exception? inner = null)
        : base(tensor is null ? $"Invalid safetensors file '{file}': {problem}" : $"Invalid safetensors file '{file}', tensor '{tensor}': {problem}",
            file, tensor, problem, inner)
    {
    }

    /// <summary>The tensor the problem concerns (<see cref="InvalidFileException.Key"/>), or null when it concerns the file as a whole.</summary>
    public string? Tensor => Key;
}
