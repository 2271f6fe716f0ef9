using System.Buffers.Binary;

namespace LoraKit.Gguf;

/// <summary>
/// float32 ↔ the stored tensor types, bit for bit as llama.cpp's gguf-py writes them (<c>gguf/quants.py</c>):
/// float16 by IEEE round to nearest even (numpy's astype), bfloat16 by rounding the upper half to nearest even
/// (NaN kept quiet), Q8_0 as ggml's <c>quantize_row_q8_0_ref</c>: per block of 32, d = max|x| / 127 (float16),
/// q = round(x / d) away from zero.
/// </summary>
public static class GgmlConvert
{
    public const int Q8Block = 32;
    private const int Q8Bytes = 34;

    /// <summary>The bytes of <paramref name="values"/> (a row-major [rows, columns] matrix or a vector) stored as <paramref name="type"/>.</summary>
    public static byte[] Encode(ReadOnlySpan<float> values, GgmlType type)
    {
        switch (type)
        {
            case GgmlType.F32:
                {
                    if (BitConverter.IsLittleEndian) return System.Runtime.InteropServices.MemoryMarshal.AsBytes(values).ToArray();
                    var bytes = new byte[values.Length * 4];
                    for (var i = 0; i < values.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), values[i]);
                    return bytes;
                }
            case GgmlType.F16:
                {
                    var bytes = new byte[values.Length * 2];
                    for (var i = 0; i < values.Length; i++) BinaryPrimitives.WriteHalfLittleEndian(bytes.AsSpan(i * 2), (Half)values[i]);
                    return bytes;
                }
            case GgmlType.BF16:
                {
                    var bytes = new byte[values.Length * 2];
                    for (var i = 0; i < values.Length; i++) BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(i * 2), ToBFloat16(values[i]));
                    return bytes;
                }
            case GgmlType.Q8_0:
                {
                    if (values.Length % Q8Block != 0) throw new ArgumentException($"Q8_0 needs whole blocks of {Q8Block} values; got {values.Length}", nameof(values));
                    var bytes = new byte[values.Length / Q8Block * Q8Bytes];
                    for (var b = 0; b < values.Length / Q8Block; b++)
                    {
                        var block = values.Slice(b * Q8Block, Q8Block);
                        var amax = 0f;
                        foreach (var v in block) amax = Math.Max(amax, Math.Abs(v));
                        var d = amax / 127f;
                        var id = d != 0f ? 1f / d : 0f;
                        var o = bytes.AsSpan(b * Q8Bytes, Q8Bytes);
                        BinaryPrimitives.WriteHalfLittleEndian(o, (Half)d);
                        for (var j = 0; j < Q8Block; j++)
                            o[2 + j] = unchecked((byte)(sbyte)MathF.Round(block[j] * id, MidpointRounding.AwayFromZero));
                    }
                    return bytes;
                }
            default:
                throw new ArgumentOutOfRangeException(nameof(type), type, "LoraKit writes F32, F16, BF16 and Q8_0 tensors");
        }
    }

    /// <summary>The float32 values of <paramref name="bytes"/> stored as <paramref name="type"/> (F32, F16, BF16, Q8_0).</summary>
    public static float[] Decode(ReadOnlySpan<byte> bytes, GgmlType type, long elements)
    {
        var result = new float[elements];
        switch (type)
        {
            case GgmlType.F32:
                for (var i = 0; i < elements; i++) result[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes[(i * 4)..]);
                break;
            case GgmlType.F16:
                for (var i = 0; i < elements; i++) result[i] = (float)BinaryPrimitives.ReadHalfLittleEndian(bytes[(i * 2)..]);
                break;
            case GgmlType.BF16:
                for (var i = 0; i < elements; i++) result[i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(bytes[(i * 2)..]) << 16);
                break;
            case GgmlType.Q8_0:
                for (var b = 0; b < elements / Q8Block; b++)
                {
                    var o = bytes.Slice(b * Q8Bytes, Q8Bytes);
                    var d = (float)BinaryPrimitives.ReadHalfLittleEndian(o);
                    for (var j = 0; j < Q8Block; j++) result[b * Q8Block + j] = (sbyte)o[2 + j] * d;
                }
                break;
            default:
                throw new NotSupportedException($"LoraKit reads the values of F32, F16, BF16 and Q8_0 tensors, not {type}");
        }
        return result;
    }

    /// <summary>bfloat16 bits of <paramref name="x"/>: round to nearest even on the upper 16 bits; a NaN stays a quiet NaN (gguf-py's __compute_fp32_to_bf16).</summary>
    public static ushort ToBFloat16(float x)
    {
        var n = BitConverter.SingleToUInt32Bits(x);
        if ((n & 0x7fffffff) > 0x7f800000) return (ushort)(((n & 0xffff0000) | (64u << 16)) >> 16);
        return (ushort)((n + (0x7fff + ((n >> 16) & 1))) >> 16);
    }
}
