using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace LoraKit.IO;

/// <summary>Tensor values as managed arrays.</summary>
internal static class TensorData
{
    /// <summary>Elements copied per span: TorchSharp's <c>bytes</c> span is limited to int.MaxValue bytes.</summary>
    private const long ChunkElements = 1L << 28;

    /// <summary>
    /// The values of <paramref name="t"/> as float32, row-major, copied at memory speed. (TorchSharp's
    /// <c>data&lt;float&gt;().ToArray()</c> walks an index iterator element by element for two or more dimensions: for a
    /// 135 M-parameter model that was most of a GGUF export.) Every intermediate is disposed here: left to the GC, a
    /// float32 copy of each weight stayed alive while the next one was converted.
    /// </summary>
    public static float[] Floats(Tensor t)
    {
        using var scope = NewDisposeScope();
        var flat = t.detach().to_type(ScalarType.Float32).cpu().contiguous().reshape(-1);
        var n = flat.NumberOfElements;
        var result = new float[n];
        for (long start = 0; start < n; start += ChunkElements)
        {
            var count = Math.Min(ChunkElements, n - start);
            var part = flat.narrow(0, start, count);
            MemoryMarshal.Cast<byte, float>(part.bytes).CopyTo(result.AsSpan().Slice((int)start, (int)count));
        }
        return result;
    }
}
