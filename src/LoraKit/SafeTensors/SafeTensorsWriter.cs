using System.Buffers.Binary;
using TorchSharp;
using LoraKit.IO;

namespace LoraKit.SafeTensors;

/// <summary>One tensor to write from raw bytes: little-endian, C order, exactly shape × dtype size bytes.</summary>
public sealed record SafeTensorEntry(string Name, SafeTensorDType DType, long[] Shape, ReadOnlyMemory<byte> Data);

/// <summary>The order in which <see cref="SafeTensorsWriter"/> lists and lays out tensors.</summary>
public enum SafeTensorsOrder
{
    /// <summary>
    /// The order of Python's <c>safetensors</c> writer: by dtype, widest alignment first (I64, F64, F32,
    /// I32, BF16, F16, I16, I8, U8, BOOL), then by name (ordinal). Re-writing a file written by Python
    /// with the same tensors and metadata reproduces it byte for byte.
    /// </summary>
    PythonCompatible = 0,

    /// <summary>The order the tensors are given in.</summary>
    AsGiven = 1,
}

/// <summary>
/// Writes safetensors files. The header is compact JSON (as Python's writer emits it): <c>__metadata__</c>
/// first when there is any (keys sorted ordinally), then one entry per tensor in the chosen
/// <see cref="SafeTensorsOrder"/>, whose data follow back to back in the same order; the header is
/// padded with spaces to a multiple of 8 bytes. Writes are atomic: the file is written to a temporary
/// file in the target's folder, flushed to disk, then renamed over the target, so a failure leaves
/// any previous file untouched and removes the temporary file.
/// </summary>
public static class SafeTensorsWriter
{
    /// <summary>Writes TorchSharp tensors (any device; each is copied to the CPU, contiguous, one at a time).</summary>
    public static void Write(string path, IEnumerable<KeyValuePair<string, torch.Tensor>> tensors,
        IReadOnlyDictionary<string, string>? metadata = null, SafeTensorsOrder order = SafeTensorsOrder.PythonCompatible)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(tensors);
        var items = new List<Item>();
        foreach (var (name, tensor) in tensors)
        {
            ArgumentNullException.ThrowIfNull(tensor, name);
            var dtype = SafeTensorDTypes.FromScalarType(tensor.dtype);
            var shape = tensor.shape.ToArray();
            items.Add(new Item(name, dtype, shape, ByteCount(name, dtype, shape), null, tensor));
        }
        WriteItems(path, items, metadata, order);
    }

    /// <summary>Writes raw entries: the bytes go to the file unchanged, so round-trips are bit-exact.</summary>
    public static void Write(string path, IEnumerable<SafeTensorEntry> entries,
        IReadOnlyDictionary<string, string>? metadata = null, SafeTensorsOrder order = SafeTensorsOrder.PythonCompatible)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(entries);
        var items = new List<Item>();
        foreach (var entry in entries)
        {
            ArgumentNullException.ThrowIfNull(entry);
            var bytes = ByteCount(entry.Name, entry.DType, entry.Shape);
            if (bytes != entry.Data.Length)
                throw new ArgumentException(
                    $"Tensor '{entry.Name}': shape [{string.Join(", ", entry.Shape)}] of {entry.DType.HeaderName()} needs {bytes} bytes, but {entry.Data.Length} were given.",
                    nameof(entries));
            items.Add(new Item(entry.Name, entry.DType, entry.Shape.ToArray(), bytes, entry, null));
        }
        WriteItems(path, items, metadata, order);
    }

    /// <summary>Copies every tensor of an open file, bytes unchanged, to a new file.</summary>
    public static void Write(string path, SafeTensorsFile source, IReadOnlyDictionary<string, string>? metadata = null,
        SafeTensorsOrder order = SafeTensorsOrder.PythonCompatible)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(source);
        var items = source.Tensors.Select(t => new Item(t.Name, t.DType, t.Shape.ToArray(), t.ByteLength, null, null, source)).ToList();
        WriteItems(path, items, metadata ?? source.Metadata, order);
    }

    /// <summary>The header bytes (JSON plus space padding, without the length prefix) for the given tensors.</summary>
    public static byte[] BuildHeader(IEnumerable<SafeTensorInfo> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        var sb = new StringBuilder();
        sb.Append('{');
        var first = true;
        if (metadata is { Count: > 0 })
        {
            sb.Append("\"__metadata__\":{");
            var firstKey = true;
            foreach (var key in metadata.Keys.OrderBy(k => k, StringComparer.Ordinal))
            {
                if (!firstKey) sb.Append(',');
                firstKey = false;
                LoraKit.Json.JsonLineWriter.QuoteAsSerde(sb, key);
                sb.Append(':');
                LoraKit.Json.JsonLineWriter.QuoteAsSerde(sb, metadata[key]);
            }
            sb.Append('}');
            first = false;
        }
        foreach (var t in tensors)
        {
            if (!first) sb.Append(',');
            first = false;
            LoraKit.Json.JsonLineWriter.QuoteAsSerde(sb, t.Name);
            sb.Append(":{\"dtype\":\"").Append(t.DType.HeaderName()).Append("\",\"shape\":[");
            for (var i = 0; i < t.Shape.Length; i++)
            {
                if (i > 0) sb.Append(',');
                sb.Append(t.Shape[i].ToString(CultureInfo.InvariantCulture));
            }
            sb.Append("],\"data_offsets\":[")
              .Append(t.Begin.ToString(CultureInfo.InvariantCulture)).Append(',')
              .Append(t.End.ToString(CultureInfo.InvariantCulture)).Append("]}");
        }
        sb.Append('}');
        var json = new UTF8Encoding(false, true).GetBytes(sb.ToString());
        var padded = (json.Length + 7) / 8 * 8;
        var header = new byte[padded];
        json.CopyTo(header, 0);
        header.AsSpan(json.Length).Fill((byte)' ');
        return header;
    }

    private sealed record Item(string Name, SafeTensorDType DType, long[] Shape, long ByteLength, SafeTensorEntry? Raw,
        torch.Tensor? Tensor, SafeTensorsFile? Source = null);

    private static long ByteCount(string name, SafeTensorDType dtype, long[] shape)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(shape);
        long n = 1;
        foreach (var d in shape)
        {
            if (d < 0) throw new ArgumentException($"Tensor '{name}' has a negative dimension in shape [{string.Join(", ", shape)}].");
            n = checked(n * d);
        }
        return checked(n * dtype.ElementSize());
    }

    private static void WriteItems(string path, List<Item> items, IReadOnlyDictionary<string, string>? metadata, SafeTensorsOrder order)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var item in items)
        {
            if (item.Name == SafeTensorsHeader.MetadataKey)
                throw new ArgumentException($"'{SafeTensorsHeader.MetadataKey}' is reserved and cannot name a tensor.");
            if (!names.Add(item.Name))
                throw new ArgumentException($"Tensor '{item.Name}' is given more than once.");
        }

        IEnumerable<Item> ordered = order switch
        {
            SafeTensorsOrder.PythonCompatible => items
                .OrderByDescending(i => i.DType.PythonWriterRank())
                .ThenBy(i => i.Name, StringComparer.Ordinal),
            SafeTensorsOrder.AsGiven => items,
            _ => throw new ArgumentOutOfRangeException(nameof(order), order, null),
        };
        var layout = new List<(Item Item, SafeTensorInfo Info)>(items.Count);
        long offset = 0;
        foreach (var item in ordered)
        {
            var end = checked(offset + item.ByteLength);
            layout.Add((item, new SafeTensorInfo(item.Name, item.DType, item.Shape, offset, end)));
            offset = end;
        }
        var header = BuildHeader(layout.Select(l => l.Info), metadata);

        AtomicFile.Write(path, stream =>
        {
            Span<byte> prefix = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)header.Length);
            stream.Write(prefix);
            stream.Write(header);
            foreach (var (item, _) in layout)
            {
                if (item.Raw is not null) stream.Write(item.Raw.Data.Span);
                else if (item.Source is not null) CopyFromFile(stream, item.Source, item.Name, item.ByteLength);
                else WriteTensor(stream, item.Tensor!, item.Name, item.ByteLength);
            }
        });
    }

    private static void CopyFromFile(Stream stream, SafeTensorsFile source, string name, long byteLength)
    {
        var buffer = new byte[(int)Math.Min(byteLength, 1 << 22)];
        for (long done = 0; done < byteLength;)
        {
            var count = (int)Math.Min(buffer.Length, byteLength - done);
            source.CopyTo(name, buffer.AsSpan(0, count), done);
            stream.Write(buffer, 0, count);
            done += count;
        }
    }

    internal static void WriteTensor(Stream stream, torch.Tensor tensor, string name, long byteLength, long chunk = 1L << 30)
    {
        if (byteLength == 0) return;
        // One CPU, contiguous copy at a time (none when the tensor already is one).
        using var scope = torch.NewDisposeScope();
        var cpu = tensor.device_type == DeviceType.CPU ? tensor : tensor.cpu();
        var contiguous = cpu.contiguous();
        if (contiguous.NumberOfElements * contiguous.ElementSize != byteLength)
            throw new InvalidOperationException($"Tensor '{name}' changed size while being written.");
        if (byteLength <= chunk)
        {
            stream.Write(contiguous.bytes);
            return;
        }
        var elementSize = contiguous.element_size();
        var flat = contiguous.view(-1);
        var total = flat.shape[0];
        var chunkElements = Math.Max(1, chunk / elementSize);
        for (long start = 0; start < total; start += chunkElements)
        {
            var part = flat.narrow(0, start, Math.Min(chunkElements, total - start));
            stream.Write(part.bytes);
        }
    }
}
