using System.Text.Json;

namespace LoraKit.IO;

/// <summary>
/// <see cref="JsonDocument"/> accepts objects with repeated keys (the last one wins when looked up,
/// both are enumerated), and strings that are not text (invalid UTF-8, a lone UTF-16 surrogate escape such as
/// <c>"\ud800"</c>) until someone reads them. Untrusted JSON must not: this walks it once with
/// <see cref="Utf8JsonReader"/>, decodes every key and string, and reports the first repeated key and the keys
/// enclosing it.
/// </summary>
internal static class JsonDuplicateKeys
{
    /// <summary>A repeated key: <paramref name="Path"/> are the enclosing object keys, outermost first; <paramref name="Line"/> 1-based.</summary>
    internal readonly record struct Duplicate(string Key, IReadOnlyList<string> Path, int Line = 0);

    /// <summary>Returns the first repeated key, or null. Throws <see cref="JsonException"/> for invalid JSON, a string that is not text, or nesting deeper than 64.</summary>
    public static Duplicate? Find(ReadOnlySpan<byte> utf8Json)
    {
        var reader = new Utf8JsonReader(utf8Json, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow });
        // One frame per open container; objects carry their key set, arrays null.
        var frames = new Stack<HashSet<string>?>();
        // The key under which each open container sits (null for array elements and the root).
        var owners = new Stack<string?>();
        string? pendingKey = null;
        while (reader.Read())
        {
            switch (reader.TokenType)
            {
                case JsonTokenType.StartObject:
                case JsonTokenType.StartArray:
                    owners.Push(pendingKey);
                    pendingKey = null;
                    frames.Push(reader.TokenType == JsonTokenType.StartObject ? new HashSet<string>(StringComparer.Ordinal) : null);
                    break;
                case JsonTokenType.EndObject:
                case JsonTokenType.EndArray:
                    frames.Pop();
                    owners.Pop();
                    pendingKey = null;
                    break;
                case JsonTokenType.PropertyName:
                    var key = Text(ref reader, utf8Json, "a key");
                    if (!frames.Peek()!.Add(key))
                    {
                        var path = new List<string>();
                        foreach (var owner in owners)
                        {
                            if (owner is not null) path.Add(owner);
                        }
                        path.Reverse();
                        return new Duplicate(key, path, LineOf(utf8Json, reader.TokenStartIndex) + 1);
                    }
                    pendingKey = key;
                    break;
                case JsonTokenType.String:
                    Text(ref reader, utf8Json, "a string");
                    pendingKey = null;
                    break;
                default:
                    pendingKey = null;
                    break;
            }
        }
        return null;
    }

    /// <summary>The token's text; a token that is not text (invalid UTF-8, a lone surrogate escape) is a <see cref="JsonException"/> with its line.</summary>
    private static string Text(ref Utf8JsonReader reader, ReadOnlySpan<byte> utf8Json, string what)
    {
        try
        {
            return reader.GetString()!;
        }
        catch (InvalidOperationException)
        {
            var line = LineOf(utf8Json, reader.TokenStartIndex);
            throw new JsonException(
                $"{what} is not text: invalid UTF-8, or a \\u escape of a lone UTF-16 surrogate (such as \\ud800), which is no character; " +
                "write the character itself or a valid surrogate pair", null, line, null);
        }
    }

    /// <summary>0-based line of a byte offset (System.Text.Json counts lines from 0).</summary>
    internal static int LineOf(ReadOnlySpan<byte> utf8Json, long offset)
    {
        var line = 0;
        var end = (int)Math.Min(offset, utf8Json.Length);
        for (var i = 0; i < end; i++)
            if (utf8Json[i] == (byte)'\n') line++;
        return line;
    }
}
