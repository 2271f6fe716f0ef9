using System.Text.Json;

namespace LoraKit.IO;

/// <summary>
/// <see cref="JsonDocument"/> accepts objects with repeated keys (the last one wins when looked up,
/// both are enumerated). Untrusted headers must not: this walks the JSON once with
/// <see cref="Utf8JsonReader"/> and reports the first repeated key and the keys enclosing it.
/// </summary>
internal static class JsonDuplicateKeys
{
    /// <summary>A repeated key: <paramref name="Path"/> are the enclosing object keys, outermost first.</summary>
    internal readonly record struct Duplicate(string Key, IReadOnlyList<string> Path);

    /// <summary>Returns the first repeated key, or null. Throws <see cref="JsonException"/> for invalid JSON.</summary>
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
                    var key = reader.GetString()!;
                    if (!frames.Peek()!.Add(key))
                    {
                        var path = new List<string>();
                        foreach (var owner in owners)
                        {
                            if (owner is not null) path.Add(owner);
                        }
                        path.Reverse();
                        return new Duplicate(key, path);
                    }
                    pendingKey = key;
                    break;
                default:
                    pendingKey = null;
                    break;
            }
        }
        return null;
    }
}
