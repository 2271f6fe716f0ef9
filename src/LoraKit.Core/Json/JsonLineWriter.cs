using System.Text;

namespace LoraKit.Json;

/// <summary>
/// Writes one JSON object on one line (JSON-lines): strings escaped per RFC 8259 with non-ASCII kept
/// readable, numbers in the invariant culture with round-trip precision, and non-finite doubles as
/// the strings "NaN", "Infinity" and "-Infinity" (the convention of System.Text.Json's named
/// floating-point literals), so every line stays valid JSON.
/// </summary>
public sealed class JsonLineWriter
{
    private readonly StringBuilder _sb = new("{");
    private bool _first = true;

    public JsonLineWriter String(string name, string? value)
    {
        Name(name);
        if (value is null) _sb.Append("null");
        else Quote(_sb, value);
        return this;
    }

    public JsonLineWriter Number(string name, double value)
    {
        Name(name);
        if (double.IsNaN(value) || double.IsInfinity(value)) Quote(_sb, NonFinite(value));
        else _sb.Append(value.ToString("R", CultureInfo.InvariantCulture));
        return this;
    }

    public JsonLineWriter Number(string name, double? value) => value is { } v ? Number(name, v) : Null(name);

    public JsonLineWriter Integer(string name, long value)
    {
        Name(name);
        _sb.Append(value.ToString(CultureInfo.InvariantCulture));
        return this;
    }

    public JsonLineWriter Integer(string name, long? value) => value is { } v ? Integer(name, v) : Null(name);

    public JsonLineWriter Boolean(string name, bool value)
    {
        Name(name);
        _sb.Append(value ? "true" : "false");
        return this;
    }

    public JsonLineWriter Strings(string name, IEnumerable<string> values)
    {
        Name(name);
        _sb.Append('[');
        var first = true;
        foreach (var v in values)
        {
            if (!first) _sb.Append(',');
            first = false;
            Quote(_sb, v);
        }
        _sb.Append(']');
        return this;
    }

    public JsonLineWriter Null(string name)
    {
        Name(name);
        _sb.Append("null");
        return this;
    }

    public override string ToString() => _sb.ToString() + "}";

    /// <summary>The text of a non-finite double as written: "NaN", "Infinity" or "-Infinity".</summary>
    public static string NonFinite(double value) => double.IsNaN(value) ? "NaN" : value > 0 ? "Infinity" : "-Infinity";

    /// <summary>
    /// Appends <paramref name="value"/> as a quoted JSON string escaped only where JSON requires it, as Rust's serde_json
    /// and Python's <c>json.dumps(ensure_ascii=False)</c> write strings: <c>\"</c>, <c>\\</c>, <c>\b \f \n \r \t</c>, other
    /// control characters as <c>\u00XX</c>, everything else as is. Files other tools read byte for byte (safetensors
    /// headers) and Jinja's <c>tojson</c> use it.
    /// </summary>
    public static void QuoteAsSerde(StringBuilder sb, string value) => Quote(sb, value, serde: true);

    /// <summary>Appends <paramref name="value"/> as a quoted JSON string.</summary>
    public static void Quote(StringBuilder sb, string value) => Quote(sb, value, serde: false);

    // The two escapings differ only in \b and \f (serde's short forms) and U+2028/U+2029 (escaped by Quote alone:
    // JavaScript before ES2019 refused them unescaped in strings); every other control character is \u00XX in both.
    private static void Quote(StringBuilder sb, string value, bool serde)
    {
        sb.Append('"');
        foreach (var c in value)
        {
            var escaped = c switch
            {
                '"' => "\\\"",
                '\\' => "\\\\",
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                '\b' when serde => "\\b",
                '\f' when serde => "\\f",
                _ => null,
            };
            if (escaped is not null) sb.Append(escaped);
            else if (c < 0x20 || (!serde && c is '\u2028' or '\u2029')) sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
            else sb.Append(c);
        }
        sb.Append('"');
    }

    private void Name(string name)
    {
        if (!_first) _sb.Append(',');
        _first = false;
        Quote(_sb, name);
        _sb.Append(':');
    }
}
