namespace LoraKit.Data.Jinja;

/// <summary>A name or attribute that has no value (Jinja's default <c>Undefined</c>): prints as "", is false, iterates as empty.</summary>
public sealed class JinjaUndefined
{
    public JinjaUndefined(string hint) => Hint = hint;

    /// <summary>What was looked up, e.g. <c>'tools' is undefined</c>.</summary>
    public string Hint { get; }

    public override string ToString() => "";
}

/// <summary>The object <c>namespace(...)</c> returns: attributes assignable with <c>{% set ns.x = … %}</c>.</summary>
public sealed class JinjaNamespace
{
    public Dictionary<string, object?> Attributes { get; } = new(StringComparer.Ordinal);
}

/// <summary>The <c>loop</c> variable inside a for loop: its attributes are computed when read (one small object per iteration).</summary>
internal sealed class JinjaLoop(List<object?> items, int index)
{
    public object? Attribute(string name) => name switch
    {
        "index0" => (long)index,
        "index" => (long)index + 1,
        "revindex0" => (long)(items.Count - index - 1),
        "revindex" => (long)(items.Count - index),
        "first" => index == 0,
        "last" => index == items.Count - 1,
        "length" => (long)items.Count,
        "previtem" => index > 0 ? items[index - 1] : new JinjaUndefined("there is no previous item"),
        "nextitem" => index + 1 < items.Count ? items[index + 1] : new JinjaUndefined("there is no next item"),
        "cycle" => (JinjaFunction)((a, _) => a.Count == 0 ? throw new JinjaRaisedException("loop.cycle() needs arguments") : a[index % a.Count]),
        _ => new JinjaUndefined($"'LoopContext' has no attribute '{name}'"),
    };
}

/// <summary>A function a template can call: positional and keyword arguments, already evaluated.</summary>
public delegate object? JinjaFunction(IReadOnlyList<object?> args, IReadOnlyDictionary<string, object?> kwargs);

/// <summary>Python semantics for the values templates handle: truth, equality, str(), repr() and json.dumps().</summary>
internal static class Py
{
    public static bool Truthy(object? v) => v switch
    {
        null or JinjaUndefined => false,
        bool b => b,
        long l => l != 0,
        double d => d != 0,
        string s => s.Length > 0,
        List<object?> l => l.Count > 0,
        Dictionary<string, object?> d => d.Count > 0,
        _ => true,
    };

    public static string TypeName(object? v) => v switch
    {
        null => "NoneType",
        JinjaUndefined => "Undefined",
        bool => "bool",
        long => "int",
        double => "float",
        string => "str",
        List<object?> => "list",
        Dictionary<string, object?> => "dict",
        JinjaNamespace => "Namespace",
        JinjaFunction => "function",
        JinjaLoop => "LoopContext",
        _ => v.GetType().Name,
    };

    public static bool IsNumber(object? v) => v is long or double or bool;

    public static double ToDouble(object? v) => v switch
    {
        long l => l,
        double d => d,
        bool b => b ? 1 : 0,
        _ => throw new InvalidOperationException($"{TypeName(v)} is not a number"),
    };

    public static new bool Equals(object? a, object? b)
    {
        long visited = 0;
        return Equals(a, b, 0, ref visited);
    }

    // Lists and dicts can share parts ([x, x] nested n times holds 2^n leaves): the nodes one comparison visits are
    // counted against the step budget. Identical objects are equal without a look inside, as in Python.
    private static bool Equals(object? a, object? b, int depth, ref long visited)
    {
        if (depth > JinjaLimits.MaxDepth) throw SandboxLimitException.TooDeep();
        if (++visited > JinjaLimits.MaxSteps)
            throw new SandboxLimitException(JinjaLimits.Steps, $"comparing two values took more than {JinjaLimits.MaxSteps:N0} steps");
        if (ReferenceEquals(a, b) && a is List<object?> or Dictionary<string, object?>) return true;
        if (a is JinjaUndefined || b is JinjaUndefined) return a is JinjaUndefined && b is JinjaUndefined;
        if (a is null || b is null) return a is null && b is null;
        if (IsNumber(a) && IsNumber(b))
        {
            if (a is double || b is double) return ToDouble(a) == ToDouble(b);
            return ToLong(a) == ToLong(b);
        }
        if (a is string sa && b is string sb) return string.Equals(sa, sb, StringComparison.Ordinal);
        if (a is List<object?> la && b is List<object?> lb)
        {
            if (la.Count != lb.Count) return false;
            for (var i = 0; i < la.Count; i++)
                if (!Equals(la[i], lb[i], depth + 1, ref visited)) return false;
            return true;
        }
        if (a is Dictionary<string, object?> da && b is Dictionary<string, object?> db)
        {
            if (da.Count != db.Count) return false;
            foreach (var (k, v) in da)
                if (!db.TryGetValue(k, out var w) || !Equals(v, w, depth + 1, ref visited)) return false;
            return true;
        }
        return ReferenceEquals(a, b);
    }

    public static long ToLong(object? v) => v switch
    {
        long l => l,
        bool b => b ? 1 : 0,
        double d => ToLong(d),
        _ => throw new InvalidOperationException($"{TypeName(v)} is not an integer"),
    };

    /// <summary>Python's <c>int(d)</c> for a float: truncated toward zero; NaN, infinities and values beyond 64 bits are refused.</summary>
    public static long ToLong(double d)
    {
        if (double.IsNaN(d)) throw new InvalidOperationException("cannot convert float NaN to integer");
        if (double.IsInfinity(d)) throw new InvalidOperationException("cannot convert float infinity to integer");
        if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) throw SandboxLimitException.IntegerRange();
        return (long)d;
    }

    /// <summary>Python's <c>str()</c>.</summary>
    public static string Str(object? v) => v switch
    {
        string s => s,
        JinjaUndefined => "",
        _ => Repr(v),
    };

    /// <summary>Python's <c>repr()</c> (strings in single quotes unless they hold one and no double quote).</summary>
    public static string Repr(object? v)
    {
        var sb = new StringBuilder();
        Repr(sb, v, 0);
        return sb.ToString();
    }

    // One builder for the whole value, its length checked as it grows: a list that holds itself many times over
    // ([x, x] nested n times) stops at the string limit after that much work, not after 2^n.
    private static void Repr(StringBuilder sb, object? v, int depth)
    {
        if (depth > JinjaLimits.MaxDepth) throw SandboxLimitException.TooDeep();
        if (sb.Length > JinjaLimits.MaxStringLength) throw SandboxLimitException.StringTooLong(sb.Length);
        switch (v)
        {
            case null: sb.Append("None"); return;
            case JinjaUndefined: return;
            case bool b: sb.Append(b ? "True" : "False"); return;
            case long l: sb.Append(l.ToString(CultureInfo.InvariantCulture)); return;
            case double d: sb.Append(FloatRepr(d)); return;
            case string s:
                {
                    var q = s.Contains('\'') && !s.Contains('"') ? '"' : '\'';
                    sb.Append(q);
                    foreach (var c in s)
                    {
                        if (c == q || c == '\\') sb.Append('\\').Append(c);
                        else if (c == '\n') sb.Append("\\n");
                        else if (c == '\r') sb.Append("\\r");
                        else if (c == '\t') sb.Append("\\t");
                        else if (c < 0x20 || c == 0x7f) sb.Append("\\x").Append(((int)c).ToString("x2", CultureInfo.InvariantCulture));
                        else sb.Append(c);
                    }
                    sb.Append(q);
                    return;
                }
            case List<object?> list:
                sb.Append('[');
                for (var i = 0; i < list.Count; i++)
                {
                    if (i > 0) sb.Append(", ");
                    Repr(sb, list[i], depth + 1);
                }
                sb.Append(']');
                return;
            case Dictionary<string, object?> dict:
                {
                    sb.Append('{');
                    var first = true;
                    foreach (var (k, x) in dict)
                    {
                        if (!first) sb.Append(", ");
                        first = false;
                        Repr(sb, k, depth + 1);
                        sb.Append(": ");
                        Repr(sb, x, depth + 1);
                    }
                    sb.Append('}');
                    return;
                }
            case JinjaNamespace: sb.Append("<Namespace>"); return;
            case JinjaLoop: sb.Append("<LoopContext>"); return;
            default: sb.Append(v.ToString()); return;
        }
    }

    public static string FloatRepr(double d)
    {
        if (double.IsNaN(d)) return "nan";
        if (double.IsPositiveInfinity(d)) return "inf";
        if (double.IsNegativeInfinity(d)) return "-inf";
        var s = d.ToString("R", CultureInfo.InvariantCulture);
        if (s.Contains('E'))
        {
            // Python: 1e+20, 1e-05
            var parts = s.Split('E');
            var exp = int.Parse(parts[1], CultureInfo.InvariantCulture);
            return parts[0] + "e" + (exp < 0 ? "-" : "+") + Math.Abs(exp).ToString("00", CultureInfo.InvariantCulture);
        }
        return s.Contains('.') ? s : s + ".0";
    }

    /// <summary>Python's <c>json.dumps(v, ensure_ascii=False, indent=indent)</c>, which is what Hugging Face's <c>tojson</c> filter calls.</summary>
    public static string Json(object? v, int? indent, string? itemSeparator = null, string? keySeparator = null)
    {
        var sb = new StringBuilder();
        WriteJson(sb, v, indent, 0, itemSeparator ?? (indent is null ? ", " : ","), keySeparator ?? ": ");
        return sb.ToString();
    }

    private static void WriteJson(StringBuilder sb, object? v, int? indent, int depth, string itemSep, string keySep)
    {
        if (depth > JinjaLimits.MaxDepth) throw SandboxLimitException.TooDeep();
        if (sb.Length > JinjaLimits.MaxStringLength) throw SandboxLimitException.StringTooLong(sb.Length);
        switch (v)
        {
            case null or JinjaUndefined: sb.Append("null"); return;
            case bool b: sb.Append(b ? "true" : "false"); return;
            case long l: sb.Append(l.ToString(CultureInfo.InvariantCulture)); return;
            case double d:
                sb.Append(double.IsNaN(d) ? "NaN" : double.IsPositiveInfinity(d) ? "Infinity" : double.IsNegativeInfinity(d) ? "-Infinity" : FloatRepr(d));
                return;
            case string s: LoraKit.Json.JsonLineWriter.QuoteAsSerde(sb, s); return;
            case List<object?> list:
                WriteContainer(sb, '[', ']', list.Count, indent, depth, itemSep, i => WriteJson(sb, list[i], indent, depth + 1, itemSep, keySep));
                return;
            case Dictionary<string, object?> dict:
                {
                    var entries = dict.ToList();
                    WriteContainer(sb, '{', '}', entries.Count, indent, depth, itemSep, i =>
                    {
                        LoraKit.Json.JsonLineWriter.QuoteAsSerde(sb, entries[i].Key);
                        sb.Append(keySep);
                        WriteJson(sb, entries[i].Value, indent, depth + 1, itemSep, keySep);
                    });
                    return;
                }
            case JinjaNamespace ns: WriteJson(sb, ns.Attributes, indent, depth, itemSep, keySep); return;
            default: throw new InvalidOperationException($"Object of type {TypeName(v)} is not JSON serializable");
        }
    }

    private static void WriteContainer(StringBuilder sb, char open, char close, int count, int? indent, int depth, string itemSep, Action<int> item)
    {
        sb.Append(open);
        if (count == 0)
        {
            sb.Append(close);
            return;
        }
        for (var i = 0; i < count; i++)
        {
            if (i > 0) sb.Append(itemSep);
            if (indent is int n) sb.Append('\n').Append(' ', n * (depth + 1));
            item(i);
        }
        if (indent is int m) sb.Append('\n').Append(' ', m * depth);
        sb.Append(close);
    }

    /// <summary>A JSON element as a template value: objects become dicts (key order kept), arrays lists, integers long.</summary>
    public static object? FromJson(System.Text.Json.JsonElement e) => e.ValueKind switch
    {
        System.Text.Json.JsonValueKind.Object => e.EnumerateObject().Aggregate(new Dictionary<string, object?>(StringComparer.Ordinal), (d, p) =>
        {
            d[p.Name] = FromJson(p.Value);
            return d;
        }),
        System.Text.Json.JsonValueKind.Array => e.EnumerateArray().Select(FromJson).ToList(),
        System.Text.Json.JsonValueKind.String => e.GetString(),
        System.Text.Json.JsonValueKind.Number => e.TryGetInt64(out var l) ? l : e.GetDouble(),
        System.Text.Json.JsonValueKind.True => true,
        System.Text.Json.JsonValueKind.False => false,
        _ => null,
    };
}
