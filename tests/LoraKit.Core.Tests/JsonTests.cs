using System.Text;
using LoraKit.Json;
using Xunit;

namespace LoraKit.Core.Tests;

public class JsonTests
{
    [Fact]
    public void Parses_every_kind_of_value()
    {
        var v = JsonValue.Parse("""{"a": [1, -2.5e3, true, false, null], "s": "x\"\\\/\n\u00e9", "o": {}}""");
        var a = v["a"]!.Items;
        Assert.True(a[0].TryGetInt64(out var one) && one == 1);
        Assert.Equal(-2500.0, a[1].AsDouble());
        Assert.True(a[2].AsBoolean());
        Assert.False(a[3].AsBoolean());
        Assert.Equal(JsonKind.Null, a[4].Kind);
        Assert.Equal("x\"\\/\n\u00e9", v["s"]!.AsString());
        Assert.Empty(v["o"]!.Members);
        Assert.Null(v["missing"]);
    }

    [Fact]
    public void Integral_floats_are_integers_but_fractions_are_not()
    {
        Assert.True(JsonValue.Parse("4096.0").TryGetInt64(out var n) && n == 4096);
        Assert.False(JsonValue.Parse("0.5").TryGetInt64(out _));
    }

    [Theory]
    [InlineData("{\"a\": 1,}", 1, 9)]
    [InlineData("{\n\"a\" 1}", 2, 5)]
    [InlineData("[1, 2", 1, 6)]
    [InlineData("\"abc", 1, 5)]
    [InlineData("01", 1, 2)]
    [InlineData("", 1, 1)]
    [InlineData("{} x", 1, 4)]
    public void Errors_carry_line_and_column(string text, int line, int column)
    {
        var e = Assert.Throws<JsonParseException>(() => JsonValue.Parse(text));
        Assert.Equal((line, column), (e.Line, e.Column));
    }

    [Fact]
    public void Deep_nesting_is_refused_instead_of_overflowing_the_stack()
    {
        var text = new string('[', 10_000) + new string(']', 10_000);
        Assert.Throws<JsonParseException>(() => JsonValue.Parse(text));
    }

    // Every character class the two quoters treat differently: quote, backslash, the short escapes, other control
    // characters, DEL, the JavaScript line terminators U+2028/U+2029, and non-ASCII.
    private const string EveryEscapeClass = "a\"\\\b\f\n\r\t\u0001\u001f\u007f\u2028\u2029\u00e9";

    [Fact]
    public void QuoteAsSerde_writes_what_python_json_dumps_writes()
    {
        // Python 3.11: json.dumps("a\"\\\b\f\n\r\t\x01\x1f\x7f\u2028\u2029\u00e9", ensure_ascii=False), as serde_json writes it too.
        var sb = new StringBuilder();
        JsonLineWriter.QuoteAsSerde(sb, EveryEscapeClass);
        Assert.Equal("\"a\\\"\\\\\\b\\f\\n\\r\\t\\u0001\\u001f\u007f\u2028\u2029\u00e9\"", sb.ToString());
    }

    [Fact]
    public void Quote_escapes_control_characters_and_line_separators_and_round_trips_through_System_Text_Json()
    {
        var sb = new StringBuilder();
        JsonLineWriter.Quote(sb, EveryEscapeClass);
        Assert.Equal("\"a\\\"\\\\\\u0008\\u000c\\n\\r\\t\\u0001\\u001f\u007f\\u2028\\u2029\u00e9\"", sb.ToString());
        Assert.Equal(EveryEscapeClass, System.Text.Json.JsonSerializer.Deserialize<string>(sb.ToString()));
    }
}
