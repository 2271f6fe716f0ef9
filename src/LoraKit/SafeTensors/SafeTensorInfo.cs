namespace LoraKit.SafeTensors;

/// <summary>
/// One tensor of a safetensors header: its name, dtype, shape and byte span
/// [<see cref="Begin"/>, <see cref="End"/>) relative to the start of the data section.
/// </summary>
public sealed record SafeTensorInfo(string Name, SafeTensorDType DType, long[] Shape, long Begin, long End)
{
    /// <summary>The product of the shape (1 for a 0-d tensor).</summary>
    public long ElementCount
    {
        get
        {
            long n = 1;
            foreach (var d in Shape) n = checked(n * d);
            return n;
        }
    }

    /// <summary>End − Begin.</summary>
    public long ByteLength => End - Begin;

    /// <summary>Records compare arrays by reference; this compares the shape by value.</summary>
    public bool Equals(SafeTensorInfo? other) =>
        other is not null && Name == other.Name && DType == other.DType && Begin == other.Begin && End == other.End
        && Shape.AsSpan().SequenceEqual(other.Shape);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.Add(Name);
        hash.Add(DType);
        hash.Add(Begin);
        hash.Add(End);
        foreach (var d in Shape) hash.Add(d);
        return hash.ToHashCode();
    }

    public override string ToString() => $"{Name}: {DType.HeaderName()} [{string.Join(", ", Shape.Select(d => d.ToString(System.Globalization.CultureInfo.InvariantCulture)))}] @ [{Begin}, {End})";
}
