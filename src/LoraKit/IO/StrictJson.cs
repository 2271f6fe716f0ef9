using System.Text.Json;
using System.Text.Json.Nodes;

namespace LoraKit.IO;

/// <summary>
/// The one way LoraKit reads a JSON file someone else wrote (tokenizer.json, tokenizer_config.json,
/// generation_config.json, quantization configs, lock files): a regular file within a size limit
/// (<see cref="InputFile"/>), well-formed JSON without comments or trailing commas, no key twice in any object at
/// any depth, every key and string valid text (<see cref="JsonDuplicateKeys"/>). Every failure is a
/// <see cref="JsonException"/> (its <see cref="JsonException.LineNumber"/> 0-based, as System.Text.Json counts) or an
/// <see cref="InputFileException"/>, so callers turn both into their own error naming the file.
/// </summary>
public static class StrictJson
{
    /// <summary>Reads <paramref name="path"/> (at most <paramref name="maxBytes"/>) and parses it strictly.</summary>
    public static JsonDocument ReadFile(string path, long maxBytes, string what) => Parse(InputFile.ReadAllBytes(path, maxBytes, what));

    /// <summary>Like <see cref="ReadFile"/>, as a mutable <see cref="JsonNode"/>.</summary>
    public static JsonNode? ReadNode(string path, long maxBytes, string what)
    {
        var bytes = InputFile.ReadAllBytes(path, maxBytes, what);
        Check(bytes);
        return JsonNode.Parse(bytes);
    }

    /// <summary>Parses <paramref name="utf8"/> strictly.</summary>
    public static JsonDocument Parse(ReadOnlyMemory<byte> utf8)
    {
        Check(utf8.Span);
        return JsonDocument.Parse(utf8, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Disallow });
    }

    /// <summary>Throws <see cref="JsonException"/> for invalid JSON, a string that is not text, or a key twice in one object.</summary>
    public static void Check(ReadOnlySpan<byte> utf8)
    {
        if (JsonDuplicateKeys.Find(utf8) is { } dup)
        {
            var where = dup.Path.Count > 0 ? $" in \"{string.Join("\" › \"", dup.Path)}\"" : "";
            throw new JsonException($"the key \"{dup.Key}\" appears twice{where} (line {dup.Line}); readers disagree on which one counts, so keep one",
                null, dup.Line - 1, null);
        }
    }

    /// <summary>"line 3: problem" of a <see cref="JsonException"/>, without System.Text.Json's "Path: … | LineNumber: …" tail.</summary>
    public static string Describe(JsonException e)
    {
        var message = e.Message;
        var cut = message.IndexOf(" Path: ", StringComparison.Ordinal);
        if (cut < 0) cut = message.IndexOf(" LineNumber: ", StringComparison.Ordinal);
        if (cut > 0) message = message[..cut];
        return e.LineNumber is { } line ? $"line {line + 1}: {message.TrimEnd('.', ' ')}" : message.TrimEnd('.', ' ');
    }
}
