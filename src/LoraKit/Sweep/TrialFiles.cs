using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace LoraKit.Sweep;

/// <summary>
/// What a trial leaves in its own output folder when a scheduler (Slurm, Kubernetes) runs it: its event
/// stream (`lorakit train --events json` on stdout, redirected to <see cref="EventsFileName"/>; the last
/// line is the "done" event with the trial's measured validation loss and training time) and, once it
/// finished, the hash of its inputs (<see cref="InputsHashFileName"/>), so a re-run reuses it instead of
/// submitting it again. Results are read from these files, never from the scheduler's own bookkeeping.
/// </summary>
public static class TrialFiles
{
    public const string EventsFileName = "events.jsonl";
    public const string InputsHashFileName = "trial-inputs.sha256";

    /// <summary>SHA-256 of everything that decides a trial's result: its full command line and the dataset's content hash.</summary>
    public static string InputsHash(string fileName, IReadOnlyList<string> arguments, string datasetHash)
    {
        var text = string.Join("\0", new[] { fileName }.Concat(arguments).Append(datasetHash));
        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text))).ToLowerInvariant();
    }

    /// <summary>The trial's result when it finished with exactly these inputs, else null (never ran, failed, or other inputs).</summary>
    public static TrialResult? Finished(TrialSpec trial, string inputsHash)
    {
        var hashPath = Path.Combine(trial.OutputDir, InputsHashFileName);
        if (!File.Exists(hashPath) || File.ReadAllText(hashPath).Trim() != inputsHash) return null;
        return DoneEvent(trial.OutputDir) is { } done ? ToResult(trial, done) : null;
    }

    /// <summary>The last "done" event of the trial's event stream, or null when it has none.</summary>
    public static JsonElement? DoneEvent(string outputDir) => LastEvent(outputDir, "done");

    /// <summary>The message of the trial's last error diagnostic (what `lorakit train` reported before it failed), or null.</summary>
    public static string? LastError(string outputDir) =>
        LastEvent(outputDir, "diagnostic") is { } d && d.TryGetProperty("code", out var code) && d.TryGetProperty("message", out var message)
            ? $"{code.GetString()}: {message.GetString()}"
            : null;

    /// <summary>
    /// The one mapping from a trial's "done" event to its result (trial time = the trial's own measured
    /// training time, not time spent queued or loading); every executor that reads child events uses it.
    /// </summary>
    public static TrialResult ToResult(TrialSpec trial, JsonElement done)
    {
        double Num(string name) => done.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : double.NaN;
        return new TrialResult(trial.Rank, trial.Alpha, Num("val_loss"), Num("base_val_loss"), Num("seconds"), Num("tokens_per_s"),
            (long)Num("trainable_parameters"), (long)Num("peak_memory_bytes"), trial.OutputDir,
            done.TryGetProperty("stopped", out var s) && s.ValueKind == JsonValueKind.String ? s.GetString() : null);
    }

    private static JsonElement? LastEvent(string outputDir, string kind)
    {
        var path = Path.Combine(outputDir, EventsFileName);
        if (!File.Exists(path)) return null;
        JsonElement? last = null;
        foreach (var line in File.ReadLines(path))
        {
            if (!line.StartsWith('{')) continue;
            try
            {
                using var doc = JsonDocument.Parse(line);
                if (doc.RootElement.TryGetProperty("event", out var e) && e.GetString() == kind) last = doc.RootElement.Clone();
            }
            catch (JsonException)
            {
                // A line cut short by a killed task: not an event.
            }
        }
        return last;
    }
}
