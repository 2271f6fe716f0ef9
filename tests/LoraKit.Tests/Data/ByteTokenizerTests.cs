using System;
using System.Linq;
using LoraKit.Data;
using Xunit;

namespace LoraKit.Tests.Data;

public class ByteTokenizerTests
{
    [Theory]
    [InlineData("")]
    [InlineData("hello world")]
    [InlineData("Grüße, 東京! 😀 — ñ\n\ttab")]
    [InlineData("\u0000control\u007f")]
    public void RoundTripIsExact(string text)
    {
        var t = ByteTokenizer.Instance;
        var ids = t.Encode(text);
        Assert.Equal(System.Text.Encoding.UTF8.GetByteCount(text), ids.Length);
        Assert.All(ids, id => Assert.InRange(id, 0, 255));
        Assert.Equal(text, t.Decode(ids));
    }

    [Fact]
    public void IdsAreTheUtf8Bytes()
    {
        Assert.Equal(new[] { 0x61, 0xC3, 0xA9 }, ByteTokenizer.Instance.Encode("aé"));
    }

    [Fact]
    public void SpecialsFollowTheBytesAndAreSkippedByDecode()
    {
        var t = ByteTokenizer.Instance;
        Assert.Equal(259, t.VocabSize);
        Assert.Equal(256, t.PadId);
        Assert.Equal(257, t.BosId);
        Assert.Equal(258, t.EosId);
        Assert.True(t.AddBos);
        Assert.Equal("hi", t.Decode(new[] { 257, 104, 105, 258, 256 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => t.Decode(new[] { 259 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => t.Decode(new[] { -1 }));
    }

    [Fact]
    public void RandomUnicodeRoundTrips()
    {
        var rng = new Random(1234);
        for (var trial = 0; trial < 200; trial++)
        {
            var chars = Enumerable.Range(0, rng.Next(0, 40)).Select(_ => char.ConvertFromUtf32(RandomScalar(rng)));
            var s = string.Concat(chars);
            Assert.Equal(s, ByteTokenizer.Instance.Decode(ByteTokenizer.Instance.Encode(s)));
        }
    }

    private static int RandomScalar(Random rng)
    {
        while (true)
        {
            var c = rng.Next(rng.Next(4) == 0 ? 0x110000 : 0x800);
            if (c is < 0xD800 or > 0xDFFF) return c;
        }
    }
}
