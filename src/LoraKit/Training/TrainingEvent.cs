using System.Collections.Generic;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace LoraKit.Training;

/// <summary>
/// One event of a training run, written as one JSON object per line with `--events json` for the
/// MSBuild task: start, step, eval, diagnostic (with a LORA code), checkpoint, done.
/// </summary>
public sealed record TrainingEvent(string Event, IReadOnlyDictionary<string, object?> Data)
{
    public static TrainingEvent Diagnostic(string code, string severity, string message) =>
        new("diagnostic", new Dictionary<string, object?> { ["code"] = code, ["severity"] = severity, ["message"] = message });

    public string? Code => Data.TryGetValue("code", out var c) ? c as string : null;
    public string? Severity => Data.TryGetValue("severity", out var s) ? s as string : null;
    public string? Message => Data.TryGetValue("message", out var m) ? m as string : null;

    // Relaxed escaping keeps "≥", "<" and quotes readable in logs and the MSBuild output; the text is never embedded in HTML.
    private static readonly JsonSerializerOptions Json = new()
    {
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public string ToJson()
    {
        var doc = new Dictionary<string, object?>(Data.Count + 1) { ["event"] = Event };
        foreach (var kv in Data) doc[kv.Key] = kv.Value;
        return JsonSerializer.Serialize(doc, Json);
    }
}
