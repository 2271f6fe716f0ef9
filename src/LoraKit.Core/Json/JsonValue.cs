namespace LoraKit.Json;

/// <summary>Kinds of value in the minimal JSON tree that LoraKit.Core reads config files into.</summary>
public enum JsonKind { Null, Boolean, Number, String, Array, Object }

/// <summary>
/// A parsed JSON value. LoraKit.Core has no package dependencies (analyzers compile it in), so it
/// carries its own small reader instead of System.Text.Json.
/// </summary>
public sealed class JsonValue
{
    private readonly object? _value;

    private JsonValue(JsonKind kind, object? value, int line, int column)
    {
        Kind = kind;
        _value = value;
        Line = line;
        Column = column;
    }

    public JsonKind Kind { get; }

    /// <summary>1-based line of the value's first character in the source text.</summary>
    public int Line { get; }

    /// <summary>1-based column of the value's first character in the source text.</summary>
    public int Column { get; }

    internal static JsonValue Null(int line, int column) => new(JsonKind.Null, null, line, column);
    internal static JsonValue Bool(bool value, int line, int column) => new(JsonKind.Boolean, value, line, column);
    internal static JsonValue Number(string raw, int line, int column) => new(JsonKind.Number, raw, line, column);
    internal static JsonValue Str(string value, int line, int column) => new(JsonKind.String, value, line, column);
    internal static JsonValue Arr(List<JsonValue> items, int line, int column) => new(JsonKind.Array, items, line, column);
    internal static JsonValue Obj(List<KeyValuePair<string, JsonValue>> members, int line, int column) => new(JsonKind.Object, members, line, column);

    public bool AsBoolean() => Kind == JsonKind.Boolean ? (bool)_value! : throw WrongKind(JsonKind.Boolean);

    public string AsString() => Kind == JsonKind.String ? (string)_value! : throw WrongKind(JsonKind.String);

    /// <summary>The number's text exactly as written.</summary>
    public string RawNumber => Kind == JsonKind.Number ? (string)_value! : throw WrongKind(JsonKind.Number);

    public double AsDouble() => double.Parse(RawNumber, NumberStyles.Float, CultureInfo.InvariantCulture);

    /// <summary>True when the number is integral and fits in a long (e.g. 4096 or 4096.0, not 1e400).</summary>
    public bool TryGetInt64(out long value)
    {
        value = 0;
        if (Kind != JsonKind.Number) return false;
        if (long.TryParse(RawNumber, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value)) return true;
        var d = AsDouble();
        if (Math.Floor(d) == d && d >= long.MinValue && d <= long.MaxValue)
        {
            value = (long)d;
            return true;
        }
        return false;
    }

    public IReadOnlyList<JsonValue> Items => Kind == JsonKind.Array ? (List<JsonValue>)_value! : throw WrongKind(JsonKind.Array);

    public IReadOnlyList<KeyValuePair<string, JsonValue>> Members =>
        Kind == JsonKind.Object ? (List<KeyValuePair<string, JsonValue>>)_value! : throw WrongKind(JsonKind.Object);

    /// <summary>The last member with this name (as most JSON readers do), or null.</summary>
    public JsonValue? this[string name]
    {
        get
        {
            JsonValue? found = null;
            foreach (var member in Members)
                if (member.Key == name) found = member.Value;
            return found;
        }
    }

    public static JsonValue Parse(string text) => new JsonParser(text).ParseDocument();

    private InvalidOperationException WrongKind(JsonKind wanted) =>
        new($"JSON value at line {Line}, column {Column} is {Kind}, not {wanted}.");
}

/// <summary>Malformed JSON text, with the 1-based position of the problem.</summary>
public sealed class JsonParseException : FormatException
{
    public JsonParseException(string message, int line, int column)
        : base($"{message} (line {line}, column {column})")
    {
        Line = line;
        Column = column;
    }

    public int Line { get; }
    public int Column { get; }
}
