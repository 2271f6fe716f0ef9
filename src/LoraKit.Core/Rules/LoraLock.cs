using System.Text;
using LoraKit.Json;

namespace LoraKit.Rules;

/// <summary>One adapter's entry in <c>lora.lock.json</c>: the rank a sweep chose, and what it was chosen on.</summary>
/// <param name="Source">The lock file, for messages.</param>
public sealed record LockedAdapter(string Name, int Rank, double? Alpha, string Source)
{
    /// <summary>The validation metric of the chosen rank, when the sweep recorded it.</summary>
    public double? Metric { get; init; }
}

/// <summary>
/// The rank choices of the last sweep (the rank guide, production path: "Lock that rank and run full training",
/// keep "the provenance of your hyperparameter choice"). Schema, version 1:
/// <code>{ "version": 1, "adapters": { "SupportAdapter": { "rank": 8, "alpha": 16, "metric": 0.91 } } }</code>
/// Only <c>adapters.*.rank</c> is required; unknown members are ignored so later versions can add fields.
/// </summary>
public sealed class LoraLock
{
    public const string FileName = "lora.lock.json";
    public const int CurrentVersion = 1;

    /// <summary>Member names of the schema, for this reader and every writer (the sweep's and <see cref="Serialize"/>).</summary>
    public const string VersionKey = "version", AdaptersKey = "adapters", RankKey = "rank", AlphaKey = "alpha", MetricKey = "metric";

    private readonly Dictionary<string, LockedAdapter> _adapters;

    private LoraLock(Dictionary<string, LockedAdapter> adapters) => _adapters = adapters;

    public IReadOnlyCollection<LockedAdapter> Adapters => _adapters.Values;

    /// <summary>The locked entry of an adapter by its class name, or null.</summary>
    public LockedAdapter? Find(string adapterName) => _adapters.TryGetValue(adapterName, out var a) ? a : null;

    /// <summary>Parses lock text; every problem is a <see cref="FormatException"/> whose message names <paramref name="source"/>, the line and the fix.</summary>
    public static LoraLock Parse(string json, string source)
    {
        JsonValue root;
        try
        {
            root = JsonValue.Parse(json);
        }
        catch (JsonParseException e)
        {
            throw Problem(source, e.Line, $"is not valid JSON: {e.Message}");
        }
        if (root.Kind != JsonKind.Object) throw Problem(source, root.Line, "is not a JSON object; expected { \"adapters\": { … } }");
        var version = root[VersionKey];
        if (version is not null && (!version.TryGetInt64(out var v) || v < 1 || v > CurrentVersion))
            throw Problem(source, version.Line, $"has version {Describe(version)}; this LoraKit reads version {CurrentVersion}");
        var adapters = root[AdaptersKey];
        if (adapters is null || adapters.Kind != JsonKind.Object)
            throw Problem(source, adapters?.Line ?? root.Line, "has no \"adapters\" object; expected { \"adapters\": { \"MyAdapter\": { \"rank\": 8 } } }");
        var result = new Dictionary<string, LockedAdapter>(StringComparer.Ordinal);
        foreach (var member in adapters.Members)
        {
            var entry = member.Value;
            if (entry.Kind != JsonKind.Object) throw Problem(source, entry.Line, $"adapter \"{member.Key}\" is not an object with a \"rank\"");
            var rank = entry[RankKey];
            if (rank is null || !rank.TryGetInt64(out var r) || r < 1 || r > int.MaxValue)
                throw Problem(source, rank?.Line ?? entry.Line, $"adapter \"{member.Key}\" has rank {(rank is null ? "missing" : Describe(rank))}; give a whole number of at least 1");
            var alpha = entry[AlphaKey];
            double? alphaValue = null;
            if (alpha is not null && alpha.Kind != JsonKind.Null)
            {
                if (alpha.Kind != JsonKind.Number || !(alpha.AsDouble() > 0))
                    throw Problem(source, alpha.Line, $"adapter \"{member.Key}\" has alpha {Describe(alpha)}; give a positive number");
                alphaValue = alpha.AsDouble();
            }
            var metric = entry[MetricKey];
            result[member.Key] = new LockedAdapter(member.Key, (int)r, alphaValue, source)
            {
                Metric = metric is { Kind: JsonKind.Number } ? metric.AsDouble() : null,
            };
        }
        return new LoraLock(result);
    }

    /// <summary>Writes the lock as the sweep leaves it: version 1, adapters in name order, invariant numbers, \n line ends.</summary>
    public static string Serialize(IEnumerable<LockedAdapter> adapters)
    {
        var list = new List<LockedAdapter>(adapters);
        list.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        var sb = new StringBuilder();
        sb.Append("{\n  ").Append(Key(VersionKey)).Append(CurrentVersion).Append(",\n  ").Append(Key(AdaptersKey)).Append('{');
        for (var i = 0; i < list.Count; i++)
        {
            var a = list[i];
            sb.Append(i == 0 ? "\n" : ",\n").Append("    \"").Append(Escape(a.Name)).Append("\": { ").Append(Key(RankKey)).Append(a.Rank.ToString(CultureInfo.InvariantCulture));
            if (a.Alpha is { } alpha) sb.Append(", ").Append(Key(AlphaKey)).Append(alpha.ToString("R", CultureInfo.InvariantCulture));
            if (a.Metric is { } metric) sb.Append(", ").Append(Key(MetricKey)).Append(metric.ToString("R", CultureInfo.InvariantCulture));
            sb.Append(" }");
        }
        sb.Append(list.Count == 0 ? "}\n}\n" : "\n  }\n}\n");
        return sb.ToString();
    }

    private static string Key(string name) => "\"" + name + "\": ";

    private static string Escape(string s) => s.Replace("\\", "\\\\").Replace("\"", "\\\"");

    private static string Describe(JsonValue v) => v.Kind switch
    {
        JsonKind.Number => v.RawNumber,
        JsonKind.String => "\"" + v.AsString() + "\"",
        _ => v.Kind.ToString().ToLowerInvariant(),
    };

    private static LoraLockException Problem(string source, int line, string problem) => new(source, line, problem);
}

/// <summary>An invalid lora.lock.json: the message is "source(line): problem", <see cref="Line"/> is 1-based.</summary>
public sealed class LoraLockException : FormatException
{
    public LoraLockException(string source, int line, string problem)
        : base($"{source}({line}): {problem}")
    {
        Line = line;
    }

    public int Line { get; }
}
