using System.Buffers.Binary;

namespace LoraKit.Gguf;

/// <summary>One tensor of a GGUF file: name, ggml dimensions (<c>ne[0]</c> innermost), type, and its bytes' place in the file.</summary>
public sealed record GgufTensorInfo(string Name, long[] Dimensions, GgmlType Type, long Offset, long ByteLength)
{
    public long ElementCount => Dimensions.Aggregate(1L, (a, d) => a * d);

    public override string ToString() =>
        $"{Name}: {Type} [{string.Join(", ", Dimensions.Select(d => d.ToString(CultureInfo.InvariantCulture)))}]";
}

/// <summary>
/// A GGUF file read with nothing in it trusted (as <see cref="SafeTensors.SafeTensorsFile"/> reads safetensors): every
/// count, length and offset is checked against the bytes that remain before anything is allocated; value and tensor
/// types must be known; keys and tensor names unique; each tensor whole blocks, aligned, inside the data section and
/// apart from every other. Versions 2 and 3 are read. Metadata and tensor infos are kept in file order.
/// </summary>
public sealed class GgufFile
{
    /// <summary>The most dimensions a ggml tensor has (GGML_MAX_DIMS).</summary>
    public const int MaxDimensions = 4;

    /// <summary>The largest file the reader opens (1 TiB).</summary>
    public const long MaxFileBytes = 1L << 40;

    private readonly Dictionary<string, GgufValue> _byKey;
    private readonly Dictionary<string, GgufTensorInfo> _byName;

    private GgufFile(string path, uint version, List<KeyValuePair<string, GgufValue>> metadata, List<GgufTensorInfo> tensors, long dataOffset, int alignment)
    {
        Path = path;
        Version = version;
        Metadata = metadata;
        Tensors = tensors;
        DataOffset = dataOffset;
        Alignment = alignment;
        _byKey = metadata.ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
        _byName = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
    }

    public string Path { get; }
    public uint Version { get; }
    public IReadOnlyList<KeyValuePair<string, GgufValue>> Metadata { get; }
    public IReadOnlyList<GgufTensorInfo> Tensors { get; }

    /// <summary>Where the data section starts in the file.</summary>
    public long DataOffset { get; }

    public int Alignment { get; }

    public GgufValue? this[string key] => _byKey.TryGetValue(key, out var v) ? v : null;

    public bool TryGetTensor(string name, out GgufTensorInfo info) => _byName.TryGetValue(name, out info!);

    /// <summary>Whether the first four bytes of <paramref name="path"/> are GGUF's magic.</summary>
    public static bool HasMagic(string path)
    {
        if (!File.Exists(path)) return false;
        using var s = File.OpenRead(path);
        Span<byte> b = stackalloc byte[4];
        return s.Read(b) == 4 && BinaryPrimitives.ReadUInt32LittleEndian(b) == GgufWriter.Magic;
    }

    /// <summary>Reads and checks the header, metadata and tensor table of <paramref name="path"/> (not the tensor data).</summary>
    public static GgufFile Open(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var info = new FileInfo(path);
        if (!info.Exists) throw new GgufFormatException(path, null, "does not exist; give the path of a .gguf file");
        if ((info.Attributes & (FileAttributes.Directory | FileAttributes.Device)) != 0)
            throw new GgufFormatException(path, null, "is not a regular file");
        if (info.Length > MaxFileBytes) throw new GgufFormatException(path, null, $"is {info.Length} bytes, above the reader's limit of {MaxFileBytes}");
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        var r = new Reader(stream, path, info.Length);
        if (r.U32("magic") != GgufWriter.Magic) throw new GgufFormatException(path, null, "does not start with the GGUF magic; it is not a GGUF file");
        var version = r.U32("version");
        if (version is not (2 or 3))
            throw new GgufFormatException(path, null, $"is GGUF version {version}; LoraKit reads versions 2 and 3 (convert the file again with a current llama.cpp)");
        var tensorCount = r.U64("tensor count");
        var kvCount = r.U64("metadata count");
        // Each metadata entry takes at least 8 (key length) + 4 (type) + 1 bytes, each tensor info 8 + 4 + 8 + 4 + 8.
        if (kvCount > (ulong)r.Remaining / 13) throw new GgufFormatException(path, null, $"claims {kvCount} metadata entries, more than its {info.Length} bytes can hold");
        if (tensorCount > (ulong)r.Remaining / 32) throw new GgufFormatException(path, null, $"claims {tensorCount} tensors, more than its {info.Length} bytes can hold");

        var metadata = new List<KeyValuePair<string, GgufValue>>((int)kvCount);
        var keys = new HashSet<string>(StringComparer.Ordinal);
        for (ulong i = 0; i < kvCount; i++)
        {
            var key = r.String($"metadata key #{i}");
            if (key.Length == 0) throw new GgufFormatException(path, null, $"metadata key #{i} is empty");
            if (!keys.Add(key)) throw new GgufFormatException(path, key, "appears twice; llama.cpp refuses duplicate keys");
            var type = r.U32(key);
            metadata.Add(new(key, r.Value(key, (GgufValueType)type, arrayAllowed: true)));
        }

        var alignment = GgufWriter.Alignment;
        if (metadata.FirstOrDefault(kv => kv.Key == "general.alignment").Value is { } a)
        {
            if (a.Type != GgufValueType.UInt32 || (uint)a.Value == 0 || ((uint)a.Value & ((uint)a.Value - 1)) != 0 || (uint)a.Value > 1 << 20)
                throw new GgufFormatException(path, "general.alignment", $"is {a} ({a.Type}); it must be a uint32 power of two");
            alignment = (int)(uint)a.Value;
        }

        var tensors = new List<GgufTensorInfo>((int)tensorCount);
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (ulong i = 0; i < tensorCount; i++)
        {
            var name = r.String($"tensor name #{i}");
            if (name.Length == 0 || Encoding.UTF8.GetByteCount(name) > GgufWriter.MaxTensorNameBytes)
                throw new GgufFormatException(path, name, $"tensor #{i}'s name is empty or longer than {GgufWriter.MaxTensorNameBytes} bytes");
            if (!names.Add(name)) throw new GgufFormatException(path, name, "is a tensor name given twice");
            var nDims = r.U32(name);
            if (nDims is 0 or > MaxDimensions) throw new GgufFormatException(path, name, $"has {nDims} dimensions; ggml tensors have 1 to {MaxDimensions}");
            var dims = new long[nDims];
            long elements = 1;
            for (var d = 0; d < nDims; d++)
            {
                var n = r.U64(name);
                if (n == 0 || n > long.MaxValue / 8) throw new GgufFormatException(path, name, $"dimension {d} is {n}");
                dims[d] = (long)n;
                elements = elements > long.MaxValue / dims[d] ? throw new GgufFormatException(path, name, "has more elements than fit in 64 bits") : elements * dims[d];
            }
            var ttype = (GgmlType)r.U32(name);
            if (!GgmlTypes.IsKnown(ttype)) throw new GgufFormatException(path, name, $"has tensor type {(uint)ttype}, which LoraKit's reader does not know");
            if (dims[0] % GgmlTypes.BlockSize(ttype) != 0)
                throw new GgufFormatException(path, name, $"has {dims[0]} elements per row, not whole blocks of {GgmlTypes.BlockSize(ttype)} for {ttype}");
            var rowBytes = GgmlTypes.RowBytes(ttype, dims[0]);
            var rows = elements / dims[0];
            if (rows > long.MaxValue / Math.Max(rowBytes, 1)) throw new GgufFormatException(path, name, "is larger than 64 bits of bytes");
            var offset = r.U64(name);
            if (offset % (ulong)alignment != 0) throw new GgufFormatException(path, name, $"starts at data offset {offset}, not a multiple of the alignment {alignment}");
            if (offset > long.MaxValue) throw new GgufFormatException(path, name, $"starts at data offset {offset}, beyond any file");
            tensors.Add(new GgufTensorInfo(name, dims, ttype, (long)offset, rowBytes * rows));
        }

        var dataOffset = (r.Position + alignment - 1) / alignment * alignment;
        var dataLength = info.Length - dataOffset;
        if (tensors.Count > 0 && dataLength < 0) throw new GgufFormatException(path, null, "ends before its data section");
        long end = 0;
        foreach (var t in tensors.OrderBy(t => t.Offset))
        {
            if (t.Offset < end) throw new GgufFormatException(path, t.Name, "overlaps the tensor before it in the data section");
            if (t.Offset + t.ByteLength > dataLength)
                throw new GgufFormatException(path, t.Name, $"needs bytes [{t.Offset}, {t.Offset + t.ByteLength}) of a data section of {dataLength}; the file is truncated");
            end = t.Offset + t.ByteLength;
        }
        return new GgufFile(path, version, metadata, tensors, dataOffset, alignment);
    }

    /// <summary>A tensor's values as float32 (F32, F16, BF16 and Q8_0 tensors), in ggml order (row-major with <c>ne[0]</c> innermost).</summary>
    public float[] ReadFloats(string name)
    {
        if (!TryGetTensor(name, out var t)) throw new KeyNotFoundException($"{Path} has no tensor {name}");
        if (t.ByteLength > int.MaxValue) throw new NotSupportedException($"{name} is {t.ByteLength} bytes; read it in parts");
        var bytes = new byte[t.ByteLength];
        using (var s = File.OpenRead(Path))
        {
            s.Seek(DataOffset + t.Offset, SeekOrigin.Begin);
            s.ReadExactly(bytes);
        }
        return GgmlConvert.Decode(bytes, t.Type, t.ElementCount);
    }

    /// <summary>Checked reads of little-endian values against the bytes that remain.</summary>
    private sealed class Reader
    {
        private const int MaxNesting = 1; // GGUF arrays of arrays are refused: llama.cpp does not read them for any key
        private readonly Stream _s;
        private readonly string _path;
        private readonly long _length;
        private readonly byte[] _buffer = new byte[8];

        public Reader(Stream s, string path, long length)
        {
            _s = s;
            _path = path;
            _length = length;
        }

        public long Position => _s.Position;
        public long Remaining => _length - _s.Position;

        private ReadOnlySpan<byte> Take(int n, string what)
        {
            if (Remaining < n) throw new GgufFormatException(_path, what, "is cut off: the file ends inside it");
            _s.ReadExactly(_buffer, 0, n);
            return _buffer.AsSpan(0, n);
        }

        public uint U32(string what) => BinaryPrimitives.ReadUInt32LittleEndian(Take(4, what));
        public ulong U64(string what) => BinaryPrimitives.ReadUInt64LittleEndian(Take(8, what));

        public string String(string what)
        {
            var n = U64(what);
            if (n > (ulong)Remaining) throw new GgufFormatException(_path, what, $"is a string of {n} bytes, more than the {Remaining} left in the file");
            if (n > int.MaxValue) throw new GgufFormatException(_path, what, $"is a string of {n} bytes");
            var bytes = new byte[n];
            _s.ReadExactly(bytes);
            try
            {
                return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
            }
            catch (DecoderFallbackException)
            {
                throw new GgufFormatException(_path, what, "is not valid UTF-8");
            }
        }

        public GgufValue Value(string key, GgufValueType type, bool arrayAllowed)
        {
            switch (type)
            {
                case GgufValueType.Array:
                    {
                        if (!arrayAllowed) throw new GgufFormatException(_path, key, $"nests arrays deeper than {MaxNesting}");
                        var element = (GgufValueType)U32(key);
                        if (element == GgufValueType.Array) throw new GgufFormatException(_path, key, "is an array of arrays, which LoraKit does not read");
                        var count = U64(key);
                        var minSize = element == GgufValueType.String ? 8 : ScalarSize(element, key);
                        if (count > (ulong)Remaining / (ulong)minSize)
                            throw new GgufFormatException(_path, key, $"claims {count} elements, more than the {Remaining} bytes left can hold");
                        var items = NewArray(element, (int)count);
                        for (var i = 0; i < (int)count; i++) items.SetValue(Value(key, element, false).Value, i);
                        return GgufValue.Array(element, items);
                    }
                case GgufValueType.String:
                    return GgufValue.Scalar(type, String(key));
                case GgufValueType.Bool:
                    {
                        var b = Take(1, key)[0];
                        if (b > 1) throw new GgufFormatException(_path, key, $"is a bool stored as {b}, not 0 or 1");
                        return GgufValue.Scalar(type, b == 1);
                    }
                default:
                    {
                        var span = Take(ScalarSize(type, key), key);
                        // Each arm boxed as its own type (a switch expression would widen them all to double).
                        var v = type switch
                        {
                            GgufValueType.UInt8 => (object)span[0],
                            GgufValueType.Int8 => (object)(sbyte)span[0],
                            GgufValueType.UInt16 => (object)BinaryPrimitives.ReadUInt16LittleEndian(span),
                            GgufValueType.Int16 => (object)BinaryPrimitives.ReadInt16LittleEndian(span),
                            GgufValueType.UInt32 => (object)BinaryPrimitives.ReadUInt32LittleEndian(span),
                            GgufValueType.Int32 => (object)BinaryPrimitives.ReadInt32LittleEndian(span),
                            GgufValueType.Float32 => (object)BinaryPrimitives.ReadSingleLittleEndian(span),
                            GgufValueType.UInt64 => (object)BinaryPrimitives.ReadUInt64LittleEndian(span),
                            GgufValueType.Int64 => (object)BinaryPrimitives.ReadInt64LittleEndian(span),
                            GgufValueType.Float64 => (object)BinaryPrimitives.ReadDoubleLittleEndian(span),
                            _ => throw new InvalidOperationException(),
                        };
                        return GgufValue.Scalar(type, v);
                    }
            }
        }

        private int ScalarSize(GgufValueType type, string key) => type switch
        {
            GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => 1,
            GgufValueType.UInt16 or GgufValueType.Int16 => 2,
            GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => 4,
            GgufValueType.UInt64 or GgufValueType.Int64 or GgufValueType.Float64 => 8,
            _ => throw new GgufFormatException(_path, key, $"has value type {(uint)type}, which is not a GGUF type"),
        };

        private static Array NewArray(GgufValueType element, int count) => element switch
        {
            GgufValueType.UInt8 => new byte[count],
            GgufValueType.Int8 => new sbyte[count],
            GgufValueType.UInt16 => new ushort[count],
            GgufValueType.Int16 => new short[count],
            GgufValueType.UInt32 => new uint[count],
            GgufValueType.Int32 => new int[count],
            GgufValueType.Float32 => new float[count],
            GgufValueType.Bool => new bool[count],
            GgufValueType.String => new string[count],
            GgufValueType.UInt64 => new ulong[count],
            GgufValueType.Int64 => new long[count],
            GgufValueType.Float64 => new double[count],
            _ => throw new ArgumentOutOfRangeException(nameof(element)),
        };
    }
}
