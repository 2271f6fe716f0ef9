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
}
