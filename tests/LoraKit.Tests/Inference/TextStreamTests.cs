using System.Linq;
using System.Text;
using LoraKit.Data;
using LoraKit.Inference;
using Xunit;

namespace LoraKit.Tests.Inference;

public sealed class TextStreamTests
{
    private static int[] Bytes(string s) => Encoding.UTF8.GetBytes(s).Select(b => (int)b).ToArray();

    [Fact]
    public void A_character_split_across_byte_tokens_comes_out_whole()
    {
        var stream = new TextStream(ByteTokenizer.Instance);
        var pieces = Bytes("a€é").Select(stream.Add).ToList();
        Assert.Equal(new[] { "a", "", "", "€", "", "é" }, pieces);
        Assert.Equal("", stream.Flush());
        Assert.Equal("a€é", stream.Text);
    }

    [Fact]
    public void An_incomplete_character_at_the_end_is_released_by_flush_as_a_replacement()
    {
        var stream = new TextStream(ByteTokenizer.Instance);
        Assert.Equal("x", stream.Add('x'));
        Assert.Equal("", stream.Add(0xE2));
        Assert.Equal("\uFFFD", stream.Flush());
    }

    [Fact]
    public void Text_ends_before_a_stop_string_and_a_possible_start_is_held_back()
    {
        var stream = new TextStream(ByteTokenizer.Instance, new[] { "\n\n", "END" });
        var pieces = Bytes("ab\nc E\nEN").Select(stream.Add).ToList();
        Assert.Equal(new[] { "a", "b", "", "\nc", " ", "", "E", "\n", "" }, pieces);
        Assert.False(stream.Stopped);
        Assert.Equal("", stream.Add('D'));
        Assert.True(stream.Stopped);
        Assert.Equal("ab\nc E\n", stream.Text);
        Assert.Equal("", stream.Add('z'));
        Assert.Equal("", stream.Flush());
    }

    [Fact]
    public void Flush_releases_a_held_partial_stop_string()
    {
        var stream = new TextStream(ByteTokenizer.Instance, new[] { "END" });
        foreach (var b in Bytes("okEN")) stream.Add(b);
        Assert.Equal("ok", stream.Text);
        Assert.Equal("EN", stream.Flush());
        Assert.Equal("okEN", stream.Text);
    }
}
