using System;
using System.IO;
using System.Linq;
using System.Text;
using LoraKit.Data;
using Xunit;

namespace LoraKit.Tests.Data;

public class JsonlDatasetTests
{
    private static string Write(TempFolder dir, string content, string name = "data.jsonl")
    {
        var path = dir.File(name);
        File.WriteAllText(path, content, new UTF8Encoding(false));
        return path;
    }

    [Fact]
    public void ReadsTextLines()
    {
        using var dir = new TempFolder();
        var path = Write(dir, "{\"text\": \"hello\"}\n\n   \n{\"text\": \"wörld\", \"id\": 7}\n");
        var d = JsonlDataset.Load(path);
        Assert.Equal(ExampleKind.Text, d.Kind);
        Assert.Equal(new[] { "hello", "wörld" }, d.Examples.Select(e => e.Text));
        Assert.Equal(new[] { 1, 4 }, d.Examples.Select(e => e.Line));
        Assert.Empty(d.BadLines);
        Assert.Equal(path, d.Name);
    }

    [Fact]
    public void ReadsPromptCompletionLinesWithBomAndCrlf()
    {
        using var dir = new TempFolder();
        var path = dir.File("pc.jsonl");
        var bytes = new byte[] { 0xEF, 0xBB, 0xBF }.Concat(Encoding.UTF8.GetBytes("{\"prompt\": \"2+2=\", \"completion\": \"4\"}\r\n{\"completion\": \"b\", \"prompt\": \"a\"}")).ToArray();
        File.WriteAllBytes(path, bytes);
        var d = JsonlDataset.Load(path);
        Assert.Equal(ExampleKind.PromptCompletion, d.Kind);
        Assert.Equal(2, d.Count);
        Assert.Equal("2+2=", d.Examples[0].Prompt);
        Assert.Equal("4", d.Examples[0].Completion);
        Assert.Equal("a", d.Examples[1].Prompt);
    }

    [Theory]
    [InlineData("{\"text\": \"ok\"", "not valid JSON")]
    [InlineData("not json at all", "not valid JSON")]
    [InlineData("[\"text\", \"x\"]", "not a JSON object")]
    [InlineData("\"just a string\"", "not a JSON object")]
    [InlineData("42", "not a JSON object (a number)")]
    [InlineData("[1]", "not a JSON object (an array)")]
    [InlineData("{\"body\": \"x\"}", "has none of \"text\", \"prompt\"/\"completion\", \"messages\"")]
    [InlineData("{}", "has none of")]
    [InlineData("{\"text\": 5}", "\"text\" is a number, not a string")]
    [InlineData("{\"text\": null}", "\"text\" is null, not a string")]
    [InlineData("{\"text\": \"\"}", "\"text\" is empty")]
    [InlineData("{\"text\": \"   \"}", "\"text\" is empty")]
    [InlineData("{\"text\": \"a\", \"text\": \"b\"}", "key \"text\" appears twice")]
    [InlineData("{\"text\": \"a\", \"prompt\": \"p\", \"completion\": \"c\"}", "both \"text\" and \"prompt\"/\"completion\"")]
    [InlineData("{\"text\": \"a\", \"completion\": \"c\"}", "both")]
    public void EachKindOfBadTextLineIsReportedWithFileAndLine(string badLine, string problem)
    {
        using var dir = new TempFolder();
        var path = Write(dir, "{\"text\": \"good\"}\n\n" + badLine + "\n{\"text\": \"good too\"}\n");
        var e = Assert.Throws<DataException>(() => JsonlDataset.Load(path));
        Assert.Contains($"{path}:3: ", e.Message);
        Assert.Contains(problem, e.Message);
        Assert.Equal(path, e.File);
        Assert.Equal(3, e.Line);
        Assert.StartsWith("LORA3001", e.Message);
    }

    [Theory]
    [InlineData("{\"prompt\": \"p\"}", "has \"prompt\" but no \"completion\"")]
    [InlineData("{\"completion\": \"c\"}", "has \"completion\" but no \"prompt\"")]
    [InlineData("{\"prompt\": \"\", \"completion\": \"c\"}", "\"prompt\" is empty")]
    [InlineData("{\"prompt\": \"p\", \"completion\": \"\"}", "\"completion\" is empty")]
    [InlineData("{\"prompt\": [\"p\"], \"completion\": \"c\"}", "\"prompt\" is an array, not a string")]
    [InlineData("{\"prompt\": \"p\", \"completion\": {\"x\": 1}}", "\"completion\" is an object, not a string")]
    [InlineData("{\"text\": \"t\"}", "a text line in a prompt/completion file (line 1 set the kind)")]
    public void EachKindOfBadPromptCompletionLineIsReported(string badLine, string problem)
    {
        using var dir = new TempFolder();
        var path = Write(dir, "{\"prompt\": \"p\", \"completion\": \"c\"}\n" + badLine + "\n");
        var e = Assert.Throws<DataException>(() => JsonlDataset.Load(path));
        Assert.Contains($"{path}:2: {problem}", e.Message);
    }

    [Fact]
    public void InvalidUtf8IsABadLine()
    {
        using var dir = new TempFolder();
        var path = dir.File("bin.jsonl");
        var bytes = Encoding.UTF8.GetBytes("{\"text\": \"ok\"}\n{\"text\": \"").Concat(new byte[] { 0xC3, 0x28 }).Concat(Encoding.UTF8.GetBytes("\"}\n")).ToArray();
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<DataException>(() => JsonlDataset.Load(path));
        Assert.Contains($"{path}:2: not valid UTF-8", e.Message);
    }

    [Fact]
    public void MaxBadLinesSkipsUpToThatManyAndKeepsThem()
    {
        using var dir = new TempFolder();
        var path = Write(dir, "{\"text\": \"a\"}\n{\"text\": 1}\n{\"text\": \"b\"}\nnope\n");
        var d = JsonlDataset.Load(path, maxBadLines: 2);
        Assert.Equal(new[] { "a", "b" }, d.Examples.Select(x => x.Text));
        Assert.Equal(new[] { 2, 4 }, d.BadLines.Select(b => b.Line));
        Assert.All(d.BadLines, b => Assert.Equal(path, b.File));
        Assert.Equal($"{path}:4: not valid JSON", d.BadLines[1].ToString()[..($"{path}:4: not valid JSON".Length)]);

        var e = Assert.Throws<DataException>(() => JsonlDataset.Load(path, maxBadLines: 1));
        Assert.Contains("2 bad line(s) (at most 1 allowed)", e.Message);
    }

    [Fact]
    public void AtMostTenBadLinesAreListed()
    {
        using var dir = new TempFolder();
        var path = Write(dir, "{\"text\": \"a\"}\n" + string.Concat(Enumerable.Repeat("{\"text\": 0}\n", 13)));
        var e = Assert.Throws<DataException>(() => JsonlDataset.Load(path));
        Assert.Contains($"{path}:11:", e.Message);
        Assert.DoesNotContain($"{path}:12:", e.Message);
        Assert.Contains("13 bad line(s)", e.Message);
        Assert.Contains("and 3 more", e.Message);
    }

    [Theory]
    [InlineData("")]
    [InlineData("\n\n   \n")]
    [InlineData("\uFEFF")]
    public void AnEmptyDatasetIsRefused(string content)
    {
        using var dir = new TempFolder();
        var path = Write(dir, content);
        var e = Assert.Throws<DataException>(() => JsonlDataset.Load(path));
        Assert.Contains("no usable examples", e.Message);
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void ADatasetWhoseEveryLineIsBadIsRefusedEvenWhenBadLinesAreAllowed()
    {
        using var dir = new TempFolder();
        var path = Write(dir, "{\"text\": 1}\n{\"x\": 2}\n");
        var e = Assert.Throws<DataException>(() => JsonlDataset.Load(path, maxBadLines: 100));
        Assert.Contains("no usable examples (2 bad line(s) skipped)", e.Message);
    }

    [Fact]
    public void AMissingFileIsRefusedByDatasetSource()
    {
        using var dir = new TempFolder();
        var e = Assert.Throws<DataException>(() => DatasetSource.Open(dir.File("nope.jsonl")));
        Assert.Contains("does not exist", e.Message);
        Assert.Throws<DataException>(() => DatasetSource.Open(dir.Path));
        Assert.Throws<DataException>(() => DatasetSource.Open(" "));
    }

    [Fact]
    public void DatasetSourceOpensJsonlFiles()
    {
        using var dir = new TempFolder();
        var path = Write(dir, "{\"text\": \"x\"}\n{\"text\": 3}\n");
        Assert.Throws<DataException>(() => DatasetSource.Open(path));
        var d = DatasetSource.Open(path, maxBadLines: 1);
        Assert.Equal("x", Assert.Single(d.Examples).Text);
    }
}
