using System.Text.Json;
using System.Text.RegularExpressions;
using LoraKit.IO;
using Microsoft.ML.Tokenizers;

namespace LoraKit.Data;

/// <summary>
/// A model folder's own tokenizer through Microsoft.ML.Tokenizers:
/// <list type="bullet">
/// <item><c>tokenizer.json</c> with a byte-level BPE model (GPT-2, Llama-3, Qwen2, SmolLM, …): the
/// vocabulary, merges, added tokens, the pre-tokenizer's split regex and the normalizer are read from
/// the file and fed to <see cref="BpeTokenizer"/> with <c>ByteLevel = true</c>;</item>
/// <item><c>tokenizer.model</c> (SentencePiece, Llama-2, TinyLlama, Mistral): <see cref="LlamaTokenizer"/>.</item>
/// </list>
/// When both are present, a byte-level BPE <c>tokenizer.json</c> is used; a <c>tokenizer.json</c> of another kind
/// (e.g. Llama-2's SentencePiece-style BPE with byte fallback) defers to <c>tokenizer.model</c>.
/// Not read: <c>model.ignore_merges</c> (Llama-3; Microsoft.ML.Tokenizers' BPE always applies the merges, which gives the
/// same ids for words the merges build) and <c>dropout</c>.
/// bos/eos/pad come from <c>tokenizer_config.json</c> (<c>bos_token</c>, <c>eos_token</c>, <c>pad_token</c>,
/// <c>add_bos_token</c>), then from <c>config.json</c> (<c>bos_token_id</c>, …), then from the tokenizer itself.
/// </summary>
public sealed class HfTokenizer : ILoraTokenizer
{
    /// <summary>GPT-2's pre-tokenizer regex, which a <c>ByteLevel</c> pre-tokenizer with <c>use_regex</c> applies.</summary>
    /// <summary>How long the pre-tokenizer's regex may run on one text: a tokenizer.json regex that backtracks catastrophically stops with an error, not a hang.</summary>
    public static readonly TimeSpan RegexTimeout = TimeSpan.FromSeconds(2);

    public const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    private readonly Tokenizer _inner;
    private readonly Func<string, string> _normalize;
    private readonly bool _addPrefixSpace;
    private readonly HashSet<int> _specialIds;

    private Lazy<ChatTemplate?> _chatTemplate = new(() => null);

    private HfTokenizer(string name, Tokenizer inner, int vocabSize, int? bos, int? eos, int? pad, bool addBos,
        Func<string, string> normalize, bool addPrefixSpace, IEnumerable<int> specialIds)
    {
        Name = name;
        _inner = inner;
        VocabSize = vocabSize;
        BosId = bos;
        EosId = eos;
        PadId = pad;
        AddBos = addBos && bos is not null;
        _normalize = normalize;
        _addPrefixSpace = addPrefixSpace;
        _specialIds = new HashSet<int>(specialIds);
        foreach (var id in new[] { bos, eos, pad })
            if (id is int i) _specialIds.Add(i);
    }

    public string Name { get; }
    public int VocabSize { get; }
    public int? BosId { get; }
    public int? EosId { get; }
    public int? PadId { get; }
    public bool AddBos { get; }

    /// <summary>The Microsoft.ML.Tokenizers tokenizer underneath.</summary>
    public Tokenizer Inner => _inner;

    /// <summary>The model folder the tokenizer was read from (null when built otherwise).</summary>
    public string? ModelFolder { get; private set; }

    /// <summary>
    /// The folder's chat template (<see cref="ChatTemplate.TryLoad"/>), read on first use so that a template LoraKit
    /// cannot parse only matters to chat data; null when the folder has none.
    /// </summary>
    public ChatTemplate? ChatTemplate => _chatTemplate.Value;

    public IReadOnlyList<TokenSpan> EncodeWithOffsets(string text)
    {
        if (text is null) throw new ArgumentNullException(nameof(text));
        var t = _normalize(text);
        if (!string.Equals(t, text, StringComparison.Ordinal))
            throw new DataException(
                $"tokenizer {Name}: its normalizer changes this text ({Preview(text)}), so token positions cannot be mapped back to the text; " +
                "normalize the dataset's text the same way first (e.g. Unicode NFC)");
        var shift = 0;
        if (_addPrefixSpace && t.Length > 0 && !char.IsWhiteSpace(t[0]))
        {
            t = " " + t;
            shift = 1;
        }
        var (tokens, normalized) = Guarded(() => (_inner.EncodeToTokens(t, out var normalizedText), normalizedText), text);
        var n = normalized ?? t;
        // SentencePiece normalizes in place (spaces to U+2581) and may add one dummy-prefix character.
        if (n.Length == t.Length + 1) shift++;
        else if (n.Length != t.Length)
            throw new DataException($"tokenizer {Name}: its normalized text has a different length than the input ({Preview(text)}), so token positions cannot be mapped back; normalize the dataset's text first");
        var result = new TokenSpan[tokens.Count];
        for (var i = 0; i < tokens.Count; i++)
        {
            var (start, length) = tokens[i].Offset.GetOffsetAndLength(n.Length);
            var s = Math.Clamp(start - shift, 0, text.Length);
            var e = Math.Clamp(start + length - shift, s, text.Length);
            // A byte-level token may hold part of a surrogate pair's UTF-8 bytes: widen it to the whole character.
            if (s > 0 && s < text.Length && char.IsLowSurrogate(text[s]) && char.IsHighSurrogate(text[s - 1])) s--;
            if (e > 0 && e < text.Length && char.IsHighSurrogate(text[e - 1]) && char.IsLowSurrogate(text[e])) e++;
            result[i] = new TokenSpan(tokens[i].Id, s, e);
        }
        return result;
    }

    private T Guarded<T>(Func<T> encode, string text)
    {
        try
        {
            return encode();
        }
        catch (RegexMatchTimeoutException)
        {
            throw new DataException(
                $"tokenizer {Name}: its pre-tokenizer regex ran longer than {RegexTimeout.TotalSeconds:0} s on one text ({Preview(text)}), which means catastrophic backtracking; restore tokenizer.json from the model's source");
        }
    }

    private static string Preview(string text) => text.Length <= 40 ? $"\"{text}\"" : $"\"{text[..40]}…\"";

    public int[] Encode(string text)
    {
        if (text is null) throw new ArgumentNullException(nameof(text));
        var t = _normalize(text);
        if (_addPrefixSpace && t.Length > 0 && !char.IsWhiteSpace(t[0])) t = " " + t;
        return Guarded(() => _inner.EncodeToIds(t).ToArray(), text);
    }

    public string Decode(IReadOnlyList<int> ids)
    {
        if (ids is null) throw new ArgumentNullException(nameof(ids));
        var kept = ids.Where(id => !_specialIds.Contains(id)).ToArray();
        return _inner.Decode(kept);
    }

    /// <summary>
    /// The tokenizer of a Hugging Face model folder: <c>tokenizer.json</c> or <c>tokenizer.model</c>, whichever
    /// it has (see the type's remarks). Throws <see cref="DataException"/> naming the file, the field and the fix
    /// when neither exists or the file is malformed or of a kind LoraKit does not read.
    /// </summary>
    public static HfTokenizer FromFolder(string modelFolder)
    {
        if (modelFolder is null) throw new ArgumentNullException(nameof(modelFolder));
        if (!Directory.Exists(modelFolder))
            throw new DataException($"model folder '{modelFolder}' does not exist; pass the folder that holds config.json and tokenizer.json or tokenizer.model", modelFolder);
        var json = Path.Combine(modelFolder, "tokenizer.json");
        var model = Path.Combine(modelFolder, "tokenizer.model");
        var specials = SpecialTokenConfig.Read(modelFolder);
        HfTokenizer? result = null;
        if (File.Exists(json))
        {
            var doc = ReadJson(json, InputLimits.TokenizerFileBytes);
            using (doc)
            {
                if (IsByteLevelBpe(doc.RootElement) || !File.Exists(model))
                    result = FromTokenizerJson(json, doc.RootElement, specials);
            }
        }
        if (result is null && File.Exists(model))
            result = FromSentencePiece(model, specials);
        if (result is not null)
        {
            result.ModelFolder = modelFolder;
            result._chatTemplate = new Lazy<ChatTemplate?>(() => ChatTemplate.TryLoad(modelFolder));
            return result;
        }
        throw new DataException(
            $"model folder '{modelFolder}' has neither tokenizer.json (Hugging Face BPE) nor tokenizer.model (SentencePiece); " +
            "copy the tokenizer files of the model into the folder (e.g. from the model's hub page), or use the builtin model with its byte tokenizer",
            modelFolder);
    }

    private static JsonDocument ReadJson(string file, long maxBytes)
    {
        try
        {
            return StrictJson.ReadFile(file, maxBytes, Path.GetFileName(file));
        }
        catch (JsonException e)
        {
            throw new DataException($"'{file}' is not valid JSON ({StrictJson.Describe(e)}); restore the file from the model's source", file, (int?)(e.LineNumber + 1), e);
        }
        catch (InputFileException e)
        {
            throw new DataException(e.Message, file, e.Line > 0 ? e.Line : null, e);
        }
    }

    /// <summary>A component's "type": absent is null; anything but a string is an error naming <paramref name="field"/>.</summary>
    private static string? TypeOf(JsonElement c, string file, string field)
    {
        if (!c.TryGetProperty("type", out var t) || t.ValueKind == JsonValueKind.Null) return null;
        if (t.ValueKind != JsonValueKind.String)
            throw new DataException($"'{file}', field '{field}.type': {JsonKinds.Describe(t.ValueKind)}, not a type name; restore the file from the model's source", file);
        return t.GetString();
    }

    private static bool IsByteLevelBpe(JsonElement root) =>
        root.ValueKind == JsonValueKind.Object
        && root.TryGetProperty("model", out var m) && m.ValueKind == JsonValueKind.Object
        && m.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String && t.GetString() == "BPE"
        && (HasComponent(root, "pre_tokenizer", "ByteLevel") || HasComponent(root, "decoder", "ByteLevel"));

    private static bool HasComponent(JsonElement root, string field, string type)
    {
        if (!root.TryGetProperty(field, out var c)) return false;
        return Components(c).Any(x => x.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String && t.GetString() == type);
    }

    /// <summary>A component and, for a <c>Sequence</c>, its members (pretokenizers / normalizers / decoders), flattened.</summary>
    private static IEnumerable<JsonElement> Components(JsonElement c)
    {
        if (c.ValueKind != JsonValueKind.Object) yield break;
        yield return c;
        foreach (var key in new[] { "pretokenizers", "normalizers", "decoders", "processors" })
            if (c.TryGetProperty(key, out var list) && list.ValueKind == JsonValueKind.Array)
                foreach (var item in list.EnumerateArray())
                    foreach (var sub in Components(item))
                        yield return sub;
    }

    private static HfTokenizer FromTokenizerJson(string file, JsonElement root, SpecialTokenConfig specials)
    {
        DataException Bad(string field, string problem) =>
            new($"'{file}', field '{field}': {problem}", file);

        if (root.ValueKind != JsonValueKind.Object) throw Bad("(root)", "expected a JSON object; restore the file from the model's source");
        if (!root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object)
            throw Bad("model", "missing or not an object; restore the file from the model's source");
        var type = model.TryGetProperty("type", out var tEl) && tEl.ValueKind == JsonValueKind.String ? tEl.GetString() : null;
        if (type != "BPE")
            throw Bad("model.type", $"'{type ?? "(missing)"}' is not supported; LoraKit reads byte-level BPE tokenizer.json files, or a SentencePiece tokenizer.model placed beside it");
        if (!IsByteLevelBpe(root))
            throw Bad("pre_tokenizer", "this BPE tokenizer is not byte-level (no ByteLevel pre-tokenizer or decoder; e.g. a SentencePiece-style BPE with byte_fallback); put the model's tokenizer.model in the folder and LoraKit uses it instead");

        // Vocabulary.
        if (!model.TryGetProperty("vocab", out var vocabEl) || vocabEl.ValueKind != JsonValueKind.Object)
            throw Bad("model.vocab", "missing or not an object of token → id");
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var p in vocabEl.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetInt32(out var id) || id < 0)
                throw Bad($"model.vocab[\"{p.Name}\"]", "the id must be a non-negative integer");
            vocab[p.Name] = id;
        }
        if (vocab.Count == 0) throw Bad("model.vocab", "is empty");

        // Merges: "a b" strings (older files) or ["a", "b"] pairs (tokenizers ≥ 0.20).
        var merges = new List<string>();
        if (model.TryGetProperty("merges", out var mergesEl) && mergesEl.ValueKind != JsonValueKind.Null)
        {
            if (mergesEl.ValueKind != JsonValueKind.Array) throw Bad("model.merges", "must be an array");
            var i = 0;
            foreach (var m in mergesEl.EnumerateArray())
            {
                if (m.ValueKind == JsonValueKind.String && m.GetString()!.Split(' ') is { Length: 2 } parts && parts[0].Length > 0 && parts[1].Length > 0)
                    merges.Add(m.GetString()!);
                else if (m.ValueKind == JsonValueKind.Array && m.GetArrayLength() == 2
                         && m[0].ValueKind == JsonValueKind.String && m[1].ValueKind == JsonValueKind.String)
                    merges.Add(m[0].GetString() + " " + m[1].GetString());
                else
                    throw Bad($"model.merges[{i}]", "each merge must be \"left right\" or [\"left\", \"right\"]");
                i++;
            }
        }

        // Added tokens (specials and others): matched whole in the text, as Hugging Face does.
        var added = new Dictionary<string, int>(StringComparer.Ordinal);
        var specialIds = new List<int>();
        if (root.TryGetProperty("added_tokens", out var addedEl) && addedEl.ValueKind == JsonValueKind.Array)
        {
            var i = 0;
            foreach (var a in addedEl.EnumerateArray())
            {
                if (a.ValueKind != JsonValueKind.Object
                    || !a.TryGetProperty("id", out var idEl) || idEl.ValueKind != JsonValueKind.Number || !idEl.TryGetInt32(out var id) || id < 0
                    || !a.TryGetProperty("content", out var cEl) || cEl.ValueKind != JsonValueKind.String || string.IsNullOrEmpty(cEl.GetString()))
                    throw Bad($"added_tokens[{i}]", "each added token needs an integer 'id' and a non-empty string 'content'");
                added[cEl.GetString()!] = id;
                if (a.TryGetProperty("special", out var sp) && sp.ValueKind == JsonValueKind.True) specialIds.Add(id);
                i++;
            }
        }

        // Pre-tokenizer: the Split regex if there is one, else GPT-2's when ByteLevel.use_regex (default true).
        string? pattern = null;
        var addPrefixSpace = false;
        if (root.TryGetProperty("pre_tokenizer", out var pre))
        {
            foreach (var c in Components(pre))
            {
                var ct = TypeOf(c, file, "pre_tokenizer");
                if (ct == "Split")
                {
                    if (!c.TryGetProperty("pattern", out var pat) || pat.ValueKind != JsonValueKind.Object)
                        throw Bad("pre_tokenizer.pattern", "a Split pre-tokenizer needs a pattern object");
                    if (pat.TryGetProperty("Regex", out var rx) && rx.ValueKind == JsonValueKind.String) pattern = rx.GetString();
                    else if (pat.TryGetProperty("String", out var s) && s.ValueKind == JsonValueKind.String) pattern = Regex.Escape(s.GetString()!);
                    else throw Bad("pre_tokenizer.pattern", "expected {\"Regex\": …} or {\"String\": …}");
                }
                else if (ct == "ByteLevel")
                {
                    if (c.TryGetProperty("add_prefix_space", out var aps) && aps.ValueKind == JsonValueKind.True) addPrefixSpace = true;
                    var useRegex = !c.TryGetProperty("use_regex", out var ur) || ur.ValueKind != JsonValueKind.False;
                    if (useRegex && pattern is null) pattern = Gpt2Pattern;
                }
                else if (ct is "Sequence" or "Digits" or null)
                {
                    // Sequence: its members follow. Digits (SmolLM) is not applied: numbers are split by the regex only,
                    // which gives the same ids whenever the vocabulary has no merge across two digits (SmolLM's has none).
                }
                else
                    throw Bad("pre_tokenizer.type", $"'{ct}' is not supported (LoraKit reads ByteLevel, Split and Sequence pre-tokenizers)");
            }
        }

        Regex? regex = null;
        if (pattern is not null)
        {
            try
            {
                regex = new Regex(pattern, RegexOptions.Compiled | RegexOptions.CultureInvariant, RegexTimeout);
            }
            catch (ArgumentException e)
            {
                throw Bad("pre_tokenizer.pattern.Regex", $"the regex is not one .NET can compile ({e.Message})");
            }
        }

        var normalize = ReadNormalizer(root, file, Bad);

        var allSpecials = new Dictionary<string, int>(added, StringComparer.Ordinal);
        var options = new BpeOptions(vocab)
        {
            Merges = merges,
            ByteLevel = true,
            SpecialTokens = allSpecials.Count > 0 ? allSpecials : null,
            PreTokenizer = regex is null ? null : new RegexPreTokenizer(regex, allSpecials.Count > 0 ? allSpecials : null),
        };
        if (model.TryGetProperty("unk_token", out var unk) && unk.ValueKind == JsonValueKind.String && vocab.ContainsKey(unk.GetString()!))
            options.UnknownToken = unk.GetString();

        Tokenizer inner;
        try
        {
            inner = BpeTokenizer.Create(options);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw Bad("model", $"Microsoft.ML.Tokenizers refused the vocabulary or merges ({e.Message}); restore the file from the model's source");
        }

        int? Lookup(string? token) =>
            token is null ? null : added.TryGetValue(token, out var a) ? a : vocab.TryGetValue(token, out var v) ? v : null;

        var bos = Lookup(specials.BosToken) ?? specials.BosId;
        var eos = Lookup(specials.EosToken) ?? specials.EosId;
        var pad = Lookup(specials.PadToken) ?? specials.PadId;
        var addBos = specials.AddBosToken ?? PostProcessorAddsBos(root, bos, file);
        var vocabSize = Math.Max(vocab.Values.Max(), added.Count == 0 ? -1 : added.Values.Max()) + 1;
        return new HfTokenizer("hf-bpe:" + file, inner, vocabSize, bos, eos, pad, addBos, normalize, addPrefixSpace, specialIds);
    }

    private static Func<string, string> ReadNormalizer(JsonElement root, string file, Func<string, string, DataException> bad)
    {
        if (!root.TryGetProperty("normalizer", out var n) || n.ValueKind == JsonValueKind.Null) return s => s;
        var steps = new List<Func<string, string>>();
        foreach (var c in Components(n))
        {
            var t = TypeOf(c, file, "normalizer");
            switch (t)
            {
                case "Sequence": break;
                case "NFC": steps.Add(s => s.Normalize(NormalizationForm.FormC)); break;
                case "NFD": steps.Add(s => s.Normalize(NormalizationForm.FormD)); break;
                case "NFKC": steps.Add(s => s.Normalize(NormalizationForm.FormKC)); break;
                case "NFKD": steps.Add(s => s.Normalize(NormalizationForm.FormKD)); break;
                case "Lowercase": steps.Add(s => s.ToLowerInvariant()); break;
                default:
                    throw bad("normalizer.type", $"'{t}' is not supported with byte-level BPE (LoraKit applies NFC, NFD, NFKC, NFKD and Lowercase)");
            }
        }
        return s =>
        {
            foreach (var step in steps) s = step(s);
            return s;
        };
    }

    private static bool PostProcessorAddsBos(JsonElement root, int? bos, string file)
    {
        if (bos is null || !root.TryGetProperty("post_processor", out var pp)) return false;
        foreach (var c in Components(pp))
        {
            if (TypeOf(c, file, "post_processor") != "TemplateProcessing") continue;
            if (c.TryGetProperty("single", out var single) && single.ValueKind == JsonValueKind.Array && single.GetArrayLength() > 0
                && single[0].ValueKind == JsonValueKind.Object && single[0].TryGetProperty("SpecialToken", out _))
                return true;
        }
        return false;
    }

    private static HfTokenizer FromSentencePiece(string file, SpecialTokenConfig specials)
    {
        // Untested against a real Llama-2 tokenizer.model here (none can be downloaded); see the tests for what is covered.
        SentencePieceTokenizer sp;
        byte[] bytes;
        try
        {
            bytes = InputFile.ReadAllBytes(file, InputLimits.TokenizerFileBytes, "tokenizer model");
        }
        catch (InputFileException e)
        {
            throw new DataException(e.Message, file, null, e);
        }
        using var stream = new MemoryStream(bytes, writable: false);
        try
        {
            sp = LlamaTokenizer.Create(stream, addBeginOfSentence: false, addEndOfSentence: false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Includes Google.Protobuf's InvalidProtocolBufferException (an IOException) for a damaged file.
            throw new DataException($"'{file}' is not a SentencePiece model Microsoft.ML.Tokenizers can read ({e.GetType().Name}: {e.Message}); restore the file from the model's source", file, null, e);
        }
        int? Lookup(string? token) => token is not null && sp.Vocabulary.TryGetValue(token, out var id) ? id : null;
        int? Valid(int id) => id >= 0 ? id : null;
        var bos = Lookup(specials.BosToken) ?? specials.BosId ?? Valid(sp.BeginningOfSentenceId);
        var eos = Lookup(specials.EosToken) ?? specials.EosId ?? Valid(sp.EndOfSentenceId);
        var pad = Lookup(specials.PadToken) ?? specials.PadId;

        // Special tokens written in the text (a chat template's "</s>" or "[INST]") are matched whole, as Hugging Face's
        // tokenizers match added tokens: bos/eos/pad/unk and tokenizer_config.json's added_tokens_decoder.
        var inText = new Dictionary<string, int>(specials.AddedTokens, StringComparer.Ordinal);
        foreach (var (piece, id) in new[] { (specials.BosToken, bos), (specials.EosToken, eos), (specials.PadToken, pad) })
            if (piece is not null && id is int i && Lookup(piece) == i) inText[piece] = i;
        foreach (var id in new[] { sp.BeginningOfSentenceId, sp.EndOfSentenceId, sp.UnknownId })
            if (id >= 0 && sp.Vocabulary.FirstOrDefault(kv => kv.Value == id).Key is { Length: > 0 } piece) inText.TryAdd(piece, id);
        if (inText.Count > 0)
        {
            using var again = new MemoryStream(bytes, writable: false);
            sp = LlamaTokenizer.Create(again, addBeginOfSentence: false, addEndOfSentence: false, specialTokens: inText);
        }
        var vocabSize = Math.Max(sp.Vocabulary.Count == 0 ? 0 : sp.Vocabulary.Values.Max() + 1, inText.Count == 0 ? 0 : inText.Values.Max() + 1);
        var specialIds = new List<int>();
        if (Valid(sp.UnknownId) is int unk) specialIds.Add(unk);
        return new HfTokenizer("sentencepiece:" + file, sp, vocabSize, bos, eos, pad, specials.AddBosToken ?? true, s => s, addPrefixSpace: false, specialIds);
    }

    /// <summary>bos/eos/pad as tokenizer_config.json and config.json give them.</summary>
    private sealed class SpecialTokenConfig
    {
        public string? BosToken, EosToken, PadToken;
        public int? BosId, EosId, PadId;
        public bool? AddBosToken;
        public Dictionary<string, int> AddedTokens = new(StringComparer.Ordinal);

        public static SpecialTokenConfig Read(string folder)
        {
            var result = new SpecialTokenConfig();
            var tc = Path.Combine(folder, "tokenizer_config.json");
            if (File.Exists(tc))
            {
                using var doc = ReadJson(tc, InputLimits.JsonFileBytes);
                var r = doc.RootElement;
                if (r.ValueKind != JsonValueKind.Object)
                    throw new DataException($"'{tc}': expected a JSON object; restore the file from the model's source", tc);
                result.BosToken = TokenText(r, "bos_token", tc);
                result.EosToken = TokenText(r, "eos_token", tc);
                result.PadToken = TokenText(r, "pad_token", tc);
                if (r.TryGetProperty("add_bos_token", out var ab) && ab.ValueKind is JsonValueKind.True or JsonValueKind.False)
                    result.AddBosToken = ab.GetBoolean();
                // {"32768": {"content": "[INST]", "special": true, …}, …}: tokens matched whole in text.
                if (r.TryGetProperty("added_tokens_decoder", out var atd) && atd.ValueKind == JsonValueKind.Object)
                    foreach (var p in atd.EnumerateObject())
                        if (int.TryParse(p.Name, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var id)
                            && p.Value.ValueKind == JsonValueKind.Object && p.Value.TryGetProperty("content", out var c)
                            && c.ValueKind == JsonValueKind.String && !string.IsNullOrEmpty(c.GetString()))
                            result.AddedTokens[c.GetString()!] = id;
            }
            var cfg = Path.Combine(folder, "config.json");
            if (File.Exists(cfg))
            {
                try
                {
                    using var doc = StrictJson.ReadFile(cfg, InputLimits.JsonFileBytes, "model config");
                    if (doc.RootElement.ValueKind == JsonValueKind.Object)
                    {
                        result.BosId = IntOrNull(doc.RootElement, "bos_token_id");
                        result.EosId = IntOrNull(doc.RootElement, "eos_token_id");
                        result.PadId = IntOrNull(doc.RootElement, "pad_token_id");
                    }
                }
                catch (Exception e) when (e is JsonException or InputFileException)
                {
                    // config.json is the model loader's to report; here it is only a fallback for special ids.
                }
            }
            return result;
        }

        private static string? TokenText(JsonElement r, string key, string file)
        {
            if (!r.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return null;
            if (v.ValueKind == JsonValueKind.String) return v.GetString();
            if (v.ValueKind == JsonValueKind.Object && v.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String) return c.GetString();
            throw new DataException($"'{file}', field '{key}': expected a string or an object with a string 'content'; fix the field or remove it", file);
        }

        private static int? IntOrNull(JsonElement r, string key)
        {
            if (!r.TryGetProperty(key, out var v)) return null;
            if (v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var i) && i >= 0) return i;
            // eos_token_id may be a list (Llama-3.1 instruct); the first is the one appended.
            if (v.ValueKind == JsonValueKind.Array && v.GetArrayLength() > 0 && v[0].ValueKind == JsonValueKind.Number && v[0].TryGetInt32(out var j) && j >= 0) return j;
            return null;
        }
    }
}
