using System.Text.Json;
using Google.Protobuf;
using LoraKit.Builtin;
using LoraKit.Data;
using LoraKit.IO;

namespace LoraKit.Gguf;

/// <summary>
/// The tokenizer as llama.cpp's GGUF keys carry it (gguf-py's <c>Keys.Tokenizer</c>, read by llama-vocab.cpp):
/// <list type="bullet">
/// <item>byte-level BPE <c>tokenizer.json</c> → model <c>gpt2</c>: tokens by id, types, merges and the pre-tokenizer
/// name whose split llama.cpp implements (<see cref="PreTokenizers"/>);</item>
/// <item>SentencePiece <c>tokenizer.model</c> (BPE kind) → model <c>llama</c>: pieces, scores and types;</item>
/// <item>LoraKit's builtin byte tokenizer → model <c>gpt2</c> with the 256 GPT-2 byte symbols and no merges, so
/// llama.cpp maps each UTF-8 byte to its id as LoraKit does;</item>
/// </list>
/// with bos/eos/pad ids, whether BOS is added, and the chat template. Ids missing below the model's vocabulary
/// size become <c>[PAD{id}]</c> tokens of type unused, as llama.cpp's converter writes them. What llama.cpp would
/// tokenize differently is refused by name.
/// </summary>
public static class GgufVocabulary
{
    /// <summary>llama.cpp's token types (llama.h <c>llama_token_type</c>).</summary>
    public const int Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6;

    /// <summary>Llama 3's pre-tokenizer regex (tokenizer.json Split pattern), llama.cpp pre name <c>llama-bpe</c>.</summary>
    public const string Llama3Regex = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>Qwen2's pre-tokenizer regex (digits one by one), llama.cpp pre name <c>qwen2</c>.</summary>
    public const string Qwen2Regex = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>
    /// tokenizer.json pre-tokenizers → the llama.cpp pre name (llama-vocab.cpp's LLAMA_VOCAB_PRE_TYPE_*) whose regexes
    /// split text the same way. llama.cpp refuses an unknown name and splits differently under a wrong known one, so any
    /// other pre-tokenizer is refused.
    /// </summary>
    public static readonly IReadOnlyList<(string Signature, string Pre)> PreTokenizers = new[]
    {
        ("ByteLevel(regex)", "gpt-2"),
        ("Digits(individual)+ByteLevel(regex)", "smollm"),
        ($"Split({Llama3Regex})+ByteLevel", "llama-bpe"),
        ($"Split({Qwen2Regex})+ByteLevel", "qwen2"),
    };

    /// <summary>The tokenizer keys for the model in <paramref name="folder"/> whose embedding has <paramref name="vocabSize"/> rows.</summary>
    public static List<KeyValuePair<string, GgufValue>> Keys(string folder, int vocabSize)
    {
        if (BuiltinModel.IsBuiltinFolder(folder)) return ByteVocabulary(vocabSize);
        var json = Path.Combine(folder, "tokenizer.json");
        var model = Path.Combine(folder, "tokenizer.model");
        var tokenizer = HfTokenizer.FromFolder(folder);
        List<KeyValuePair<string, GgufValue>> keys;
        if (tokenizer.Name.StartsWith("hf-bpe:", StringComparison.Ordinal)) keys = FromTokenizerJson(json, vocabSize);
        else if (File.Exists(model)) keys = FromSentencePiece(model, vocabSize, folder);
        else throw new GgufExportException(folder, null, "has no tokenizer LoraKit can write as GGUF", "put the model's tokenizer.json (byte-level BPE) or tokenizer.model (SentencePiece) in the folder");
        AddSpecials(keys, tokenizer.BosId, tokenizer.EosId, tokenizer.PadId, tokenizer.AddBos, vocabSize, folder);
        if (ChatTemplate.TryLoad(folder) is { } template) keys.Add(new("tokenizer.chat_template", GgufValue.Of(template.Text)));
        return keys;
    }

    private static void AddSpecials(List<KeyValuePair<string, GgufValue>> keys, int? bos, int? eos, int? pad, bool addBos, int vocabSize, string folder)
    {
        foreach (var (name, id) in new[] { ("bos", bos), ("eos", eos), ("padding", pad) })
        {
            if (id is not int i) continue;
            if (i < 0 || i >= vocabSize)
                throw new GgufExportException(folder, $"{name} token id", $"is {i}, outside the vocabulary of {vocabSize}", "fix tokenizer_config.json / config.json");
            keys.Add(new($"tokenizer.ggml.{name}_token_id", GgufValue.Of((uint)i)));
        }
        // Without these ids llama.cpp falls back to id 11 (gpt2) or 1/2 (llama): it would add that token as BOS, or stop
        // generating at it as EOS. Never leave it to guess.
        if (addBos && bos is null)
            throw new GgufExportException(folder, "bos_token", "is unknown while the tokenizer adds a BOS token", "set bos_token in tokenizer_config.json");
        if (eos is null)
            throw new GgufExportException(folder, "eos_token", "is unknown; llama.cpp would end generation at its default id instead", "set eos_token in tokenizer_config.json (or eos_token_id in config.json)");
        keys.Add(new("tokenizer.ggml.add_bos_token", GgufValue.Of(addBos)));
        keys.Add(new("tokenizer.ggml.add_eos_token", GgufValue.Of(false)));
    }

    /// <summary>GPT-2's reversible byte → character map (bytes_to_unicode): printable bytes map to themselves, the others to U+0100 on.</summary>
    public static string[] ByteSymbols()
    {
        var symbols = new string[256];
        var next = 256;
        for (var b = 0; b < 256; b++)
        {
            var printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            symbols[b] = ((char)(printable ? b : next++)).ToString();
        }
        return symbols;
    }

    private static List<KeyValuePair<string, GgufValue>> ByteVocabulary(int vocabSize)
    {
        if (vocabSize != ByteTokenizer.Size)
            throw new GgufExportException("builtin", "vocab_size", $"is {vocabSize}, not the byte tokenizer's {ByteTokenizer.Size}", "export the builtin model as LoraKit builds it");
        var tokens = new string[vocabSize];
        var types = new int[vocabSize];
        ByteSymbols().CopyTo(tokens, 0);
        Array.Fill(types, Normal, 0, 256);
        (tokens[ByteTokenizer.Pad], tokens[ByteTokenizer.Bos], tokens[ByteTokenizer.Eos]) = ("<pad>", "<s>", "</s>");
        types[ByteTokenizer.Pad] = types[ByteTokenizer.Bos] = types[ByteTokenizer.Eos] = Control;
        var keys = new List<KeyValuePair<string, GgufValue>>
        {
            new("tokenizer.ggml.model", GgufValue.Of("gpt2")),
            new("tokenizer.ggml.pre", GgufValue.Of("gpt-2")),
            new("tokenizer.ggml.tokens", GgufValue.Of(tokens)),
            new("tokenizer.ggml.token_type", GgufValue.Of(types)),
            new("tokenizer.ggml.merges", GgufValue.Of(Array.Empty<string>())),
        };
        AddSpecials(keys, ByteTokenizer.Bos, ByteTokenizer.Eos, ByteTokenizer.Pad, addBos: true, vocabSize, "builtin");
        return keys;
    }

    private static List<KeyValuePair<string, GgufValue>> FromTokenizerJson(string file, int vocabSize)
    {
        using var doc = ReadJson(file, InputLimits.TokenizerFileBytes);
        var root = doc.RootElement;
        var model = root.GetProperty("model");
        if (model.TryGetProperty("byte_fallback", out var bf) && bf.ValueKind == JsonValueKind.True)
            throw new GgufExportException(file, "model.byte_fallback", "is true, which llama.cpp's gpt2 tokenizer does not do", "use the model's tokenizer.model (SentencePiece) instead");
        if (root.TryGetProperty("normalizer", out var norm) && norm.ValueKind != JsonValueKind.Null)
            throw new GgufExportException(file, "normalizer", "is set; llama.cpp's gpt2 tokenizer applies no normalizer and would split some text differently", "LoraKit exports byte-level BPE tokenizers without a normalizer");
        var pre = PreName(file, root);

        var tokens = new string?[vocabSize];
        var types = new int[vocabSize];
        foreach (var p in model.GetProperty("vocab").EnumerateObject())
            Place(file, tokens, types, p.Value.GetInt32(), p.Name, Normal, vocabSize);
        if (root.TryGetProperty("added_tokens", out var added) && added.ValueKind == JsonValueKind.Array)
            foreach (var a in added.EnumerateArray())
            {
                var special = a.TryGetProperty("special", out var sp) && sp.ValueKind == JsonValueKind.True;
                Place(file, tokens, types, a.GetProperty("id").GetInt32(), a.GetProperty("content").GetString()!, special ? Control : UserDefined, vocabSize);
            }
        for (var i = 0; i < vocabSize; i++)
            if (tokens[i] is null)
            {
                tokens[i] = $"[PAD{i.ToString(CultureInfo.InvariantCulture)}]";
                types[i] = Unused;
            }

        var merges = new List<string>();
        if (model.TryGetProperty("merges", out var m) && m.ValueKind == JsonValueKind.Array)
            foreach (var merge in m.EnumerateArray())
                merges.Add(merge.ValueKind == JsonValueKind.String ? merge.GetString()! : merge[0].GetString() + " " + merge[1].GetString());
        return new List<KeyValuePair<string, GgufValue>>
        {
            new("tokenizer.ggml.model", GgufValue.Of("gpt2")),
            new("tokenizer.ggml.pre", GgufValue.Of(pre)),
            new("tokenizer.ggml.tokens", GgufValue.Of(tokens!)),
            new("tokenizer.ggml.token_type", GgufValue.Of(types)),
            new("tokenizer.ggml.merges", GgufValue.Of(merges.ToArray())),
        };
    }

    private static void Place(string file, string?[] tokens, int[] types, int id, string text, int type, int vocabSize)
    {
        if (id < 0 || id >= vocabSize)
            throw new GgufExportException(file, text, $"has id {id}, outside the model's vocabulary of {vocabSize} embedding rows", "use the tokenizer that belongs to this model");
        tokens[id] = text;
        types[id] = type;
    }

    /// <summary>The llama.cpp pre name of a tokenizer.json's pre-tokenizer, or a named refusal.</summary>
    public static string PreName(string file, JsonElement root)
    {
        var signature = Signature(root.TryGetProperty("pre_tokenizer", out var p) ? p : default);
        foreach (var (sig, pre) in PreTokenizers)
            if (sig == signature) return pre;
        throw new GgufExportException(file, "pre_tokenizer",
            $"is {signature}, a split llama.cpp has no pre-tokenizer name for in LoraKit's table (an unknown name is refused by llama.cpp, a wrong one splits text differently)",
            $"supported: {string.Join("; ", PreTokenizers.Select(x => x.Pre))}");
    }

    private static string Signature(JsonElement pre)
    {
        if (pre.ValueKind != JsonValueKind.Object) return "none";
        string Type(JsonElement e) => e.TryGetProperty("type", out var t) ? t.GetString() ?? "?" : "?";
        bool Flag(JsonElement e, string key, bool fallback) => e.TryGetProperty(key, out var v) && v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : fallback;
        string One(JsonElement e) => Type(e) switch
        {
            "ByteLevel" when Flag(e, "add_prefix_space", false) => "ByteLevel(add_prefix_space)",
            "ByteLevel" => Flag(e, "use_regex", true) ? "ByteLevel(regex)" : "ByteLevel",
            "Digits" => Flag(e, "individual_digits", false) ? "Digits(individual)" : "Digits",
            "Split" when e.TryGetProperty("pattern", out var pat) && pat.TryGetProperty("Regex", out var rx)
                         && (e.TryGetProperty("behavior", out var b) ? b.GetString() : null) == "Isolated" && !Flag(e, "invert", false) => $"Split({rx.GetString()})",
            var other => other + "(…)",
        };
        return Type(pre) == "Sequence" && pre.TryGetProperty("pretokenizers", out var list)
            ? string.Join("+", list.EnumerateArray().Select(One))
            : One(pre);
    }

    /// <summary>
    /// The tokens a Hugging Face folder adds to its tokenizer.model (Phi-3's &lt;|endoftext|&gt;, &lt;|end|&gt;, &lt;|user|&gt;
    /// beyond the 32,000 pieces), as convert_hf_to_gguf.py's <c>_create_vocab_sentencepiece</c> writes them: added_tokens.json
    /// as user-defined, then tokenizer_config.json's added_tokens_decoder as control when special (or looking special:
    /// <c>does_token_look_special</c>), else user-defined with ▁ read as a space; score −1000; ids beyond the vocabulary ignored.
    /// </summary>
    private static void AddSentencePieceAddedTokens(string folder, string[] tokens, float[] scores, int[] types)
    {
        void Set(int id, string text, int type)
        {
            if (id < 0 || id >= tokens.Length) return;
            (tokens[id], scores[id], types[id]) = (text, -1000f, type);
        }
        var addedFile = Path.Combine(folder, "added_tokens.json");
        if (File.Exists(addedFile))
        {
            var doc = ReadJson(addedFile, InputLimits.JsonFileBytes);
            using var _ = doc;
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new GgufExportException(addedFile, null, "is not a JSON object of token → id", "restore the file from the model's source");
            foreach (var p in doc.RootElement.EnumerateObject())
            {
                if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetInt32(out var id))
                    throw new GgufExportException(addedFile, p.Name, "has no integer id", "restore the file from the model's source");
                Set(id, p.Name, UserDefined);
            }
        }
        var configFile = Path.Combine(folder, "tokenizer_config.json");
        if (!File.Exists(configFile)) return;
        using var config = ReadJson(configFile, InputLimits.JsonFileBytes);
        if (config.RootElement.ValueKind != JsonValueKind.Object || !config.RootElement.TryGetProperty("added_tokens_decoder", out var decoder) || decoder.ValueKind != JsonValueKind.Object)
            return;
        foreach (var p in decoder.EnumerateObject())
        {
            if (!int.TryParse(p.Name, NumberStyles.None, CultureInfo.InvariantCulture, out var id)
                || p.Value.ValueKind != JsonValueKind.Object || !p.Value.TryGetProperty("content", out var content) || content.ValueKind != JsonValueKind.String)
                throw new GgufExportException(configFile, $"added_tokens_decoder.{p.Name}", "is not an id with a content string", "restore the file from the model's source");
            var text = content.GetString()!;
            var special = p.Value.TryGetProperty("special", out var sp) && sp.ValueKind == JsonValueKind.True;
            if (special || LooksSpecial(text)) Set(id, text, Control);
            else Set(id, text.Replace('\u2581', ' '), UserDefined);
        }
    }

    /// <summary>A JSON file of the model folder, read as every user file is (size limit, duplicate keys refused), its errors named.</summary>
    private static JsonDocument ReadJson(string file, long maxBytes)
    {
        try
        {
            return StrictJson.ReadFile(file, maxBytes, Path.GetFileName(file));
        }
        catch (JsonException e)
        {
            throw new GgufExportException(file, null, $"is not valid JSON ({StrictJson.Describe(e)})", "restore the file from the model's source");
        }
    }

    /// <summary>convert_hf_to_gguf.py's <c>does_token_look_special</c>: added tokens some models leave unmarked that are control tokens.</summary>
    private static bool LooksSpecial(string t) =>
        t is "<pad>" or "<mask>" or "<2mass>" or "[@BOS@]"
        || (t.StartsWith("<|", StringComparison.Ordinal) && t.EndsWith("|>", StringComparison.Ordinal))
        || (t.StartsWith("<\uFF5C", StringComparison.Ordinal) && t.EndsWith("\uFF5C>", StringComparison.Ordinal))
        || (t.StartsWith("<unused", StringComparison.Ordinal) && t.EndsWith('>'));

    /// <summary>
    /// A SentencePiece model (sentencepiece_model.proto: ModelProto.pieces = 1 {piece = 1, score = 2, type = 3},
    /// trainer_spec = 2 {model_type = 3}, normalizer_spec = 3 {add_dummy_prefix = 3, remove_extra_whitespaces = 4}) as
    /// llama.cpp's <c>llama</c> vocabulary: its SPM tokenizer merges by score, which is SentencePiece's BPE.
    /// </summary>
    private static List<KeyValuePair<string, GgufValue>> FromSentencePiece(string file, int vocabSize, string folder)
    {
        var pieces = new List<(string Piece, float Score, int Type)>();
        int modelType = 1; // UNIGRAM is the proto default
        bool addDummyPrefix = true, removeExtraWhitespace = true;
        try
        {
            var input = new CodedInputStream(File.ReadAllBytes(file));
            uint tag;
            while ((tag = input.ReadTag()) != 0)
            {
                var field = WireFormat.GetTagFieldNumber(tag);
                if (field is 1 or 2 or 3 && WireFormat.GetTagWireType(tag) == WireFormat.WireType.LengthDelimited)
                {
                    var sub = new CodedInputStream(input.ReadBytes().ToByteArray());
                    string piece = "";
                    float score = 0;
                    var type = Normal;
                    uint t;
                    while ((t = sub.ReadTag()) != 0)
                    {
                        var f = WireFormat.GetTagFieldNumber(t);
                        switch (field, f)
                        {
                            case (1, 1): piece = sub.ReadString(); break;
                            case (1, 2): score = sub.ReadFloat(); break;
                            case (1, 3): type = sub.ReadEnum(); break;
                            case (2, 3): modelType = sub.ReadEnum(); break;
                            case (3, 3): addDummyPrefix = sub.ReadBool(); break;
                            case (3, 4): removeExtraWhitespace = sub.ReadBool(); break;
                            default: sub.SkipLastField(); break;
                        }
                    }
                    if (field == 1) pieces.Add((piece, score, type));
                }
                else
                    input.SkipLastField();
            }
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new GgufExportException(file, null, $"is not a SentencePiece model ({e.Message})", "restore the file from the model's source");
        }
        if (modelType != 2)
            throw new GgufExportException(file, "trainer_spec.model_type", $"is {modelType} (1 = unigram), not BPE (2); llama.cpp's llama tokenizer merges by score, which is SentencePiece's BPE",
                "LoraKit exports BPE SentencePiece models (Llama 2, Mistral)");
        if (removeExtraWhitespace)
            throw new GgufExportException(file, "normalizer_spec.remove_extra_whitespaces", "is true; llama.cpp does not collapse whitespace and would tokenize differently", "LoraKit exports SentencePiece models without whitespace normalization (Llama 2, Mistral)");
        if (pieces.Count > vocabSize)
            throw new GgufExportException(file, "pieces", $"holds {pieces.Count} pieces, more than the model's {vocabSize} embedding rows", "use the tokenizer that belongs to this model");
        var tokens = new string[vocabSize];
        var scores = new float[vocabSize];
        var types = new int[vocabSize];
        for (var i = 0; i < vocabSize; i++)
        {
            if (i < pieces.Count)
            {
                (tokens[i], scores[i], types[i]) = pieces[i];
                if (types[i] is < Normal or > Byte) types[i] = Normal;
            }
            else
                (tokens[i], scores[i], types[i]) = ($"[PAD{i.ToString(CultureInfo.InvariantCulture)}]", -1000f, Unused);
        }
        AddSentencePieceAddedTokens(folder, tokens, scores, types);
        return new List<KeyValuePair<string, GgufValue>>
        {
            new("tokenizer.ggml.model", GgufValue.Of("llama")),
            new("tokenizer.ggml.pre", GgufValue.Of("default")),
            new("tokenizer.ggml.tokens", GgufValue.Of(tokens)),
            new("tokenizer.ggml.scores", GgufValue.Of(scores)),
            new("tokenizer.ggml.token_type", GgufValue.Of(types)),
            new("tokenizer.ggml.add_space_prefix", GgufValue.Of(addDummyPrefix)),
        };
    }
}
