using System.Text;

namespace LoraKit.Json;

/// <summary>Strict RFC 8259 reader with line/column tracking and a nesting limit.</summary>
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
            var name = ParseString();
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
                    if (_pos + 4 > _text.Length ||
                        !int.TryParse(_text.Substring(_pos, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var code))
                        throw Error("invalid \\u escape");
                    sb.Append((char)code);
                    _pos += 4;
                    break;
                default: throw Error($"invalid escape '\\{e}'");
            }
        }
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
