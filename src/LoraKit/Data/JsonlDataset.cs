using System.Text.Json;
using LoraKit.IO;

namespace LoraKit.Data;

/// <summary>
/// JSONL datasets as PEFT/TRL take them: one JSON object per line, <c>{"text": …}</c>,
/// <c>{"prompt": …, "completion": …}</c> or <c>{"messages": [{"role": "system|user|assistant", "content": …}, …]}</c>
/// (the OpenAI / TRL conversational format); other keys of a line (ids, metadata) are ignored, but a message holds
/// only <c>role</c> and <c>content</c> (a key such as <c>tool_calls</c> would change the rendering, so it is refused).
/// <list type="bullet">
/// <item>A file holds one kind: the first usable line decides, and lines of the other kind are bad lines
/// (TRL too reads one format per dataset).</item>
/// <item>Bad lines: not UTF-8, not JSON, not an object, a repeated key, a field missing, not a string or
/// empty/whitespace-only, two kinds on one line, or another kind than the file's; for chat lines also a message that
/// is not an object, a role other than system/user/assistant, content that is not a string, another key in a
/// message, or no assistant message with content. Each is reported as
/// <c>file:line: problem</c>.</item>
/// <item><c>maxBadLines</c> (default 0): with more bad lines than this, the file is refused, listing up to 10 of
/// them; otherwise they are skipped and kept in <see cref="Dataset.BadLines"/>.</item>
/// <item>Blank lines (also whitespace-only) are skipped; a UTF-8 BOM and CRLF line ends are accepted.</item>
/// <item>A file with no usable example is refused.</item>
/// </list>
/// </summary>
public static class JsonlDataset
{
    /// <summary>How many bad lines an error message lists.</summary>
    public const int ListedBadLines = 10;

    /// <summary>The line formats, as error messages show them.</summary>
    public const string FormatsHint =
        "{\"text\": \"…\"}, {\"prompt\": \"…\", \"completion\": \"…\"} or {\"messages\": [{\"role\": \"user\", \"content\": \"…\"}, {\"role\": \"assistant\", \"content\": \"…\"}]}";

    public static Dataset Load(string path, int maxBadLines = 0)
    {
        if (path is null) throw new ArgumentNullException(nameof(path));
        if (maxBadLines < 0) throw new ArgumentOutOfRangeException(nameof(maxBadLines), maxBadLines, "must be ≥ 0");
        byte[] bytes;
        try
        {
            bytes = InputFile.ReadAllBytes(path, InputLimits.DatasetFileBytes, "dataset");
        }
        catch (InputFileException e)
        {
            throw new DataException(e.Message, path, null, e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DataException($"cannot read dataset '{path}': {e.Message}; pass an existing JSONL file or a builtin: dataset", path, null, e);
        }
        return Parse(path, bytes, maxBadLines);
    }

    /// <summary>Parses JSONL <paramref name="utf8"/> as if read from <paramref name="name"/> (used in messages).</summary>
    public static Dataset Parse(string name, ReadOnlySpan<byte> utf8, int maxBadLines = 0)
    {
        if (name is null) throw new ArgumentNullException(nameof(name));
        if (maxBadLines < 0) throw new ArgumentOutOfRangeException(nameof(maxBadLines), maxBadLines, "must be ≥ 0");
        if (utf8.StartsWith(new byte[] { 0xEF, 0xBB, 0xBF })) utf8 = utf8[3..];

        var strict = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
        var examples = new List<Example>();
        var bad = new List<BadLine>();
        ExampleKind? fileKind = null;
        var firstKindLine = 0;
        var lineNo = 0;
        while (utf8.Length > 0 || lineNo == 0)
        {
            lineNo++;
            var nl = utf8.IndexOf((byte)'\n');
            var line = nl < 0 ? utf8 : utf8[..nl];
            utf8 = nl < 0 ? ReadOnlySpan<byte>.Empty : utf8[(nl + 1)..];
            if (line.Length > 0 && line[^1] == (byte)'\r') line = line[..^1];

            string text;
            try
            {
                text = strict.GetString(line);
            }
            catch (DecoderFallbackException)
            {
                bad.Add(new BadLine(name, lineNo, "not valid UTF-8"));
                continue;
            }
            if (string.IsNullOrWhiteSpace(text)) continue;

            var (example, problem) = ParseLine(line, lineNo);
            if (example is null)
            {
                bad.Add(new BadLine(name, lineNo, problem!));
                continue;
            }
            if (fileKind is null)
            {
                fileKind = example.Kind;
                firstKindLine = lineNo;
            }
            else if (example.Kind != fileKind)
            {
                bad.Add(new BadLine(name, lineNo,
                    $"a {KindName(example.Kind)} line in a {KindName(fileKind.Value)} file (line {firstKindLine} set the kind); one file holds one kind"));
                continue;
            }
            examples.Add(example);
        }

        if (bad.Count > maxBadLines)
        {
            var listed = string.Join("; ", bad.Take(ListedBadLines).Select(b => b.ToString()));
            var more = bad.Count > ListedBadLines ? $"; and {bad.Count - ListedBadLines} more" : "";
            var allowed = maxBadLines == 0 ? "none is allowed" : $"at most {maxBadLines} allowed";
            throw new DataException(
                $"dataset '{name}' has {bad.Count} bad line(s) ({allowed}): {listed}{more}. " +
                "Fix the lines (each must be " + FormatsHint + ") or raise maxBadLines to skip them",
                name, bad[0].Line);
        }
        if (examples.Count == 0)
            throw new DataException(
                $"dataset '{name}' has no usable examples" + (bad.Count > 0 ? $" ({bad.Count} bad line(s) skipped)" : " (it is empty or only blank lines)") +
                "; give it lines " + FormatsHint,
                name);
        return new Dataset(name, examples, bad);
    }

    private static string KindName(ExampleKind k) => k switch
    {
        ExampleKind.Text => "text",
        ExampleKind.PromptCompletion => "prompt/completion",
        _ => "chat (messages)",
    };

    private static (Example? Example, string? Problem) ParseLine(ReadOnlySpan<byte> line, int lineNo)
    {
        JsonDocument doc;
        try
        {
            if (JsonDuplicateKeys.Find(line) is { } dup)
                return (null, $"key \"{dup.Key}\" appears twice" + (dup.Path.Count > 0 ? $" in \"{string.Join("\" › \"", dup.Path)}\"" : ""));
            doc = JsonDocument.Parse(line.ToArray());
        }
        catch (JsonException e)
        {
            return (null, $"not valid JSON ({FirstSentence(e.Message)})");
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                return (null, $"not a JSON object ({JsonKinds.Describe(root.ValueKind)})");
            var hasText = root.TryGetProperty("text", out var t);
            var hasPrompt = root.TryGetProperty("prompt", out var p);
            var hasCompletion = root.TryGetProperty("completion", out var c);
            var hasMessages = root.TryGetProperty("messages", out var msgs);
            if (hasText && (hasPrompt || hasCompletion))
                return (null, "has both \"text\" and \"prompt\"/\"completion\"; a line is one kind or the other");
            if (hasMessages && (hasText || hasPrompt || hasCompletion))
                return (null, $"has both \"messages\" and \"{(hasText ? "text" : "prompt")}\"; a line is one kind");
            if (hasMessages) return ParseMessages(msgs, lineNo);
            if (hasText)
            {
                var problem = CheckString(t, "text");
                return problem is null ? (Example.FromText(t.GetString()!, lineNo), null) : (null, problem);
            }
            if (hasPrompt || hasCompletion)
            {
                if (!hasPrompt) return (null, "has \"completion\" but no \"prompt\"");
                if (!hasCompletion) return (null, "has \"prompt\" but no \"completion\"");
                var problem = CheckString(p, "prompt") ?? CheckString(c, "completion");
                return problem is null ? (Example.FromPromptCompletion(p.GetString()!, c.GetString()!, lineNo), null) : (null, problem);
            }
            var keys = string.Join(", ", root.EnumerateObject().Select(x => $"\"{x.Name}\"").Take(5));
            return (null, $"has none of \"text\", \"prompt\"/\"completion\", \"messages\" (keys: {(keys.Length == 0 ? "none" : keys)})");
        }
    }

    private static (Example? Example, string? Problem) ParseMessages(JsonElement msgs, int lineNo)
    {
        if (msgs.ValueKind != JsonValueKind.Array) return (null, $"\"messages\" is {JsonKinds.Describe(msgs.ValueKind)}, not an array of {{\"role\", \"content\"}} objects");
        if (msgs.GetArrayLength() == 0) return (null, "\"messages\" is empty");
        var list = new List<ChatMessage>();
        var i = 0;
        foreach (var m in msgs.EnumerateArray())
        {
            i++;
            if (m.ValueKind != JsonValueKind.Object) return (null, $"message {i} is {JsonKinds.Describe(m.ValueKind)}, not an object");
            string? role = null, content = null;
            foreach (var prop in m.EnumerateObject())
            {
                if (prop.Name == "role")
                {
                    if (prop.Value.ValueKind != JsonValueKind.String) return (null, $"message {i}: \"role\" is {JsonKinds.Describe(prop.Value.ValueKind)}, not a string");
                    role = prop.Value.GetString();
                }
                else if (prop.Name == "content")
                {
                    if (prop.Value.ValueKind != JsonValueKind.String)
                        return (null, $"message {i}: \"content\" is {JsonKinds.Describe(prop.Value.ValueKind)}, not a string (content parts and images are not supported)");
                    content = prop.Value.GetString();
                }
                else
                    return (null, $"message {i} has the key \"{prop.Name}\"; LoraKit's chat data holds only \"role\" and \"content\" (tool calls and names are not supported)");
            }
            if (role is null) return (null, $"message {i} has no \"role\"");
            if (!ChatMessage.Roles.Contains(role)) return (null, $"message {i}: role \"{role}\" is not one of {string.Join(", ", ChatMessage.Roles)}");
            if (content is null) return (null, $"message {i} has no \"content\"");
            list.Add(new ChatMessage(role, content));
        }
        if (!list.Any(m => m.Role == ChatMessage.AssistantRole && !string.IsNullOrWhiteSpace(m.Content)))
            return (null, "has no assistant message with content; the loss is on assistant turns, so a conversation without one trains nothing");
        return (Example.FromMessages(list, lineNo), null);
    }

    private static string? CheckString(JsonElement e, string field)
    {
        if (e.ValueKind != JsonValueKind.String)
            return $"\"{field}\" is {JsonKinds.Describe(e.ValueKind)}, not a string";
        return string.IsNullOrWhiteSpace(e.GetString()) ? $"\"{field}\" is empty" : null;
    }

    private static string FirstSentence(string message)
    {
        var i = message.IndexOf(". ", StringComparison.Ordinal);
        return i < 0 ? message.TrimEnd('.') : message[..i];
    }
}
