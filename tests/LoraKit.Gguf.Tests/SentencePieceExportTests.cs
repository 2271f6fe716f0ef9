using System.Text.Json.Nodes;
using Google.Protobuf;
using LoraKit.Data;

namespace LoraKit.Gguf.Tests;

/// <summary>
/// A SentencePiece tokenizer.model with tokens added beside it in tokenizer_config.json (as Phi-3 adds &lt;|end|&gt;,
/// &lt;|user|&gt; beyond its 32,000 pieces), written as llama.cpp's <c>llama</c> vocabulary: llama.cpp's own tokenizer
/// gives LoraKit's (the Hugging Face) ids, the added tokens matched whole.
/// </summary>
public class SentencePieceExportTests
{
    private const int Normal = 1, Unknown = 2, Control = 3, ByteType = 6;

    [Fact]
    public void Added_tokens_of_a_sentencepiece_model_are_written_and_llama_cpp_tokenizes_as_lorakit()
    {
        using var temp = new TempFolder();
        var folder = SentencePieceFolder(temp);
        File.WriteAllText(Path.Combine(folder, "tokenizer_config.json"), new JsonObject
        {
            ["bos_token"] = "<s>",
            ["eos_token"] = "</s>",
            ["add_bos_token"] = true,
            ["added_tokens_decoder"] = new JsonObject
            {
                ["266"] = new JsonObject { ["content"] = "<|user|>", ["special"] = true },
                ["267"] = new JsonObject { ["content"] = "<|end|>", ["special"] = false }, // looks special: control all the same
            },
        }.ToJsonString());
        var gguf = temp.File("spm.gguf");
        GgufExporter.ExportBase(folder, gguf);
        var file = GgufFile.Open(gguf);
        var tokens = (string[])file["tokenizer.ggml.tokens"]!.Value;
        var types = (int[])file["tokenizer.ggml.token_type"]!.Value;
        Assert.Equal(("<|user|>", GgufVocabulary.Control), (tokens[266], types[266]));
        Assert.Equal(("<|end|>", GgufVocabulary.Control), (tokens[267], types[267]));
        Assert.Equal(("[PAD268]", GgufVocabulary.Unused), (tokens[268], types[268]));

        var lorakit = HfTokenizer.FromFolder(folder);
        using var llama = new LlamaCpp(gguf);
        foreach (var text in new[] { "ab c<|end|>", "<|user|>ab c<|end|>", "abé cab" })
            Assert.Equal(new[] { lorakit.BosId!.Value }.Concat(lorakit.Encode(text)).ToArray(), llama.Tokenize(text, special: true));
    }

    /// <summary>The files beside tokenizer.model are user files: broken JSON or a key twice is a named error before writing.</summary>
    [Theory]
    [InlineData("added_tokens.json", "{\"<|end|>\": 266,", "not valid JSON")]
    [InlineData("added_tokens.json", "{\"<|end|>\": 266, \"<|end|>\": 267}", "appears twice")]
    [InlineData("added_tokens.json", "{\"<|end|>\": \"x\"}", "no integer id")]
    [InlineData("tokenizer_config.json", "{\"added_tokens_decoder\": {\"266\": {\"content\": \"a\"}, \"266\": {\"content\": \"b\"}}}", "appears twice")]
    [InlineData("tokenizer_config.json", "{\"added_tokens_decoder\": {\"x\": {\"content\": \"a\"}}}", "not an id with a content string")]
    public void A_broken_added_tokens_file_is_refused_by_name(string name, string content, string words)
    {
        using var temp = new TempFolder();
        var folder = SentencePieceFolder(temp);
        File.WriteAllText(Path.Combine(folder, name), content);
        var gguf = temp.File("spm.gguf");
        // tokenizer_config.json is read by LoraKit's tokenizer before the vocabulary (a DataException, as for training).
        var e = Record.Exception(() => GgufExporter.ExportBase(folder, gguf));
        Assert.True(e is GgufExportException or LoraKit.Data.DataException, $"not a named error: {e}");
        Assert.Contains(name, e.Message);
        Assert.Contains(words, e.Message);
        Assert.False(File.Exists(gguf));
    }

    /// <summary>tiny-llama's config and weights with <see cref="TinyModel"/> as its tokenizer.model.</summary>
    private static string SentencePieceFolder(TempFolder temp)
    {
        var folder = Path.Combine(temp.Path, "spm");
        Directory.CreateDirectory(folder);
        foreach (var f in new[] { "config.json", "model.safetensors" }) File.Copy(Path.Combine(Fixtures.Folder("tiny-llama"), f), Path.Combine(folder, f));
        File.WriteAllBytes(Path.Combine(folder, "tokenizer.model"), TinyModel());
        return folder;
    }

    /// <summary>
    /// sentencepiece_model.proto, field by field: pieces {1: piece, 2: score, 3: type}, trainer_spec {3: model_type BPE,
    /// 4: vocab_size, 35: byte_fallback}, normalizer_spec {1: name, 3: add_dummy_prefix, 4: remove_extra_whitespaces}.
    /// </summary>
    private static byte[] TinyModel()
    {
        var pieces = new List<(string Piece, float Score, int Type)> { ("<unk>", 0, Unknown), ("<s>", 0, Control), ("</s>", 0, Control) };
        for (var b = 0; b < 256; b++) pieces.Add(($"<0x{b:X2}>", 0, ByteType)); // ids 3–258
        pieces.AddRange(new[] { ("▁", -1f, Normal), ("a", -2f, Normal), ("b", -3f, Normal), ("c", -4f, Normal), ("ab", -0.5f, Normal), ("▁ab", -0.6f, Normal), ("▁c", -0.7f, Normal) });
        using var ms = new MemoryStream();
        var o = new CodedOutputStream(ms);
        void Field(int number, Action<CodedOutputStream> write)
        {
            using var inner = new MemoryStream();
            var w = new CodedOutputStream(inner);
            write(w);
            w.Flush();
            o.WriteTag(number, WireFormat.WireType.LengthDelimited);
            o.WriteBytes(ByteString.CopyFrom(inner.ToArray()));
        }
        foreach (var (piece, score, type) in pieces)
            Field(1, w =>
            {
                w.WriteTag(1, WireFormat.WireType.LengthDelimited); w.WriteString(piece);
                w.WriteTag(2, WireFormat.WireType.Fixed32); w.WriteFloat(score);
                w.WriteTag(3, WireFormat.WireType.Varint); w.WriteEnum(type);
            });
        Field(2, w =>
        {
            w.WriteTag(3, WireFormat.WireType.Varint); w.WriteEnum(2);
            w.WriteTag(4, WireFormat.WireType.Varint); w.WriteInt32(pieces.Count);
            w.WriteTag(35, WireFormat.WireType.Varint); w.WriteBool(true);
        });
        Field(3, w =>
        {
            w.WriteTag(1, WireFormat.WireType.LengthDelimited); w.WriteString("identity");
            w.WriteTag(3, WireFormat.WireType.Varint); w.WriteBool(true);
            w.WriteTag(4, WireFormat.WireType.Varint); w.WriteBool(false);
        });
        o.Flush();
        return ms.ToArray();
    }
}
