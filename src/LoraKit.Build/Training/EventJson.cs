using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace LoraKit.Build.Training;

/// <summary>
/// Reads one line of the trainer's `--events json` output: a JSON object of strings, numbers, booleans,
/// nulls and arrays. A small reader keeps the task assembly dependency-free (MSBuild on .NET Framework has
/// no System.Text.Json to lean on). Returns null for a line that is not a JSON object.
/// </summary>
internal static class EventJson
{
    public static Dictionary<string, object?>? TryParseObject(string line)
    {
        var text = line.Trim();
        if (text.Length < 2 || text[0] != '{') return null;
        try
        {
            var i = 0;
            var value = ReadValue(text, ref i);
            SkipWhite(text, ref i);
            return i == text.Length ? value as Dictionary<string, object?> : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }

    private static object? ReadValue(string s, ref int i)
    {
        SkipWhite(s, ref i);
        if (i >= s.Length) throw new FormatException("end of line");
        switch (s[i])
        {
            case '{':
                var obj = new Dictionary<string, object?>(StringComparer.Ordinal);
                i++;
                SkipWhite(s, ref i);
                if (Peek(s, i) == '}') { i++; return obj; }
                while (true)
                {
                    SkipWhite(s, ref i);
                    var key = ReadString(s, ref i);
                    SkipWhite(s, ref i);
                    Expect(s, ref i, ':');
                    obj[key] = ReadValue(s, ref i);
                    SkipWhite(s, ref i);
                    if (Peek(s, i) == ',') { i++; continue; }
                    Expect(s, ref i, '}');
                    return obj;
                }
            case '[':
                var list = new List<object?>();
                i++;
                SkipWhite(s, ref i);
                if (Peek(s, i) == ']') { i++; return list; }
                while (true)
                {
                    list.Add(ReadValue(s, ref i));
                    SkipWhite(s, ref i);
                    if (Peek(s, i) == ',') { i++; continue; }
                    Expect(s, ref i, ']');
                    return list;
                }
            case '"':
                return ReadString(s, ref i);
            case 't': return Literal(s, ref i, "true", true);
            case 'f': return Literal(s, ref i, "false", false);
            case 'n': return Literal(s, ref i, "null", null);
            case 'N': return Literal(s, ref i, "NaN", double.NaN);
            case 'I': return Literal(s, ref i, "Infinity", double.PositiveInfinity);
            default:
                var start = i;
                while (i < s.Length && "+-0123456789.eEaInfity".IndexOf(s[i]) >= 0) i++;
                var token = s.Substring(start, i - start);
                if (token == "-Infinity") return double.NegativeInfinity;
                if (double.TryParse(token, NumberStyles.Float, CultureInfo.InvariantCulture, out var d)) return d;
                throw new FormatException($"not a JSON value at {start}");
        }
    }

    private static string ReadString(string s, ref int i)
    {
        Expect(s, ref i, '"');
        var sb = new StringBuilder();
        while (true)
        {
            if (i >= s.Length) throw new FormatException("unterminated string");
            var c = s[i++];
            if (c == '"') return sb.ToString();
            if (c != '\\') { sb.Append(c); continue; }
            if (i >= s.Length) throw new FormatException("unterminated escape");
            var e = s[i++];
            switch (e)
            {
                case 'n': sb.Append('\n'); break;
                case 'r': sb.Append('\r'); break;
                case 't': sb.Append('\t'); break;
                case 'b': sb.Append('\b'); break;
                case 'f': sb.Append('\f'); break;
                case 'u':
                    if (i + 4 > s.Length) throw new FormatException("short \\u escape");
                    sb.Append((char)int.Parse(s.Substring(i, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                    i += 4;
                    break;
                default: sb.Append(e); break;
            }
        }
    }

    private static object? Literal(string s, ref int i, string word, object? value)
    {
        if (string.CompareOrdinal(s, i, word, 0, word.Length) != 0) throw new FormatException($"expected {word} at {i}");
        i += word.Length;
        return value;
    }

    private static char Peek(string s, int i) => i < s.Length ? s[i] : '\0';

    private static void Expect(string s, ref int i, char c)
    {
        if (Peek(s, i) != c) throw new FormatException($"expected '{c}' at {i}");
        i++;
    }

    private static void SkipWhite(string s, ref int i)
    {
        while (i < s.Length && char.IsWhiteSpace(s[i])) i++;
    }
}
