using System.Text.Json.Nodes;
using LoraKit.Data;

namespace LoraKit.Gguf.Tests;

/// <summary>llama.cpp's tokenizer on tricky text, per pre-tokenizer name; and what the exporter refuses before writing.</summary>
public class TokenizerAndRefusalTests
{
    private static readonly string[] Tricky =
    {
        "the cat met the dog on 2024-01-02 at 10:30:45 -> 1234567 and 0.024",
        "  two leading spaces,\ttab, trailing spaces   ",
        "new\n\nlines\r\nand CRLF\n",
        "it's we'll they'd I'M YOU'RE",
        "naïve café — 日本語 🙂 ½ ⅞ ١٢٣",
        "!!!??? ... ---   <s> </s>",
    };

    public static TheoryData<string?> PreTokenizers => new() { null, GgufVocabulary.Llama3Regex, GgufVocabulary.Qwen2Regex };

    /// <summary>
    /// The tiny byte-level BPE (merges across digits: "01", "02", "024") under GPT-2's split (as shipped), Llama 3's and
    /// Qwen2's: llama.cpp's ids equal those of LoraKit's tokenizer, which applies tokenizer.json's own regex. A wrong pre
    /// name would split the digits differently.
    /// </summary>
    [Theory]
    [MemberData(nameof(PreTokenizers))]
    public void Llama_cpp_tokenizes_tricky_text_as_the_tokenizer_json_does(string? splitRegex)
    {
        using var temp = new TempFolder();
        var folder = CopyModel("tiny-llama", temp.Path);
        if (splitRegex is not null)
        {
            var path = Path.Combine(folder, "tokenizer.json");
            var json = JsonNode.Parse(File.ReadAllText(path))!;
            json["pre_tokenizer"] = JsonNode.Parse($$"""
                {"type": "Sequence", "pretokenizers": [
                  {"type": "Split", "pattern": {"Regex": {{System.Text.Json.JsonSerializer.Serialize(splitRegex)}}}, "behavior": "Isolated", "invert": false},
                  {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]}
                """);
            File.WriteAllText(path, json.ToJsonString());
        }
        var gguf = Path.Combine(temp.Path, "m.gguf");
        GgufExporter.ExportBase(folder, gguf);
        var tokenizer = HfTokenizer.FromFolder(folder);
        using var llama = new LlamaCpp(gguf);
        foreach (var text in Tricky)
            Assert.Equal(new[] { tokenizer.BosId!.Value }.Concat(tokenizer.Encode(text)).ToArray(), llama.Tokenize(text, special: true));
    }

    [Fact]
    public void An_unknown_pre_tokenizer_is_refused_before_writing()
    {
        using var temp = new TempFolder();
        var folder = CopyModel("tiny-llama", temp.Path);
        var path = Path.Combine(folder, "tokenizer.json");
        var json = JsonNode.Parse(File.ReadAllText(path))!;
        // A split LoraKit reads (it applies the regex itself) but for which llama.cpp has no pre-tokenizer name.
        json["pre_tokenizer"] = JsonNode.Parse("""
            {"type": "Sequence", "pretokenizers": [
              {"type": "Split", "pattern": {"Regex": "\\w+|[^\\w\\s]+"}, "behavior": "Isolated", "invert": false},
              {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]}
            """);
        File.WriteAllText(path, json.ToJsonString());
        var gguf = Path.Combine(temp.Path, "m.gguf");
        var e = Assert.Throws<GgufExportException>(() => GgufExporter.ExportBase(folder, gguf));
        Assert.Equal("pre_tokenizer", e.Key);
        Assert.False(File.Exists(gguf));
    }

    [Theory]
    [InlineData("llama-yarn", "rope_scaling")]
    [InlineData("llama-dynamic", "rope_scaling")]
    [InlineData("mistral-window4", "sliding_window")]
    [InlineData("qwen2-window5", "sliding_window")]
    public void What_llama_cpp_computes_differently_is_refused_by_name(string fixture, string key)
    {
        using var temp = new TempFolder();
        var folder = CopyModel(fixture, temp.Path, Fixtures.RopeRoot);
        var gguf = Path.Combine(temp.Path, "m.gguf");
        var e = Assert.Throws<GgufExportException>(() => GgufExporter.ExportBase(folder, gguf));
        Assert.Equal(key, e.Key);
        Assert.Contains("config.json", e.Source);
        Assert.False(File.Exists(gguf));
    }

    /// <summary>Within its window (context length 4) a sliding-window Mistral is full attention: llama.cpp gives transformers' logits there.</summary>
    [Fact]
    public void A_sliding_window_model_exports_with_a_context_inside_its_window()
    {
        using var temp = new TempFolder();
        var folder = CopyModel("mistral-window4", temp.Path, Fixtures.RopeRoot);
        var gguf = Path.Combine(temp.Path, "m.gguf");
        GgufExporter.ExportBase(folder, gguf, new GgufExportOptions { ContextLength = 4 });
        Assert.Equal(4L, GgufFile.Open(gguf)["llama.context_length"]!.AsInteger());
        var (ids, logits) = Fixtures.Rope("mistral-window4");
        using var llama = new LlamaCpp(gguf);
        var got = llama.Logits(ids.Take(4).ToArray());
        for (var p = 0; p < 4; p++) Assert.True(Fixtures.MaxAbsDiff(logits[p], got[p]) <= 1e-3f, $"position {p}");
    }

    [Theory]
    [InlineData("bias", "\"all\"", "bias")]
    [InlineData("use_dora", "true", null)]
    public void Adapters_llama_cpp_cannot_apply_are_refused(string key, string value, string? refusedKey)
    {
        using var temp = new TempFolder();
        var adapter = CopyModel("peft-llama-r4", temp.Path);
        var path = Path.Combine(adapter, "adapter_config.json");
        var json = JsonNode.Parse(File.ReadAllText(path))!;
        json[key] = JsonNode.Parse(value);
        File.WriteAllText(path, json.ToJsonString());
        var gguf = Path.Combine(temp.Path, "a.gguf");
        var e = Assert.Throws<GgufExportException>(() => GgufExporter.ExportAdapter(Fixtures.Folder("tiny-llama"), adapter, gguf));
        Assert.Equal(refusedKey, e.Key);
        Assert.Contains(key == "use_dora" ? "DoRA" : "bias", e.Message);
        Assert.False(File.Exists(gguf));
    }

    /// <summary>A copy of a fixture folder, with the tiny models' tokenizer files where it has none (same 300 ids).</summary>
    internal static string CopyModel(string name, string into, string? root = null)
    {
        var source = Path.Combine(root ?? Fixtures.Root, name);
        var folder = Path.Combine(into, name);
        Directory.CreateDirectory(folder);
        foreach (var f in Directory.GetFiles(source)) File.Copy(f, Path.Combine(folder, Path.GetFileName(f)));
        if (File.Exists(Path.Combine(folder, "config.json")) && !File.Exists(Path.Combine(folder, "tokenizer.json")))
            foreach (var f in new[] { "tokenizer.json", "tokenizer_config.json" })
                File.Copy(Path.Combine(Fixtures.Folder("tiny-llama"), f), Path.Combine(folder, f));
        return folder;
    }
}
