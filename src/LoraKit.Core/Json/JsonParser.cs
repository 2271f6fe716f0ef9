using System.Text;

namespace LoraKit.Json;

/// <summary>
/// Strict RFC 8259 reader with line/column tracking and a nesting limit. Stricter than RFC 8259 where readers
/// disagree: a key twice in one object is an error (readers differ on which one wins), and so is a lone UTF-16
/// surrogate (escaped as <c>\ud800</c> or raw), which is no character.
/// </summary>
internal sealed class JsonParser
{
    private const int MaxDepth = 128;
    private readonly string _text;
    private int _pos;
    private int _line = 1;
    private int _lineStart;

    public JsonParser(string text) => _text = text;

    public JsonValue ParseDocument()
    {
        if (_text.Length > 0 && _text[0] == '\uFEFF') _pos = 1;
        SkipWhitespace();
        if (_pos >= _text.Length) throw Error("the file is empty, expected a JSON value");
        var value = ParseValue(0);
        SkipWhitespace();
        if (_pos < _text.Length) throw Error($"unexpected '{_text[_pos]}' after the end of the JSON value");
        return value;
    }

    private int Column => _pos - _lineStart + 1;

    private JsonParseException Error(string message) => new(message, _line, Column);

    private void SkipWhitespace()
    {
        while (_pos < _text.Length)
        {
            var c = _text[_pos];
            if (c == '\n')
            {
                _pos++;
                _line++;
                _lineStart = _pos;
            }
            else if (c == ' ' || c == '\t' || c == '\r') _pos++;
            else break;
        }
    }

    private JsonValue ParseValue(int depth)
    {
        if (depth > MaxDepth) throw Error($"nesting deeper than {MaxDepth} levels");
        SkipWhitespace();
        if (_pos >= _text.Length) throw Error("unexpected end of file, expected a value");
        int line = _line, column = Column;
        var c = _text[_pos];
        switch (c)
        {
            case '{': return ParseObject(depth, line, column);
            case '[': return ParseArray(depth, line, column);
            case '"': return JsonValue.Str(ParseString(), line, column);
            case 't': Expect("true"); return JsonValue.Bool(true, line, column);
            case 'f': Expect("false"); return JsonValue.Bool(false, line, column);
            case 'n': Expect("null"); return JsonValue.Null(line, column);
            default:
                if (c == '-' || (c >= '0' && c <= '9')) return JsonValue.Number(ParseNumber(), line, column);
                throw Error($"unexpected '{c}', expected a value");
        }
    }

    private void Expect(string word)
    {
        if (string.CompareOrdinal(_text, _pos, word, 0, word.Length) != 0) throw Error($"expected '{word}'");
        _pos += word.Length;
    }

    private JsonValue ParseObject(int depth, int line, int column)
    {
        _pos++; // {
        var members = new List<KeyValuePair<string, JsonValue>>();
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        SkipWhitespace();
        if (_pos < _text.Length && _text[_pos] == '}')
        {
            _pos++;
            return JsonValue.Obj(members, line, column);
        }
        while (true)
        {
            SkipWhitespace();
            if (_pos >= _text.Length || _text[_pos] != '"') throw Error("expected a quoted member name");
            var nameLine = _line;
            var name = ParseString();
            if (seen.TryGetValue(name, out var firstLine))
                throw Error($"the key \"{name}\" appears twice in one object (first on line {firstLine}); keep one");
            seen[name] = nameLine;
            SkipWhitespace();
            if (_pos >= _text.Length || _text[_pos] != ':') throw Error($"expected ':' after member name \"{name}\"");
            _pos++;
            members.Add(new KeyValuePair<string, JsonValue>(name, ParseValue(depth + 1)));
            SkipWhitespace();
            if (_pos >= _text.Length) throw Error("unexpected end of file inside an object");
            if (_text[_pos] == ',') { _pos++; continue; }
            if (_text[_pos] == '}') { _pos++; return JsonValue.Obj(members, line, column); }
            throw Error($"expected ',' or '}}' but found '{_text[_pos]}'");
        }
    }

    private JsonValue ParseArray(int depth, int line, int column)
    {
        _pos++; // [
        var items = new List<JsonValue>();
        SkipWhitespace();
        if (_pos < _text.Length && _text[_pos] == ']')
        {
            _pos++;
            return JsonValue.Arr(items, line, column);
        }
        while (true)
        {
            items.Add(ParseValue(depth + 1));
            SkipWhitespace();
            if (_pos >= _text.Length) throw Error("unexpected end of file inside an array");
            if (_text[_pos] == ',') { _pos++; continue; }
            if (_text[_pos] == ']') { _pos++; return JsonValue.Arr(items, line, column); }
            throw Error($"expected ',' or ']' but found '{_text[_pos]}'");
        }
    }

    private string ParseString()
    {
        _pos++; // opening quote
        var sb = new StringBuilder();
        while (true)
        {
            if (_pos >= _text.Length) throw Error("unterminated string");
            var c = _text[_pos++];
            if (c == '"') return sb.ToString();
            if (c < 0x20) throw Error("control character inside a string");
            if (c != '\\')
            {
                if (char.IsHighSurrogate(c) && _pos < _text.Length && char.IsLowSurrogate(_text[_pos]))
                {
                    sb.Append(c).Append(_text[_pos++]);
                    continue;
                }
                if (char.IsSurrogate(c)) throw Error("a lone UTF-16 surrogate inside a string (not a character)");
                sb.Append(c);
                continue;
            }
            if (_pos >= _text.Length) throw Error("unterminated escape");
            var e = _text[_pos++];
            switch (e)
            {
                case '"': sb.Append('"'); break;
                case '\\': sb.Append('\\'); break;
                case '/': sb.Append('/'); break;
                case 'b': sb.Append('\b'); break;
                case 'f': sb.Append('\f'); break;
                case 'n': sb.Append('\n'); break;
                case 'r': sb.Append('\r'); break;
                case 't': sb.Append('\t'); break;
                case 'u':
                    var code = ParseHex4();
                    if (char.IsHighSurrogate(code) && _pos + 1 < _text.Length && _text[_pos] == '\\' && _text[_pos + 1] == 'u')
                    {
                        _pos += 2;
                        var low = ParseHex4();
                        if (!char.IsLowSurrogate(low))
                            throw Error($"\\u{(int)code:x4} (a high surrogate) is followed by \\u{(int)low:x4}, not a low surrogate; a string holds characters, so write the character or a valid pair");
                        sb.Append(code).Append(low);
                        break;
                    }
                    if (char.IsSurrogate(code))
                        throw Error($"\\u{(int)code:x4} is a lone UTF-16 surrogate, not a character; write the character or a valid surrogate pair");
                    sb.Append(code);
                    break;
                default: throw Error($"invalid escape '\\{e}'");
            }
        }
    }

    private char ParseHex4()
    {
        if (_pos + 4 > _text.Length ||
            !int.TryParse(_text.Substring(_pos, 4), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var code))
            throw Error("invalid \\u escape");
        _pos += 4;
        return (char)code;
    }

    private string ParseNumber()
    {
        var start = _pos;
        if (_text[_pos] == '-') _pos++;
        if (_pos >= _text.Length || !IsDigit(_text[_pos])) throw Error("invalid number");
        if (_text[_pos] == '0') _pos++;
        else while (_pos < _text.Length && IsDigit(_text[_pos])) _pos++;
        if (_pos < _text.Length && _text[_pos] == '.')
        {
            _pos++;
            if (_pos >= _text.Length || !IsDigit(_text[_pos])) throw Error("invalid number: digits expected after '.'");
            while (_pos < _text.Length && IsDigit(_text[_pos])) _pos++;
        }
        if (_pos < _text.Length && (_text[_pos] == 'e' || _text[_pos] == 'E'))
        {
            _pos++;
            if (_pos < _text.Length && (_text[_pos] == '+' || _text[_pos] == '-')) _pos++;
            if (_pos >= _text.Length || !IsDigit(_text[_pos])) throw Error("invalid number: digits expected in exponent");
            while (_pos < _text.Length && IsDigit(_text[_pos])) _pos++;
        }
        return _text.Substring(start, _pos - start);
    }

    private static bool IsDigit(char c) => c >= '0' && c <= '9';
}
