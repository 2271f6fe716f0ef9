using TorchSharp;

namespace LoraKit.SafeTensors;

/// <summary>The element types of the safetensors format that LoraKit reads and writes.</summary>
public enum SafeTensorDType
{
    F64,
    F32,
    F16,
    BF16,
    I64,
    I32,
    I16,
    I8,
    U8,
    BOOL,
}

/// <summary>Sizes, header spellings and TorchSharp equivalents of <see cref="SafeTensorDType"/>.</summary>
public static class SafeTensorDTypes
{
    /// <summary>Bytes per element.</summary>
    public static int ElementSize(this SafeTensorDType dtype) => dtype switch
    {
        SafeTensorDType.F64 or SafeTensorDType.I64 => 8,
        SafeTensorDType.F32 or SafeTensorDType.I32 => 4,
        SafeTensorDType.F16 or SafeTensorDType.BF16 or SafeTensorDType.I16 => 2,
        SafeTensorDType.I8 or SafeTensorDType.U8 or SafeTensorDType.BOOL => 1,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Unknown safetensors dtype."),
    };

    /// <summary>The spelling in a safetensors header ("F32", "BF16", "BOOL", ...).</summary>
    public static string HeaderName(this SafeTensorDType dtype) => dtype switch
    {
        SafeTensorDType.F64 => "F64",
        SafeTensorDType.F32 => "F32",
        SafeTensorDType.F16 => "F16",
        SafeTensorDType.BF16 => "BF16",
        SafeTensorDType.I64 => "I64",
        SafeTensorDType.I32 => "I32",
        SafeTensorDType.I16 => "I16",
        SafeTensorDType.I8 => "I8",
        SafeTensorDType.U8 => "U8",
        SafeTensorDType.BOOL => "BOOL",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Unknown safetensors dtype."),
    };

    /// <summary>Parses a header spelling (case-sensitive, as the format requires).</summary>
    public static bool TryParse(string? text, out SafeTensorDType dtype)
    {
        switch (text)
        {
            case "F64": dtype = SafeTensorDType.F64; return true;
            case "F32": dtype = SafeTensorDType.F32; return true;
            case "F16": dtype = SafeTensorDType.F16; return true;
            case "BF16": dtype = SafeTensorDType.BF16; return true;
            case "I64": dtype = SafeTensorDType.I64; return true;
            case "I32": dtype = SafeTensorDType.I32; return true;
            case "I16": dtype = SafeTensorDType.I16; return true;
            case "I8": dtype = SafeTensorDType.I8; return true;
            case "U8": dtype = SafeTensorDType.U8; return true;
            case "BOOL": dtype = SafeTensorDType.BOOL; return true;
            default: dtype = default; return false;
        }
    }

    /// <summary>The TorchSharp scalar type of the same layout.</summary>
    public static torch.ScalarType ToScalarType(this SafeTensorDType dtype) => dtype switch
    {
        SafeTensorDType.F64 => torch.ScalarType.Float64,
        SafeTensorDType.F32 => torch.ScalarType.Float32,
        SafeTensorDType.F16 => torch.ScalarType.Float16,
        SafeTensorDType.BF16 => torch.ScalarType.BFloat16,
        SafeTensorDType.I64 => torch.ScalarType.Int64,
        SafeTensorDType.I32 => torch.ScalarType.Int32,
        SafeTensorDType.I16 => torch.ScalarType.Int16,
        SafeTensorDType.I8 => torch.ScalarType.Int8,
        SafeTensorDType.U8 => torch.ScalarType.Byte,
        SafeTensorDType.BOOL => torch.ScalarType.Bool,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Unknown safetensors dtype."),
    };

    /// <summary>The safetensors dtype of a TorchSharp scalar type; throws for types the format (as LoraKit writes it) lacks.</summary>
    public static SafeTensorDType FromScalarType(torch.ScalarType type) => type switch
    {
        torch.ScalarType.Float64 => SafeTensorDType.F64,
        torch.ScalarType.Float32 => SafeTensorDType.F32,
        torch.ScalarType.Float16 => SafeTensorDType.F16,
        torch.ScalarType.BFloat16 => SafeTensorDType.BF16,
        torch.ScalarType.Int64 => SafeTensorDType.I64,
        torch.ScalarType.Int32 => SafeTensorDType.I32,
        torch.ScalarType.Int16 => SafeTensorDType.I16,
        torch.ScalarType.Int8 => SafeTensorDType.I8,
        torch.ScalarType.Byte => SafeTensorDType.U8,
        torch.ScalarType.Bool => SafeTensorDType.BOOL,
        _ => throw new NotSupportedException($"TorchSharp scalar type {type} has no safetensors dtype that LoraKit supports (F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL)."),
    };

    /// <summary>
    /// The rank of a dtype in the Python/Rust <c>safetensors</c> writer's order: it lays tensors out by
    /// dtype, descending in the Rust <c>Dtype</c> enum (BOOL &lt; U8 &lt; I8 &lt; I16 &lt; F16 &lt; BF16 &lt; I32 &lt;
    /// F32 &lt; F64 &lt; I64), then by name. Higher ranks come first.
    /// </summary>
    internal static int PythonWriterRank(this SafeTensorDType dtype) => dtype switch
    {
        SafeTensorDType.BOOL => 0,
        SafeTensorDType.U8 => 1,
        SafeTensorDType.I8 => 2,
        SafeTensorDType.I16 => 5,
        SafeTensorDType.F16 => 7,
        SafeTensorDType.BF16 => 8,
        SafeTensorDType.I32 => 9,
        SafeTensorDType.F32 => 11,
        SafeTensorDType.F64 => 12,
        SafeTensorDType.I64 => 13,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Unknown safetensors dtype."),
    };
}
