namespace LoraKit.Peft;

/// <summary>
/// PEFT's <c>target_modules</c>: a list of module names (each matches a module whose name equals it or
/// ends with "." + it), or a single string, which PEFT treats as a regular expression that must match
/// the whole module name — except <c>"all-linear"</c>, which means every linear layer but the output head.
/// Kept as given.
/// </summary>
public sealed class PeftTargetModules : IEquatable<PeftTargetModules>
{
    private PeftTargetModules(IReadOnlyList<string> names, string? pattern)
    {
        Names = names;
        Pattern = pattern;
    }

    /// <summary>The list form's names (empty for the string form).</summary>
    public IReadOnlyList<string> Names { get; }

    /// <summary>The string form (a regex, or <c>all-linear</c>), or null for the list form.</summary>
    public string? Pattern { get; }

    public bool IsPattern => Pattern is not null;

    /// <summary>PEFT's special <c>"all-linear"</c> string (compared case-insensitively, as PEFT does).</summary>
    public bool IsAllLinear => Pattern is not null && string.Equals(Pattern, LoraConfig.AllLinear, StringComparison.OrdinalIgnoreCase);

    public static PeftTargetModules FromNames(IEnumerable<string> names)
    {
        ArgumentNullException.ThrowIfNull(names);
        var list = names.ToArray();
        if (list.Any(n => n is null)) throw new ArgumentException("Target module names cannot be null.", nameof(names));
        return new PeftTargetModules(list, null);
    }

    public static PeftTargetModules FromPattern(string pattern)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        return new PeftTargetModules(Array.Empty<string>(), pattern);
    }

    public bool Equals(PeftTargetModules? other) =>
        other is not null && Pattern == other.Pattern && Names.SequenceEqual(other.Names, StringComparer.Ordinal);

    public override bool Equals(object? obj) => Equals(obj as PeftTargetModules);

    public override int GetHashCode() => Pattern?.GetHashCode(StringComparison.Ordinal) ?? Names.Count;

    public override string ToString() => Pattern is not null ? $"\"{Pattern}\"" : $"[{string.Join(", ", Names)}]";
}
