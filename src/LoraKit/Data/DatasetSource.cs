namespace LoraKit.Data;

/// <summary>The CLI's entry point for <c>--data</c>: a builtin spec or a JSONL file.</summary>
public static class DatasetSource
{
    /// <summary>
    /// Opens <paramref name="spec"/>: <c>builtin…</c> (see <see cref="BuiltinData.TryResolve"/>) or the path of a JSONL
    /// file (see <see cref="JsonlDataset"/>). Throws <see cref="DataException"/> with the file, the problem and the fix.
    /// </summary>
    public static Dataset Open(string spec, int maxBadLines = 0)
    {
        if (spec is null) throw new ArgumentNullException(nameof(spec));
        if (string.IsNullOrWhiteSpace(spec))
            throw new DataException($"no dataset given; pass a JSONL file or one of {string.Join(", ", BuiltinData.Names)}");
        if (BuiltinData.TryResolve(spec, out var builtin)) return builtin!;
        if (Directory.Exists(spec))
            throw new DataException($"dataset '{spec}' is a folder; pass the JSONL file inside it", spec);
        if (!File.Exists(spec))
            throw new DataException($"dataset file '{spec}' does not exist; pass a JSONL file or one of {string.Join(", ", BuiltinData.Names)}", spec);
        return JsonlDataset.Load(spec, maxBadLines);
    }
}
