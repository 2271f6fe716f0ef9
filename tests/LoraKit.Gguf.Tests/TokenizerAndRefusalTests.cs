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
        AssertRefusedBeforeWriting(CopyModel(fixture, temp.Path, Fixtures.RopeRoot), key);
    }

    /// <summary>ExportBase of <paramref name="folder"/> throws a GgufExportException naming config.json and <paramref name="key"/>, and writes nothing.</summary>
    private static void AssertRefusedBeforeWriting(string folder, string key)
    {
        var gguf = Path.Combine(folder, "..", "m.gguf");
        var e = Assert.Throws<GgufExportException>(() => GgufExporter.ExportBase(folder, gguf));
        Assert.Equal(key, e.Key);
        Assert.Contains("config.json", e.Source);
        Assert.False(File.Exists(gguf));
    }

    /// <summary>Edits <paramref name="folder"/>'s config.json in place.</summary>
    internal static void EditConfig(string folder, Action<JsonNode> edit)
    {
        var path = Path.Combine(folder, "config.json");
        var json = JsonNode.Parse(File.ReadAllText(path))!;
        edit(json);
        File.WriteAllText(path, json.ToJsonString());
    }

    /// <summary>
    /// Gemma 2 and Phi-3 configs whose llama.cpp graph is fixed where transformers reads a key: the attention scale
    /// (1/√head_dim, not query_pre_attn_scalar), soft-capping that is always on, the tied output, GELU's tanh form,
    /// RoPE scaling; Phi-3's window (llama.cpp's phi3 attends fully) and LongRoPE beyond its original context.
    /// </summary>
    [Theory]
    [InlineData("tiny-gemma2", "query_pre_attn_scalar", "32", "query_pre_attn_scalar")]
    [InlineData("tiny-gemma2", "attn_logit_softcapping", "null", "attn_logit_softcapping")]
    [InlineData("tiny-gemma2", "final_logit_softcapping", "null", "final_logit_softcapping")]
    [InlineData("tiny-gemma2", "tie_word_embeddings", "false", "tie_word_embeddings")]
    [InlineData("tiny-gemma2", "hidden_activation", "\"silu\"", "hidden_activation")]
    [InlineData("tiny-phi3", "sliding_window", "6", "sliding_window")]
    [InlineData("tiny-phi3", "rope_scaling", LongRopeScaling, "rope_scaling")]
    public void Gemma2_and_phi3_configs_llama_cpp_computes_differently_are_refused(string model, string key, string value, string refusedKey)
    {
        using var temp = new TempFolder();
        var folder = CopyModel(model, temp.Path);
        EditConfig(folder, json =>
        {
            json[key] = JsonNode.Parse(value);
            if (key == "rope_scaling" && model == "tiny-phi3") json["max_position_embeddings"] = 256;
        });
        AssertRefusedBeforeWriting(folder, refusedKey);
    }

    /// <summary>
    /// llama.cpp's vocabulary loader looks up &lt;unk&gt;, &lt;s&gt;, &lt;/s&gt; and &lt;|endoftext|&gt; by text when
    /// general.name contains "phi3" and fails to load without them (the tiny tokenizer lacks two): the folder name
    /// "tiny-phi3" is written as "tiny-phi_3" (the llama.cpp tests above load it), a given name refused.
    /// </summary>
    [Fact]
    public void A_phi3_name_llama_cpp_would_choke_on_is_renamed_or_refused()
    {
        using var temp = new TempFolder();
        var gguf = Path.Combine(temp.Path, "m.gguf");
        var result = GgufExporter.ExportBase(Fixtures.Folder("tiny-phi3"), gguf);
        Assert.Equal("tiny-phi_3", GgufFile.Open(gguf)["general.name"]!.Value);
        Assert.Contains(result.Notes, n => n.Contains("<|endoftext|>", StringComparison.Ordinal));
        var e = Assert.Throws<GgufExportException>(() => GgufExporter.ExportBase(Fixtures.Folder("tiny-phi3"), Path.Combine(temp.Path, "n.gguf"), new GgufExportOptions { Name = "My-Phi-3" }));
        Assert.Equal("general.name", e.Key);
    }

    /// <summary>
    /// Phi-3 LongRoPE factors (short ramping 1 → 1.7, long 1 → 8). On tiny-phi3 at 256 positions of its original 128 it is
    /// refused: llama.cpp pads every context to a multiple of 256, above 128, so it would always take the long factors.
    /// </summary>
    public const string LongRopeScaling = "{\"type\": \"longrope\", \"short_factor\": [1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7], \"long_factor\": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]}";

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
