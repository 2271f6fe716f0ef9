namespace LoraKit.Gguf;

/// <summary>The value types of GGUF metadata (ggml's <c>gguf_type</c>, gguf.h).</summary>
public enum GgufValueType : uint
{
    UInt8 = 0,
    Int8 = 1,
    UInt16 = 2,
    Int16 = 3,
    UInt32 = 4,
    Int32 = 5,
    Float32 = 6,
    Bool = 7,
    String = 8,
    Array = 9,
    UInt64 = 10,
    Int64 = 11,
    Float64 = 12,
}

/// <summary>
/// The tensor types LoraKit writes or reads (ggml's <c>ggml_type</c> numbers, ggml.h). The reader knows the block
/// layout of the common types below; a file with any other type is refused by name rather than guessed at.
/// </summary>
public enum GgmlType : uint
{
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q8_1 = 9,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    Q8_K = 15,
    IQ4_NL = 20,
    IQ4_XS = 23,
    I8 = 24,
    I16 = 25,
    I32 = 26,
    I64 = 27,
    F64 = 28,
    BF16 = 30,
}

/// <summary>Block sizes of <see cref="GgmlType"/> (ggml.c's <c>type_traits</c>: elements per block, bytes per block).</summary>
public static class GgmlTypes
{
    private static readonly Dictionary<GgmlType, (int Block, int Bytes)> Layout = new()
    {
        [GgmlType.F32] = (1, 4), [GgmlType.F16] = (1, 2), [GgmlType.BF16] = (1, 2), [GgmlType.F64] = (1, 8),
        [GgmlType.I8] = (1, 1), [GgmlType.I16] = (1, 2), [GgmlType.I32] = (1, 4), [GgmlType.I64] = (1, 8),
        [GgmlType.Q4_0] = (32, 18), [GgmlType.Q4_1] = (32, 20), [GgmlType.Q5_0] = (32, 22), [GgmlType.Q5_1] = (32, 24),
        [GgmlType.Q8_0] = (32, 34), [GgmlType.Q8_1] = (32, 36), [GgmlType.IQ4_NL] = (32, 18),
        [GgmlType.Q2_K] = (256, 84), [GgmlType.Q3_K] = (256, 110), [GgmlType.Q4_K] = (256, 144), [GgmlType.Q5_K] = (256, 176),
        [GgmlType.Q6_K] = (256, 210), [GgmlType.Q8_K] = (256, 292), [GgmlType.IQ4_XS] = (256, 136),
    };

    /// <summary>Whether the reader knows <paramref name="type"/>'s block layout.</summary>
    public static bool IsKnown(GgmlType type) => Layout.ContainsKey(type);

    /// <summary>Elements per block (1 for plain types, 32 for Q8_0, 256 for the k-quants).</summary>
    public static int BlockSize(GgmlType type) => Layout[type].Block;

    /// <summary>Bytes per block.</summary>
    public static int BlockBytes(GgmlType type) => Layout[type].Bytes;

    /// <summary>Bytes of a row of <paramref name="elements"/> elements; the row must be whole blocks.</summary>
    public static long RowBytes(GgmlType type, long elements) => elements / BlockSize(type) * BlockBytes(type);
}

/// <summary>The weight types <c>lorakit export gguf --type</c> offers (llama.cpp's convert_hf_to_gguf.py --outtype names).</summary>
public enum GgufOutputType
{
    /// <summary>Every tensor float32.</summary>
    F32,

    /// <summary>Matrices float16 (round to nearest even), vectors float32.</summary>
    F16,

    /// <summary>Matrices bfloat16 (round to nearest even), vectors float32.</summary>
    BF16,

    /// <summary>Matrices Q8_0 (blocks of 32 int8 with a float16 scale), vectors float32; matrices whose rows are not whole blocks fall back to float16, as llama.cpp's converter does.</summary>
    Q8_0,
}

/// <summary>One metadata value: a scalar, a string, or an array of one element type (held as a typed .NET array).</summary>
public sealed class GgufValue
{
    private GgufValue(GgufValueType type, object value, GgufValueType elementType = default)
    {
        Type = type;
        Value = value;
        ElementType = elementType;
    }

    public GgufValueType Type { get; }

    /// <summary>uint/int/float/bool/string/ulong/long/double/byte/sbyte/ushort/short, or a typed array for <see cref="GgufValueType.Array"/>.</summary>
    public object Value { get; }

    /// <summary>The element type of an array.</summary>
    public GgufValueType ElementType { get; }

    public static GgufValue Of(string s) => new(GgufValueType.String, s ?? throw new ArgumentNullException(nameof(s)));
    public static GgufValue Of(uint v) => new(GgufValueType.UInt32, v);
    public static GgufValue Of(int v) => new(GgufValueType.Int32, v);
    public static GgufValue Of(float v) => new(GgufValueType.Float32, v);
    public static GgufValue Of(bool v) => new(GgufValueType.Bool, v);
    public static GgufValue Of(ulong v) => new(GgufValueType.UInt64, v);
    public static GgufValue Of(string[] v) => new(GgufValueType.Array, v, GgufValueType.String);
    public static GgufValue Of(int[] v) => new(GgufValueType.Array, v, GgufValueType.Int32);
    public static GgufValue Of(float[] v) => new(GgufValueType.Array, v, GgufValueType.Float32);
    public static GgufValue Of(uint[] v) => new(GgufValueType.Array, v, GgufValueType.UInt32);

    internal static GgufValue Scalar(GgufValueType type, object value) => new(type, value);
    internal static GgufValue Array(GgufValueType elementType, System.Array items) => new(GgufValueType.Array, items, elementType);

    /// <summary>The number of elements of an array value.</summary>
    public int Count => Value is System.Array a ? a.Length : 1;

    public string AsString() => Value as string ?? throw new InvalidCastException($"a GGUF {Type} value, not a string");

    /// <summary>An unsigned or signed integer scalar as a long.</summary>
    public long AsInteger() => Value switch
    {
        byte b => b, sbyte sb => sb, ushort us => us, short s => s, uint u => u, int i => i, ulong ul => checked((long)ul), long l => l,
        _ => throw new InvalidCastException($"a GGUF {Type} value, not an integer"),
    };

    public override string ToString()
    {
        var inv = CultureInfo.InvariantCulture;
        if (Value is System.Array a)
        {
            var head = a.Cast<object>().Take(8).Select(x => x is string s ? Quote(s) : Convert.ToString(x, inv));
            return $"[{ElementType.ToString().ToLowerInvariant()} × {a.Length}] {string.Join(", ", head)}{(a.Length > 8 ? ", …" : "")}";
        }
        return Value switch
        {
            string s => Quote(s),
            bool b => b ? "true" : "false",
            float f => f.ToString("R", inv),
            double d => d.ToString("R", inv),
            _ => Convert.ToString(Value, inv) ?? "",
        };
    }

    private static string Quote(string s)
    {
        var t = s.Length > 60 ? s[..57] + "…" : s;
        return "\"" + t.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";
    }
}
