using System.Text.Json;
using LoraKit.IO;
using LoraKit.Data;
using LoraKit.Modeling;

namespace LoraKit.Inference;

/// <summary>
/// The ids that end generation, where transformers takes them: <c>eos_token_id</c> (a number or a list) of
/// <c>generation_config.json</c>, else of <c>config.json</c>, else the tokenizer's end-of-sequence token.
/// </summary>
public static class EosTokens
{
    public const string GenerationConfigFileName = "generation_config.json";
    public const string Key = "eos_token_id";

    public static IReadOnlyList<int> Of(string modelFolder, ILoraTokenizer tokenizer)
    {
        foreach (var file in new[] { GenerationConfigFileName, HfCheckpoint.ConfigFileName })
        {
            var path = Path.Combine(modelFolder, file);
            if (!File.Exists(path)) continue;
            var ids = Read(path);
            if (ids is not null) return ids;
        }
        return tokenizer.EosId is int eos ? new[] { eos } : Array.Empty<int>();
    }

    /// <summary>The file's eos_token_id as a list; null when absent or null. Throws <see cref="InvalidDataException"/> naming the file and key when it is neither a number nor a list of numbers.</summary>
    public static IReadOnlyList<int>? Read(string path)
    {
        JsonDocument doc;
        try
        {
            doc = StrictJson.ReadFile(path, InputLimits.JsonFileBytes, "generation config");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path} is not valid JSON ({StrictJson.Describe(e)}); restore the file from the model's source", e);
        }
        using var _ = doc;
        if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty(Key, out var value) || value.ValueKind == JsonValueKind.Null)
            return null;
        var ids = new List<int>();
        IEnumerable<JsonElement> items = value.ValueKind == JsonValueKind.Array ? value.EnumerateArray() : new[] { value };
        foreach (var item in items)
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt32(out var id)) throw Bad(path, value);
            ids.Add(id);
        }
        return ids;
    }

    private static InvalidDataException Bad(string path, JsonElement value) =>
        new InvalidDataException($"{path}: \"{Key}\" must be a token id or a list of token ids, not {value.GetRawText()}; fix the file or remove the key");
}
