using System.Security.Cryptography;
using LoraKit.Run;

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
    public static DoneEvent? DoneEvent(string outputDir) => LastEvent<DoneEvent>(outputDir, _ => true);

    /// <summary>The message of the trial's last error diagnostic (what `lorakit train` reported before it failed), or null.</summary>
    public static string? LastError(string outputDir) =>
        LastEvent<DiagnosticEvent>(outputDir, d => d.Severity == EventSeverity.Error) is { } d ? $"{d.Code}: {d.Message}" : null;

    /// <summary>
    /// The one mapping from a trial's "done" event to its result (trial time = the trial's own measured
    /// training time, not time spent queued or loading); every executor that reads child events uses it.
    /// </summary>
    public static TrialResult ToResult(TrialSpec trial, DoneEvent done) =>
        new(trial.Rank, trial.Alpha, done.ValidationLoss, done.BaseValidationLoss, done.Seconds, done.TokensPerSecond,
            done.TrainableParameters, done.PeakMemoryBytes, trial.OutputDir, done.Stopped);

    /// <summary>The last event of type <typeparamref name="T"/> matching <paramref name="keep"/>, read with the run contract's one serializer.</summary>
    private static T? LastEvent<T>(string outputDir, Func<T, bool> keep) where T : TrainingEvent
    {
        var path = Path.Combine(outputDir, EventsFileName);
        if (!File.Exists(path)) return null;
        T? last = null;
        // A line cut short by a killed task is not an event: TryRead says no.
        foreach (var line in File.ReadLines(path))
            if (TrainingEventJson.TryRead(line, out var e) && e is T t && keep(t)) last = t;
        return last;
    }
}
