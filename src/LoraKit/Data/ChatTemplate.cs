using System.Text.Json;
using LoraKit.Data.Jinja;
using LoraKit.IO;

namespace LoraKit.Data;

/// <summary>One turn of a conversation (the OpenAI / TRL <c>messages</c> format).</summary>
public sealed record ChatMessage(string Role, string Content)
{
    /// <summary>The roles a chat dataset line may use.</summary>
    public static readonly IReadOnlyList<string> Roles = new[] { "system", "user", "assistant" };

    public const string AssistantRole = "assistant";
}

/// <summary>A rendered conversation and the character ranges of its assistant turns (start inclusive, end exclusive).</summary>
public sealed record ChatRendering(string Text, IReadOnlyList<(int Start, int End)> AssistantSpans);

/// <summary>
/// A model's chat template (<c>chat_template</c> of <c>tokenizer_config.json</c>, or <c>chat_template.jinja</c> beside
/// it), rendered as Hugging Face's <c>apply_chat_template</c> renders it: variables <c>messages</c>,
/// <c>add_generation_prompt</c>, <c>tools</c> and <c>documents</c> (none), the special tokens (<c>bos_token</c>,
/// <c>eos_token</c>, <c>pad_token</c>, <c>unk_token</c>), and the functions <c>raise_exception</c> and
/// <c>strftime_now</c>.
/// </summary>
public sealed class ChatTemplate
{
    public const string ConfigFileName = "tokenizer_config.json";
    public const string ConfigKey = "chat_template";
    public const string JinjaFileName = "chat_template.jinja";

    // A private-use character stands in for an assistant turn's content to find where the content starts.
    private const string Sentinel = "\uE000";

    private readonly JinjaTemplate _template;
    private readonly Dictionary<string, string> _specialTokens;

    private ChatTemplate(JinjaTemplate template, string text, string source, Dictionary<string, string> specialTokens)
    {
        _template = template;
        Text = text;
        Source = source;
        _specialTokens = specialTokens;
    }

    /// <summary>The template's Jinja source as the model folder gives it (written into GGUF files as tokenizer.chat_template).</summary>
    public string Text { get; }

    /// <summary>Where the template came from, e.g. <c>/m/tokenizer_config.json (chat_template)</c>.</summary>
    public string Source { get; }

    /// <summary>The clock <c>strftime_now</c> reads (Llama-3.2 puts today's date in the system turn); UTC now by default.</summary>
    public Func<DateTime> Clock { get; set; } = () => DateTime.UtcNow;

    /// <summary>
    /// Parses <paramref name="template"/> (named <paramref name="source"/> in errors) with the special tokens the
    /// template may print (keys like <c>bos_token</c>).
    /// </summary>
    public static ChatTemplate FromString(string template, string source, IReadOnlyDictionary<string, string>? specialTokens = null)
    {
        if (template is null) throw new ArgumentNullException(nameof(template));
        if (source is null) throw new ArgumentNullException(nameof(source));
        if (string.IsNullOrWhiteSpace(template))
            throw new DataException($"chat template {source} is empty, so a conversation would render as no text; " +
                "use the tokenizer files of the model's instruct/chat version, or write a Hugging Face Jinja template there", source);
        JinjaTemplate parsed;
        try
        {
            parsed = JinjaTemplate.Parse(template, source);
        }
        catch (JinjaException e)
        {
            throw new DataException($"chat template {e.Message}; fix the template or pass a tokenizer_config.json whose chat_template LoraKit can read (see docs/chat-data.md)", source, e.Line, e);
        }
        return new ChatTemplate(parsed, template, source, new Dictionary<string, string>(specialTokens ?? new Dictionary<string, string>(), StringComparer.Ordinal));
    }

    /// <summary>
    /// The chat template of a model folder, or null when it has none: <c>tokenizer_config.json</c>'s
    /// <c>chat_template</c> (a string, or a list of named templates of which <c>default</c> is used), else
    /// <c>chat_template.jinja</c>. Throws <see cref="DataException"/> naming the file when one is malformed.
    /// </summary>
    public static ChatTemplate? TryLoad(string modelFolder)
    {
        if (modelFolder is null) throw new ArgumentNullException(nameof(modelFolder));
        var config = Path.Combine(modelFolder, ConfigFileName);
        var specials = new Dictionary<string, string>(StringComparer.Ordinal);
        string? text = null;
        var source = "";
        if (File.Exists(config))
        {
            JsonDocument doc;
            try
            {
                doc = StrictJson.ReadFile(config, InputLimits.JsonFileBytes, "tokenizer config");
            }
            catch (JsonException e)
            {
                throw new DataException($"'{config}' is not valid JSON ({StrictJson.Describe(e)}); restore the file from the model's source", config, (int?)(e.LineNumber + 1), e);
            }
            catch (InputFileException e)
            {
                throw new DataException(e.Message, config, e.Line > 0 ? e.Line : null, e);
            }
            using (doc)
            {
                var root = doc.RootElement;
                if (root.ValueKind != JsonValueKind.Object)
                    throw new DataException($"'{config}': expected a JSON object; restore the file from the model's source", config);
                foreach (var key in new[] { "bos_token", "eos_token", "pad_token", "unk_token" })
                    if (TokenText(root, key) is { } t) specials[key] = t;
                if (root.TryGetProperty(ConfigKey, out var ct) && ct.ValueKind != JsonValueKind.Null)
                {
                    source = $"{config} ({ConfigKey})";
                    text = ct.ValueKind switch
                    {
                        JsonValueKind.String => ct.GetString(),
                        JsonValueKind.Array => ct.EnumerateArray()
                            .Where(x => x.ValueKind == JsonValueKind.Object && x.TryGetProperty("name", out var n) && n.GetString() == "default")
                            .Select(x => x.TryGetProperty("template", out var tt) && tt.ValueKind == JsonValueKind.String ? tt.GetString() : null)
                            .FirstOrDefault()
                            ?? throw new DataException($"'{config}', field '{ConfigKey}': a list of templates without one named \"default\"; add a \"default\" entry", config),
                        _ => throw new DataException($"'{config}', field '{ConfigKey}': expected a string (or a list of {{\"name\", \"template\"}}); restore the file from the model's source", config),
                    };
                }
            }
        }
        if (text is null)
        {
            var jinja = Path.Combine(modelFolder, JinjaFileName);
            if (!File.Exists(jinja)) return null;
            try
            {
                text = InputFile.ReadAllText(jinja, InputLimits.JsonFileBytes, "chat template");
            }
            catch (InputFileException e)
            {
                throw new DataException(e.Message, jinja, e.Line > 0 ? e.Line : null, e);
            }
            source = jinja;
        }
        return FromString(text!, source, specials);
    }

    /// <summary>Like <see cref="TryLoad"/>, but a folder without a template is an error that says how to add one.</summary>
    public static ChatTemplate Load(string modelFolder) =>
        TryLoad(modelFolder) ?? throw new DataException(
            $"'{Path.Combine(modelFolder, ConfigFileName)}' has no \"{ConfigKey}\" (and there is no {JinjaFileName} beside it), so LoraKit does not know how this model formats a conversation; " +
            "use the tokenizer files of the model's instruct/chat version, or add a \"chat_template\" (a Hugging Face Jinja template) to tokenizer_config.json",
            Path.Combine(modelFolder, ConfigFileName));

    private static string? TokenText(JsonElement r, string key)
    {
        if (!r.TryGetProperty(key, out var v)) return null;
        if (v.ValueKind == JsonValueKind.String) return v.GetString();
        if (v.ValueKind == JsonValueKind.Object && v.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String) return c.GetString();
        return null;
    }

    /// <summary>
    /// The conversation as the model sees it; with <paramref name="addGenerationPrompt"/> the text that opens an
    /// assistant turn is appended (what <c>generate --chat</c> feeds the model). A template's
    /// <c>raise_exception</c> (e.g. roles that do not alternate) becomes a <see cref="DataException"/>.
    /// </summary>
    public string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt)
    {
        if (messages is null) throw new ArgumentNullException(nameof(messages));
        var vars = new Dictionary<string, object?>(StringComparer.Ordinal)
        {
            ["messages"] = messages.Select(m => (object?)new Dictionary<string, object?>(StringComparer.Ordinal) { ["role"] = m.Role, ["content"] = m.Content }).ToList(),
            ["add_generation_prompt"] = addGenerationPrompt,
            ["tools"] = null,
            ["documents"] = null,
            ["strftime_now"] = (JinjaFunction)((a, _) => Strftime(Clock(), a.Count > 0 && a[0] is string f ? f : "")),
        };
        foreach (var (k, v) in _specialTokens) vars[k] = v;
        try
        {
            return _template.Render(vars);
        }
        catch (JinjaException e)
        {
            throw new DataException($"chat template {e.Message}", Source, e.Line, e);
        }
    }

    /// <summary>
    /// Renders a training conversation and finds each assistant turn in it: the turn's content and everything the
    /// template writes after it for that turn (its end-of-turn token, e.g. <c>&lt;|eot_id|&gt;</c>, <c>&lt;|im_end|&gt;\n</c>
    /// or <c>&lt;/s&gt;</c>), so the model learns to stop. The text that opens the turn (<c>&lt;|im_start|&gt;assistant\n</c>,
    /// what <c>add_generation_prompt</c> writes) is prompt, not target. How: for assistant message i, the
    /// conversation up to i is rendered twice, with the real content and with a placeholder; the content starts where
    /// the two first differ, and the turn ends where that rendering ends. This needs the rendering of messages[..i+1]
    /// to be a prefix of the whole conversation's (true of the common templates); a template that rewrites earlier
    /// turns later is refused with an error.
    /// </summary>
    public ChatRendering RenderForTraining(IReadOnlyList<ChatMessage> messages)
    {
        if (messages is null) throw new ArgumentNullException(nameof(messages));
        var full = Render(messages, addGenerationPrompt: false);
        var spans = new List<(int, int)>();
        for (var i = 0; i < messages.Count; i++)
        {
            if (messages[i].Role != ChatMessage.AssistantRole) continue;
            var upTo = messages.Take(i + 1).ToList();
            var withTurn = Render(upTo, addGenerationPrompt: false);
            if (!full.StartsWith(withTurn, StringComparison.Ordinal))
                throw new DataException(
                    $"chat template {Source} renders the conversation up to assistant message {i + 1} differently once later messages follow, so LoraKit cannot tell which tokens are that turn's; " +
                    "train on conversations that end at that turn, or use a template that renders earlier turns the same way", Source);
            upTo[i] = upTo[i] with { Content = Sentinel };
            var placeholder = Render(upTo, addGenerationPrompt: false);
            var start = 0;
            while (start < withTurn.Length && start < placeholder.Length && withTurn[start] == placeholder[start]) start++;
            if (start < withTurn.Length) spans.Add((start, withTurn.Length));
        }
        return new ChatRendering(full, spans);
    }

    /// <summary>Python's <c>datetime.strftime</c> for the directives templates use (C locale).</summary>
    internal static string Strftime(DateTime t, string format)
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        for (var i = 0; i < format.Length; i++)
        {
            if (format[i] != '%' || i + 1 == format.Length)
            {
                sb.Append(format[i]);
                continue;
            }
            var d = format[++i];
            sb.Append(d switch
            {
                'd' => t.ToString("dd", inv),
                'm' => t.ToString("MM", inv),
                'Y' => t.ToString("yyyy", inv),
                'y' => t.ToString("yy", inv),
                'b' => t.ToString("MMM", inv),
                'B' => t.ToString("MMMM", inv),
                'a' => t.ToString("ddd", inv),
                'A' => t.ToString("dddd", inv),
                'H' => t.ToString("HH", inv),
                'I' => t.ToString("hh", inv),
                'M' => t.ToString("mm", inv),
                'S' => t.ToString("ss", inv),
                'p' => t.Hour < 12 ? "AM" : "PM",
                'j' => t.DayOfYear.ToString("000", inv),
                'e' => t.Day.ToString(inv).PadLeft(2),
                '%' => "%",
                _ => "%" + d,
            });
        }
        return sb.ToString();
    }
}
