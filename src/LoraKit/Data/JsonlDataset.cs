using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using LoraKit.SafeTensors;

namespace LoraKit.Data;

/// <summary>
/// JSONL datasets as PEFT/TRL take them: one JSON object per line, either <c>{"text": …}</c> or
/// <c>{"prompt": …, "completion": …}</c>; other keys (ids, metadata) are ignored.
/// <list type="bullet">
/// <item>A file holds one kind: the first usable line decides, and lines of the other kind are bad lines
/// (TRL too reads one format per dataset).</item>
/// <item>Bad lines: not UTF-8, not JSON, not an object, a repeated key, a field missing, not a string or
/// empty/whitespace-only, both kinds on one line, or the other kind than the file's. Each is reported as
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

    public static Dataset Load(string path, int maxBadLines = 0)
    {
        if (path is null) throw new ArgumentNullException(nameof(path));
        if (maxBadLines < 0) throw new ArgumentOutOfRangeException(nameof(maxBadLines), maxBadLines, "must be ≥ 0");
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
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
                "Fix the lines (each must be {\"text\": \"…\"} or {\"prompt\": \"…\", \"completion\": \"…\"}) or raise maxBadLines to skip them",
                name, bad[0].Line);
        }
        if (examples.Count == 0)
            throw new DataException(
                $"dataset '{name}' has no usable examples" + (bad.Count > 0 ? $" ({bad.Count} bad line(s) skipped)" : " (it is empty or only blank lines)") +
                "; give it lines {\"text\": \"…\"} or {\"prompt\": \"…\", \"completion\": \"…\"}",
                name);
        return new Dataset(name, examples, bad);
    }

    private static string KindName(ExampleKind k) => k == ExampleKind.Text ? "text" : "prompt/completion";

    private static (Example? Example, string? Problem) ParseLine(ReadOnlySpan<byte> line, int lineNo)
    {
        JsonDocument doc;
        try
        {
            if (JsonDuplicateKeys.Find(line) is { } dup && dup.Path.Count == 0)
                return (null, $"key \"{dup.Key}\" appears twice");
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
                return (null, $"not a JSON object ({Describe(root.ValueKind)})");
            var hasText = root.TryGetProperty("text", out var t);
            var hasPrompt = root.TryGetProperty("prompt", out var p);
            var hasCompletion = root.TryGetProperty("completion", out var c);
            if (hasText && (hasPrompt || hasCompletion))
                return (null, "has both \"text\" and \"prompt\"/\"completion\"; a line is one kind or the other");
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
            return (null, $"has neither \"text\" nor \"prompt\"/\"completion\" (keys: {(keys.Length == 0 ? "none" : keys)})");
        }
    }

    private static string? CheckString(JsonElement e, string field)
    {
        if (e.ValueKind != JsonValueKind.String)
            return $"\"{field}\" is {Describe(e.ValueKind)}, not a string";
        return string.IsNullOrWhiteSpace(e.GetString()) ? $"\"{field}\" is empty" : null;
    }

    private static string Describe(JsonValueKind k) => k switch
    {
        JsonValueKind.Array => "an array",
        JsonValueKind.Object => "an object",
        JsonValueKind.Number => "a number",
        JsonValueKind.String => "a string",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        _ => "null",
    };

    private static string FirstSentence(string message)
    {
        var i = message.IndexOf(". ", StringComparison.Ordinal);
        return i < 0 ? message.TrimEnd('.') : message[..i];
    }
}
