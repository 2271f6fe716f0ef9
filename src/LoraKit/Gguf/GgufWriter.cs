using LoraKit.IO;

namespace LoraKit.Gguf;

/// <summary>
/// One tensor to write: its GGUF name, its dimensions in ggml order (<c>ne[0]</c> = the innermost, i.e. a PyTorch
/// [out, in] matrix is written as [in, out]), its type, and the bytes, produced when the writer reaches it so
/// that a large model is never held twice.
/// </summary>
public sealed record GgufTensorEntry(string Name, long[] Dimensions, GgmlType Type, long ByteLength, Func<byte[]> Data);

/// <summary>
/// Writes a GGUF v3 file (ggml's gguf.cpp layout): magic, version, counts, metadata, tensor infos, then each tensor's
/// data at an offset aligned to <see cref="Alignment"/> (llama.cpp's default 32, so general.alignment is not written).
/// The file is written atomically.
/// </summary>
public static class GgufWriter
{
    public const uint Magic = 0x46554747; // "GGUF" read as a little-endian uint32
    public const uint Version = 3;
    public const int Alignment = 32;

    /// <summary>ggml's GGML_MAX_NAME (64, with the terminating zero): the longest tensor name llama.cpp loads.</summary>
    public const int MaxTensorNameBytes = 63;

    public static void Write(string path, IReadOnlyList<KeyValuePair<string, GgufValue>> metadata, IReadOnlyList<GgufTensorEntry> tensors)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        ArgumentNullException.ThrowIfNull(tensors);
        var keys = new HashSet<string>(StringComparer.Ordinal);
        foreach (var kv in metadata)
            if (!keys.Add(kv.Key)) throw new ArgumentException($"metadata key {kv.Key} is given twice", nameof(metadata));
        var names = new HashSet<string>(StringComparer.Ordinal);
        var offsets = new long[tensors.Count];
        long offset = 0;
        for (var i = 0; i < tensors.Count; i++)
        {
            var t = tensors[i];
            if (!names.Add(t.Name)) throw new ArgumentException($"tensor {t.Name} is given twice", nameof(tensors));
            if (Encoding.UTF8.GetByteCount(t.Name) > MaxTensorNameBytes)
                throw new ArgumentException($"tensor name {t.Name} is longer than llama.cpp's {MaxTensorNameBytes} bytes", nameof(tensors));
            var elements = t.Dimensions.Aggregate(1L, (a, d) => checked(a * d));
            var expected = GgmlTypes.RowBytes(t.Type, t.Dimensions[0]) * (elements / t.Dimensions[0]);
            if (t.Dimensions[0] % GgmlTypes.BlockSize(t.Type) != 0 || expected != t.ByteLength)
                throw new ArgumentException($"tensor {t.Name}: {t.ByteLength} bytes do not hold [{string.Join(", ", t.Dimensions)}] of {t.Type}", nameof(tensors));
            offsets[i] = offset;
            offset = Align(offset + t.ByteLength);
        }

        AtomicFile.Write(path, stream =>
        {
            var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
            w.Write(Magic);
            w.Write(Version);
            w.Write((ulong)tensors.Count);
            w.Write((ulong)metadata.Count);
            foreach (var kv in metadata)
            {
                WriteString(w, kv.Key);
                WriteValue(w, kv.Value);
            }
            for (var i = 0; i < tensors.Count; i++)
            {
                var t = tensors[i];
                WriteString(w, t.Name);
                w.Write((uint)t.Dimensions.Length);
                foreach (var d in t.Dimensions) w.Write((ulong)d);
                w.Write((uint)t.Type);
                w.Write((ulong)offsets[i]);
            }
            w.Flush();
            Pad(stream);
            var dataStart = stream.Position;
            for (var i = 0; i < tensors.Count; i++)
            {
                var bytes = tensors[i].Data();
                if (bytes.Length != tensors[i].ByteLength)
                    throw new InvalidOperationException($"tensor {tensors[i].Name} produced {bytes.Length} bytes, not the {tensors[i].ByteLength} announced");
                if (stream.Position - dataStart != offsets[i]) throw new InvalidOperationException("GGUF writer lost its place");
                stream.Write(bytes);
                Pad(stream);
            }
        });
    }

    /// <summary>Rounds <paramref name="n"/> up to the alignment.</summary>
    public static long Align(long n) => (n + Alignment - 1) / Alignment * Alignment;

    private static void Pad(Stream s)
    {
        var pad = (int)(Align(s.Position) - s.Position);
        if (pad > 0) s.Write(new byte[pad]);
    }

    private static void WriteString(BinaryWriter w, string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        w.Write((ulong)bytes.Length);
        w.Write(bytes);
    }

    private static void WriteValue(BinaryWriter w, GgufValue v)
    {
        w.Write((uint)v.Type);
        if (v.Type == GgufValueType.Array)
        {
            var items = (Array)v.Value;
            w.Write((uint)v.ElementType);
            w.Write((ulong)items.Length);
            foreach (var item in items) WriteScalar(w, v.ElementType, item);
        }
        else
            WriteScalar(w, v.Type, v.Value);
    }

    private static void WriteScalar(BinaryWriter w, GgufValueType type, object value)
    {
        switch (type)
        {
            case GgufValueType.UInt8: w.Write((byte)value); break;
            case GgufValueType.Int8: w.Write((sbyte)value); break;
            case GgufValueType.UInt16: w.Write((ushort)value); break;
            case GgufValueType.Int16: w.Write((short)value); break;
            case GgufValueType.UInt32: w.Write((uint)value); break;
            case GgufValueType.Int32: w.Write((int)value); break;
            case GgufValueType.Float32: w.Write((float)value); break;
            case GgufValueType.Bool: w.Write((bool)value ? (byte)1 : (byte)0); break;
            case GgufValueType.String: WriteString(w, (string)value); break;
            case GgufValueType.UInt64: w.Write((ulong)value); break;
            case GgufValueType.Int64: w.Write((long)value); break;
            case GgufValueType.Float64: w.Write((double)value); break;
            default: throw new ArgumentOutOfRangeException(nameof(type), type, "not a scalar GGUF type");
        }
    }

    /// <summary>A tensor entry holding float32 values converted to <paramref name="type"/> when written.</summary>
    public static GgufTensorEntry FromFloats(string name, long[] dimensions, GgmlType type, Func<float[]> values)
    {
        var elements = dimensions.Aggregate(1L, (a, d) => checked(a * d));
        return new GgufTensorEntry(name, dimensions, type, GgmlTypes.RowBytes(type, dimensions[0]) * (elements / dimensions[0]),
            () => GgmlConvert.Encode(values(), type));
    }
}
