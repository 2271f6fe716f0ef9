using System.Buffers.Binary;
using System.Security.Cryptography;

namespace LoraKit.Data;

/// <summary>
/// A list of examples of one kind, from a JSONL file or a builtin generator, with the lines that were
/// skipped (when <c>maxBadLines</c> allowed some) and a content hash for provenance.
/// </summary>
public sealed class Dataset
{
    private string? _hash;

    public Dataset(string name, IReadOnlyList<Example> examples, IReadOnlyList<BadLine>? badLines = null)
    {
        Name = name ?? throw new ArgumentNullException(nameof(name));
        if (examples is null) throw new ArgumentNullException(nameof(examples));
        if (examples.Count == 0)
            throw new DataException($"dataset '{name}' has no usable examples; give it lines " + JsonlDataset.FormatsHint, name);
        var kind = examples[0].Kind;
        if (examples.Any(e => e.Kind != kind))
            throw new ArgumentException($"dataset '{name}' mixes {kind} and {examples.First(e => e.Kind != kind).Kind} examples; one dataset holds one kind", nameof(examples));
        Kind = kind;
        Examples = examples;
        BadLines = badLines ?? Array.Empty<BadLine>();
    }

    /// <summary>The file path or builtin spec it came from (with the part, e.g. <c>[train]</c>, after a split).</summary>
    public string Name { get; }

    public ExampleKind Kind { get; }

    public IReadOnlyList<Example> Examples { get; }

    /// <summary>Lines that were skipped (at most <c>maxBadLines</c>); empty when the file was clean.</summary>
    public IReadOnlyList<BadLine> BadLines { get; }

    public int Count => Examples.Count;

    /// <summary>
    /// SHA-256 (lowercase hex) over the examples in order, each as <see cref="Example.Canonical"/> in UTF-8 with a
    /// length prefix: the same for the same examples whatever the JSON formatting, key order, BOM, line endings or
    /// skipped lines; different when any example's content or the order changes (order matters to packing).
    /// </summary>
    public string ContentHash => _hash ??= ComputeHash(Examples);

    internal static string ComputeHash(IEnumerable<Example> examples)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> len = stackalloc byte[8];
        sha.AppendData(Encoding.ASCII.GetBytes("lorakit-dataset-v1\n"));
        foreach (var e in examples)
        {
            var bytes = Encoding.UTF8.GetBytes(e.Canonical);
            BinaryPrimitives.WriteInt64LittleEndian(len, bytes.Length);
            sha.AppendData(len);
            sha.AppendData(bytes);
        }
        return Convert.ToHexString(sha.GetHashAndReset()).ToLowerInvariant();
    }

    /// <summary>
    /// A deterministic train/validation split. Each example's place depends only on its content and
    /// <paramref name="seed"/> (a SHA-256 of both), not on its position in the file: reordering the file gives the
    /// same split, identical examples always land on the same side (no train/validation leakage), and the validation
    /// part is about <paramref name="validationFraction"/> of the data (exactly so only on average). When the hash
    /// would leave a side empty and there are at least two examples, the example nearest the threshold moves over.
    /// <para><paramref name="fraction"/> keeps a deterministic subset of the train part (by a second hash): an example
    /// kept at fraction f is kept at every fraction ≥ f, so the 10 % subset lies inside the 20 % one. At least one
    /// train example is always kept. The validation part never shrinks with <paramref name="fraction"/>, so trials on
    /// different fractions are compared on the same validation set.</para>
    /// Both parts keep the file's order.
    /// </summary>
    public DatasetSplit Split(double validationFraction = 0.1, double fraction = 1.0, long seed = 0)
    {
        if (double.IsNaN(validationFraction) || validationFraction < 0 || validationFraction >= 1)
            throw new ArgumentOutOfRangeException(nameof(validationFraction), validationFraction, "must be in [0, 1)");
        if (double.IsNaN(fraction) || fraction <= 0 || fraction > 1)
            throw new ArgumentOutOfRangeException(nameof(fraction), fraction, "must be in (0, 1]");

        var n = Examples.Count;
        var u = new double[n];
        var v = new double[n];
        for (var i = 0; i < n; i++)
        {
            u[i] = UnitHash(Examples[i], seed, "validation");
            v[i] = UnitHash(Examples[i], seed, "fraction");
        }

        var isVal = new bool[n];
        for (var i = 0; i < n; i++) isVal[i] = u[i] < validationFraction;
        if (validationFraction > 0 && n >= 2)
        {
            if (!isVal.Any(x => x)) isVal[ArgMin(u, i => true)] = true;
            if (isVal.All(x => x)) isVal[ArgMax(u, i => true)] = false;
        }

        var keep = new bool[n];
        for (var i = 0; i < n; i++) keep[i] = !isVal[i] && v[i] < fraction;
        if (!keep.Any(x => x))
        {
            var j = ArgMin(v, i => !isVal[i]);
            if (j >= 0) keep[j] = true;
        }

        var train = Enumerable.Range(0, n).Where(i => keep[i]).Select(i => Examples[i]).ToArray();
        var val = Enumerable.Range(0, n).Where(i => isVal[i]).Select(i => Examples[i]).ToArray();
        if (train.Length == 0)
            throw new DataException($"dataset '{Name}' leaves no training example after the split; add examples or lower the validation fraction", Name);
        var trainName = fraction < 1 ? $"{Name}[train,{fraction.ToString(System.Globalization.CultureInfo.InvariantCulture)}]" : $"{Name}[train]";
        return new DatasetSplit(
            new Dataset(trainName, train),
            val.Length == 0 ? null : new Dataset($"{Name}[validation]", val),
            validationFraction, fraction, seed);
    }

    private static int ArgMin(double[] x, Func<int, bool> where)
    {
        var best = -1;
        for (var i = 0; i < x.Length; i++)
            if (where(i) && (best < 0 || x[i] < x[best])) best = i;
        return best;
    }

    private static int ArgMax(double[] x, Func<int, bool> where)
    {
        var best = -1;
        for (var i = 0; i < x.Length; i++)
            if (where(i) && (best < 0 || x[i] > x[best])) best = i;
        return best;
    }

    /// <summary>A number in [0, 1) from SHA-256(purpose, seed, canonical example).</summary>
    internal static double UnitHash(Example e, long seed, string purpose)
    {
        var bytes = Encoding.UTF8.GetBytes($"{purpose}\n{seed}\n{e.Canonical}");
        var h = SHA256.HashData(bytes);
        var x = BinaryPrimitives.ReadUInt64LittleEndian(h) >> 11; // 53 bits
        return x / (double)(1UL << 53);
    }
}

/// <summary>The two parts of <see cref="Dataset.Split"/>. <see cref="Validation"/> is null when validationFraction is 0 or there is one example.</summary>
public sealed record DatasetSplit(Dataset Train, Dataset? Validation, double ValidationFraction, double Fraction, long Seed);
