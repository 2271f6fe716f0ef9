using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using LoraKit.Data;
using Xunit;

namespace LoraKit.Tests.Data;

public class HfTokenizerTests
{
    /// <summary>GPT-2's bytes_to_unicode, written out here independently of the code under test.</summary>
    private static string[] ByteChars()
    {
        var bs = new List<int>();
        for (var b = '!'; b <= '~'; b++) bs.Add(b);
        for (var b = '¡'; b <= '¬'; b++) bs.Add(b);
        for (var b = '®'; b <= 'ÿ'; b++) bs.Add(b);
        var map = new string[256];
        var n = 0;
        for (var b = 0; b < 256; b++)
            map[b] = bs.Contains(b) ? ((char)b).ToString() : ((char)(256 + n++)).ToString();
        return map;
    }

    /// <summary>
    /// A tiny byte-level BPE: the 256 byte symbols (ids 0–255 by byte value), merges a+b → ab (256),
    /// ab+c → abc (257), Ġ+abc → Ġabc (258), and the added special token &lt;|endoftext|&gt; (259).
    /// </summary>
    private static string WriteTinyBpe(TempFolder dir, bool pairMerges = false, bool withConfig = true)
    {
        var chars = ByteChars();
        var vocab = new Dictionary<string, int>();
        for (var b = 0; b < 256; b++) vocab[chars[b]] = b;
        vocab["ab"] = 256;
        vocab["abc"] = 257;
        vocab["Ġabc"] = 258;
        object merges = pairMerges
            ? new[] { new[] { "a", "b" }, new[] { "ab", "c" }, new[] { "Ġ", "abc" } }
            : new[] { "a b", "ab c", "Ġ abc" };
        var json = new Dictionary<string, object?>
        {
            ["version"] = "1.0",
            ["added_tokens"] = new[] { new Dictionary<string, object> { ["id"] = 259, ["content"] = "<|endoftext|>", ["special"] = true } },
            ["normalizer"] = null,
            ["pre_tokenizer"] = new Dictionary<string, object> { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = true },
            ["post_processor"] = null,
            ["decoder"] = new Dictionary<string, object> { ["type"] = "ByteLevel" },
            ["model"] = new Dictionary<string, object?> { ["type"] = "BPE", ["vocab"] = vocab, ["merges"] = merges, ["unk_token"] = null },
        };
        File.WriteAllText(dir.File("tokenizer.json"), JsonSerializer.Serialize(json));
        if (withConfig)
            File.WriteAllText(dir.File("tokenizer_config.json"), "{\"bos_token\": \"<|endoftext|>\", \"eos_token\": {\"content\": \"<|endoftext|>\"}, \"add_bos_token\": false}");
        return dir.Path;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void EncodesWithTheMergesAndRoundTrips(bool pairMerges)
    {
        using var dir = new TempFolder();
        var t = HfTokenizer.FromFolder(WriteTinyBpe(dir, pairMerges));
        // GPT-2 pre-tokenization gives "abc", " abc", " ab" → [abc] [Ġabc] [Ġ (byte 0x20), ab]
        var ids = t.Encode("abc abc ab");
        Assert.Equal(new[] { 257, 258, 0x20, 256 }, ids);
        Assert.Equal("abc abc ab", t.Decode(ids));
    }

    [Theory]
    [InlineData("Grüße aus Köln, 東京 😀")]
    [InlineData("  leading and trailing  \n")]
    [InlineData("cab bac abcabc")]
    public void ArbitraryTextRoundTripsThroughByteSymbols(string text)
    {
        using var dir = new TempFolder();
        var t = HfTokenizer.FromFolder(WriteTinyBpe(dir));
        var ids = t.Encode(text);
        Assert.All(ids, id => Assert.InRange(id, 0, 258));
        Assert.Equal(text, t.Decode(ids));
    }

    [Fact]
    public void SpecialsComeFromTokenizerConfigAndVocabSizeCountsAddedTokens()
    {
        using var dir = new TempFolder();
        var t = HfTokenizer.FromFolder(WriteTinyBpe(dir));
        Assert.Equal(260, t.VocabSize);
        Assert.Equal(259, t.BosId);
        Assert.Equal(259, t.EosId);
        Assert.Null(t.PadId);
        Assert.False(t.AddBos);
        Assert.Equal("abc", t.Decode(new[] { 257, 259 }));
        Assert.StartsWith("hf-bpe:", t.Name);
    }

    [Fact]
    public void SpecialIdsFallBackToConfigJson()
    {
        using var dir = new TempFolder();
        WriteTinyBpe(dir, withConfig: false);
        File.WriteAllText(dir.File("config.json"), "{\"bos_token_id\": 259, \"eos_token_id\": [259, 1], \"pad_token_id\": null}");
        var t = HfTokenizer.FromFolder(dir.Path);
        Assert.Equal(259, t.BosId);
        Assert.Equal(259, t.EosId);
        Assert.Null(t.PadId);
    }

    [Fact]
    public void EncodeIsUsableByTheDataPipeline()
    {
        using var dir = new TempFolder();
        var t = HfTokenizer.FromFolder(WriteTinyBpe(dir));
        var (ids, labels) = TokenizedDataset.EncodeExample(Example.FromPromptCompletion("ab", "c"), t);
        Assert.Equal(new long[] { 256, 99, 259 }, ids);
        Assert.Equal(new long[] { -100, 99, 259 }, labels);
    }

    [Fact]
    public void AFolderWithoutTokenizerFilesIsRefusedWithTheFix()
    {
        using var dir = new TempFolder();
        var e = Assert.Throws<DataException>(() => HfTokenizer.FromFolder(dir.Path));
        Assert.Contains(dir.Path, e.Message);
        Assert.Contains("tokenizer.json", e.Message);
        Assert.Contains("tokenizer.model", e.Message);
        Assert.StartsWith("LORA3001", e.Message);
        Assert.Throws<DataException>(() => HfTokenizer.FromFolder(dir.File("missing")));
    }

    [Theory]
    [InlineData("{not json", "not valid JSON")]
    [InlineData("[]", "(root)")]
    [InlineData("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}, \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}", "model.type")]
    [InlineData("{\"model\": {\"type\": \"BPE\", \"merges\": []}, \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}", "model.vocab")]
    [InlineData("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": \"x\"}, \"merges\": []}, \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}", "model.vocab[\"a\"]")]
    [InlineData("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a\"]}, \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}", "model.merges[0]")]
    [InlineData("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"pre_tokenizer\": {\"type\": \"Metaspace\"}}", "pre_tokenizer")]
    [InlineData("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"pre_tokenizer\": {\"type\": \"ByteLevel\"}, \"added_tokens\": [{\"id\": 1}]}", "added_tokens[0]")]
    public void AMalformedTokenizerJsonNamesTheFileAndField(string content, string field)
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir.File("tokenizer.json"), content);
        var e = Assert.Throws<DataException>(() => HfTokenizer.FromFolder(dir.Path));
        Assert.Contains(dir.File("tokenizer.json"), e.Message);
        Assert.Contains(field, e.Message);
    }

    [Fact]
    public void AMalformedTokenizerModelIsRefusedNamingTheFile()
    {
        using var dir = new TempFolder();
        File.WriteAllBytes(dir.File("tokenizer.model"), new byte[] { 0xFF, 0xFF, 0xFF, 0x01, 0x02 });
        var e = Assert.Throws<DataException>(() => HfTokenizer.FromFolder(dir.Path));
        Assert.Contains(dir.File("tokenizer.model"), e.Message);
    }
}
