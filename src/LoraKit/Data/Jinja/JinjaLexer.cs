namespace LoraKit.Data.Jinja;

internal enum TokKind
{
    Text,        // literal template text (Value)
    OutputStart, // {{
    OutputEnd,   // }}
    BlockStart,  // {%
    BlockEnd,    // %}
    Name,
    String,
    Integer,
    Float,
    Op,          // operators and punctuation (Value)
    End,
}

internal readonly record struct Tok(TokKind Kind, string Value, int Line);

/// <summary>
/// Splits a template into text and tag tokens the way Jinja does with Hugging Face's settings
/// (<c>trim_blocks=True</c>, <c>lstrip_blocks=True</c>): <c>-</c> strips all whitespace on that side of a tag;
/// after a block or comment tag one newline is removed (unless <c>+%}</c>); spaces and tabs from the start of a
/// line up to a block or comment tag are removed (unless <c>{%+</c>). Comments produce no token.
/// </summary>
internal static class JinjaLexer
{
    private static readonly string[] Ops =
    {
        "//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">", "(", ")", "[", "]", "{", "}", ",", ":", ".", "|", "=",
    };

    public static List<Tok> Lex(string src, string name)
    {
        var toks = new List<Tok>();
        var pos = 0;
        var line = 1;
        var lineStarting = true; // the previous tag consumed a newline, or we are at the start
        var stripNextLeading = false;
        while (pos <= src.Length)
        {
            var next = FindTagStart(src, pos);
            var textEnd = next < 0 ? src.Length : next;
            var text = src.Substring(pos, textEnd - pos);
            if (stripNextLeading) text = text.TrimStart();
            char kind = next < 0 ? '\0' : src[next + 1];
            var modifier = next >= 0 && next + 2 < src.Length ? src[next + 2] : '\0';
            if (next >= 0)
            {
                if (modifier == '-') text = text.TrimEnd();
                else if ((kind == '%' || kind == '#') && modifier != '+')
                {
                    var nl = text.LastIndexOf('\n');
                    var tail = text.Substring(nl + 1);
                    if ((nl >= 0 || lineStarting) && IsSpaceOrTab(tail)) text = text.Substring(0, nl + 1);
                }
            }
            if (text.Length > 0) toks.Add(new Tok(TokKind.Text, text, line));
            line += Count(src, pos, textEnd, '\n');
            if (next < 0) break;

            var bodyStart = next + 2 + (modifier is '-' or '+' ? 1 : 0);
            int after;
            bool rightStrip;
            if (kind == '#')
            {
                var close = src.IndexOf("#}", bodyStart, StringComparison.Ordinal);
                if (close < 0) throw new JinjaException(name, line, "a comment '{#' is never closed with '#}'");
                rightStrip = close > bodyStart && src[close - 1] == '-';
                var keepNewline = close > bodyStart && src[close - 1] == '+';
                line += Count(src, next, close, '\n');
                after = close + 2;
                if (!rightStrip && !keepNewline) after = SkipOneNewline(src, after, ref line, out lineStarting);
                else lineStarting = false;
            }
            else
            {
                toks.Add(new Tok(kind == '{' ? TokKind.OutputStart : TokKind.BlockStart, kind == '{' ? "{{" : "{%", line));
                var closer = kind == '{' ? "}}" : "%}";
                var p = bodyStart;
                LexExpression(src, ref p, ref line, closer, toks, name, out rightStrip, out var keepNewline);
                toks.Add(new Tok(kind == '{' ? TokKind.OutputEnd : TokKind.BlockEnd, closer, line));
                after = p;
                if (kind == '%' && !rightStrip && !keepNewline) after = SkipOneNewline(src, after, ref line, out lineStarting);
                else lineStarting = false;
            }
            stripNextLeading = rightStrip;
            pos = after;
            if (pos == src.Length && !stripNextLeading) break;
        }
        toks.Add(new Tok(TokKind.End, "", line));
        return toks;
    }

    private static int SkipOneNewline(string src, int at, ref int line, out bool lineStarting)
    {
        lineStarting = false;
        if (at < src.Length && src[at] == '\n')
        {
            line++;
            lineStarting = true;
            return at + 1;
        }
        if (at + 1 < src.Length && src[at] == '\r' && src[at + 1] == '\n')
        {
            line++;
            lineStarting = true;
            return at + 2;
        }
        return at;
    }

    private static bool IsSpaceOrTab(string s)
    {
        foreach (var c in s)
            if (c != ' ' && c != '\t') return false;
        return true;
    }

    private static int Count(string s, int from, int to, char c)
    {
        var n = 0;
        for (var i = from; i < to; i++)
            if (s[i] == c) n++;
        return n;
    }

    private static int FindTagStart(string src, int from)
    {
        for (var i = src.IndexOf('{', from); i >= 0 && i + 1 < src.Length; i = src.IndexOf('{', i + 1))
        {
            var c = src[i + 1];
            if (c is '{' or '%' or '#') return i;
        }
        return -1;
    }

    private static void LexExpression(string src, ref int p, ref int line, string closer, List<Tok> toks, string name, out bool rightStrip, out bool keepNewline)
    {
        rightStrip = false;
        keepNewline = false;
        var openedOn = line;
        while (true)
        {
            if (p >= src.Length) throw new JinjaException(name, openedOn, $"a tag is never closed with '{closer}'");
            var c = src[p];
            if (c == '\n') line++;
            if (char.IsWhiteSpace(c))
            {
                p++;
                continue;
            }
            if ((c == '-' || c == '+') && string.CompareOrdinal(src, p + 1, closer, 0, 2) == 0)
            {
                rightStrip = c == '-';
                keepNewline = c == '+';
                p += 3;
                return;
            }
            if (string.CompareOrdinal(src, p, closer, 0, 2) == 0)
            {
                // "}}" may also close two dict literals inside {{ }}: only treat it as the end when braces are balanced.
                if (closer != "}}" || Balanced(toks))
                {
                    p += 2;
                    return;
                }
            }
            if (char.IsLetter(c) || c == '_')
            {
                var s = p;
                while (p < src.Length && (char.IsLetterOrDigit(src[p]) || src[p] == '_')) p++;
                toks.Add(new Tok(TokKind.Name, src.Substring(s, p - s), line));
                continue;
            }
            if (char.IsAsciiDigit(c))
            {
                var s = p;
                while (p < src.Length && (char.IsAsciiDigit(src[p]) || src[p] == '_')) p++;
                var isFloat = false;
                if (p + 1 < src.Length && src[p] == '.' && char.IsAsciiDigit(src[p + 1]))
                {
                    isFloat = true;
                    p++;
                    while (p < src.Length && char.IsAsciiDigit(src[p])) p++;
                }
                // An exponent, as jinja2's float literals take it: 1e30, 2.5E-3.
                if (p < src.Length && src[p] is 'e' or 'E')
                {
                    var q = p + 1;
                    if (q < src.Length && src[q] is '+' or '-') q++;
                    if (q < src.Length && char.IsAsciiDigit(src[q]))
                    {
                        isFloat = true;
                        p = q;
                        while (p < src.Length && char.IsAsciiDigit(src[p])) p++;
                    }
                }
                toks.Add(new Tok(isFloat ? TokKind.Float : TokKind.Integer, src.Substring(s, p - s).Replace("_", ""), line));
                continue;
            }
            if (c == '\'' || c == '"')
            {
                toks.Add(new Tok(TokKind.String, ReadString(src, ref p, ref line, name), line));
                continue;
            }
            var at = p;
            var op = Array.Find(Ops, o => string.CompareOrdinal(src, at, o, 0, o.Length) == 0);
            if (op is null) throw new JinjaException(name, line, $"unexpected character '{c}' in a tag");
            toks.Add(new Tok(TokKind.Op, op, line));
            p += op.Length;
        }
    }

    private static bool Balanced(List<Tok> toks)
    {
        var depth = 0;
        for (var i = toks.Count - 1; i >= 0 && toks[i].Kind != TokKind.OutputStart; i--)
        {
            if (toks[i].Kind != TokKind.Op) continue;
            if (toks[i].Value == "{") depth++;
            else if (toks[i].Value == "}") depth--;
        }
        return depth <= 0;
    }

    // Python string literal escapes, as Jinja's lexer applies them.
    private static string ReadString(string src, ref int p, ref int line, string name)
    {
        var openedOn = line;
        var quote = src[p++];
        var sb = new StringBuilder();
        while (true)
        {
            if (p >= src.Length) throw new JinjaException(name, openedOn, "a string literal is never closed");
            var c = src[p++];
            if (c == quote) return sb.ToString();
            if (c == '\n') line++;
            if (c != '\\')
            {
                sb.Append(c);
                continue;
            }
            if (p >= src.Length) throw new JinjaException(name, line, "a string literal ends in a backslash");
            var e = src[p++];
            switch (e)
            {
                case 'n': sb.Append('\n'); break;
                case 't': sb.Append('\t'); break;
                case 'r': sb.Append('\r'); break;
                case 'a': sb.Append('\a'); break;
                case 'b': sb.Append('\b'); break;
                case 'f': sb.Append('\f'); break;
                case 'v': sb.Append('\v'); break;
                case '\\': sb.Append('\\'); break;
                case '\'': sb.Append('\''); break;
                case '"': sb.Append('"'); break;
                case '\n': line++; break;
                case >= '0' and <= '7':
                {
                    // Up to three octal digits, as Python's unicode-escape reads them.
                    var value = e - '0';
                    for (var k = 0; k < 2 && p < src.Length && src[p] is >= '0' and <= '7'; k++) value = value * 8 + (src[p++] - '0');
                    sb.Append((char)value);
                    break;
                }
                case 'x': AppendCodePoint(sb, Hex(src, ref p, 2, "\\xXX", name, line), name, line); break;
                case 'u': AppendCodePoint(sb, Hex(src, ref p, 4, "\\uXXXX", name, line), name, line); break;
                case 'U': AppendCodePoint(sb, Hex(src, ref p, 8, "\\UXXXXXXXX", name, line), name, line); break;
                case 'N':
                    throw new JinjaException(name, line, "a \\N{...} escape (a character by its Unicode name) is not supported; write the character itself or \\uXXXX");
                default: sb.Append('\\').Append(e); break; // Python keeps an unknown escape as written
            }
        }
    }

    /// <summary>Exactly <paramref name="digits"/> hex digits after an escape; fewer is Python's "truncated \\xXX escape".</summary>
    private static int Hex(string src, ref int p, int digits, string form, string name, int line)
    {
        var value = 0L;
        for (var k = 0; k < digits; k++)
        {
            if (p >= src.Length || !char.IsAsciiHexDigit(src[p]))
                throw new JinjaException(name, line, $"truncated {form} escape in a string literal (it needs {digits} hex digits)");
            value = value * 16 + Convert.ToInt32(src[p++].ToString(), 16);
        }
        return value > int.MaxValue ? -1 : (int)value;
    }

    private static void AppendCodePoint(StringBuilder sb, int codePoint, string name, int line)
    {
        if (codePoint is < 0 or > 0x10FFFF)
            throw new JinjaException(name, line, "an escape in a string literal is beyond the last Unicode character (U+10FFFF)");
        if (codePoint <= 0xFFFF) sb.Append((char)codePoint); // lone surrogates stay, as in a Python str
        else sb.Append(char.ConvertFromUtf32(codePoint));
    }
}
