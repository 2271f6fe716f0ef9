namespace LoraKit.Models;

/// <summary>
/// An invalid model description (LORA2xxx). The message is one line naming the source (file or
/// attribute), the field and the fix.
/// </summary>
public sealed class ModelDescriptionException(string id, string source, string? field, string problem, string fix, int line = 0)
    : Exception(Format(id, source, field, problem, fix, line))
{
    public string Id { get; } = id;

    /// <summary>The file or attribute the description came from.</summary>
    public new string Source { get; } = source;

    /// <summary>The offending key or property, when one is to blame.</summary>
    public string? Field { get; } = field;

    public string Problem { get; } = problem;
    public string Fix { get; } = fix;

    /// <summary>1-based line in <see cref="Source"/>, or 0 when unknown.</summary>
    public int Line { get; } = line;

    /// <summary>The message without its ID: where, the key, the problem and the fix.</summary>
    public string Detail => FormatDetail(Source, Field, Problem, Fix, Line);

    private static string Format(string id, string source, string? field, string problem, string fix, int line) =>
        $"{id}: {FormatDetail(source, field, problem, fix, line)}";

    private static string FormatDetail(string source, string? field, string problem, string fix, int line)
    {
        var where = line > 0 ? $"{source}({line})" : source;
        var key = field is null ? "" : $" '{field}'";
        return $"{where}:{key} {problem}; {fix}";
    }
}
