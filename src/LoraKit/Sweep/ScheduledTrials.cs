using System.ComponentModel;
using System.Diagnostics;
using LoraKit.Rules;
using LoraKit.Run;
using LoraKit.Training;

namespace LoraKit.Sweep;

/// <summary>One trial of a scheduler array: its exact command line and the hash of its inputs.</summary>
public sealed record ScheduledTrial(TrialSpec Trial, string FileName, IReadOnlyList<string> Arguments, string InputsHash);

/// <summary>What the scheduler executors (Slurm, Kubernetes) share: which trials to submit and the events they report.</summary>
internal static class ScheduledTrials
{
    /// <summary>
    /// Each trial's command line and inputs hash; a trial that already finished with the same inputs is
    /// reused (its result put in <paramref name="results"/>, reported) instead of being submitted again.
    /// Returns the trials still to run.
    /// </summary>
    public static List<ScheduledTrial> Plan(IReadOnlyList<TrialSpec> trials, Func<TrialSpec, (string FileName, IReadOnlyList<string> Arguments)> commandFor,
        string datasetHash, TrialResult?[] results, Action<TrainingEvent> events)
    {
        var pending = new List<ScheduledTrial>();
        foreach (var trial in trials)
        {
            var (file, args) = commandFor(trial);
            var scheduled = new ScheduledTrial(trial, file, args, TrialFiles.InputsHash(file, args, datasetHash));
            if (TrialFiles.Finished(trial, scheduled.InputsHash) is { } done)
            {
                results[trial.Index] = done;
                events(Info(trial, $"reusing the finished trial in {trial.OutputDir} (same inputs); not resubmitted"));
                events(Done(trial));
            }
            else pending.Add(scheduled);
        }
        return pending;
    }

    /// <summary>A progress line about one trial (tagged with the trial's rank).</summary>
    public static TrainingEvent Info(TrialSpec trial, string message) => new InfoEvent(message) { TrialRank = trial.Rank };

    /// <summary>The trial's own "done" event, tagged with its rank (as the local executor reports it).</summary>
    public static TrainingEvent Done(TrialSpec trial) => TrialFiles.DoneEvent(trial.OutputDir)! with { TrialRank = trial.Rank };

    /// <summary>Runs a scheduler's client (sbatch, squeue, kubectl, …) and returns its stdout; a failure is LORA3001 with its stderr, unless <paramref name="allowFailure"/> accepts it.</summary>
    public static string RunTool(string tool, IReadOnlyList<string> arguments, string whereToRun, Func<string, bool>? allowFailure = null)
    {
        using var process = ChildProcess.Start(tool, arguments, whereToRun);
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0 && !(allowFailure?.Invoke(stderr.Result) ?? false))
            throw ChildProcess.Failed($"{tool} {string.Join(" ", arguments)}", process.ExitCode, stderr.Result);
        return stdout;
    }
}

/// <summary>
/// What the scheduler executors (Slurm, Kubernetes) share: each trial's command line, the dataset hash that keys
/// the reuse of finished trials, and <see cref="Run"/> — plan, run what is left, gather the results.
/// </summary>
public abstract class ScheduledTrialExecutor : ITrialExecutor
{
    private protected ScheduledTrialExecutor(Func<TrialSpec, (string FileName, IReadOnlyList<string> Arguments)> commandFor, string datasetHash, int parallel)
    {
        if (parallel < 1) throw new ArgumentOutOfRangeException("options", "--parallel must be at least 1");
        CommandFor = commandFor;
        DatasetHash = datasetHash;
    }

    private protected Func<TrialSpec, (string FileName, IReadOnlyList<string> Arguments)> CommandFor { get; }
    private protected string DatasetHash { get; }

    public IReadOnlyList<TrialResult> Run(IReadOnlyList<TrialSpec> trials, Action<TrainingEvent> events, CancellationToken cancellationToken)
    {
        var results = new TrialResult?[trials.Count];
        var pending = ScheduledTrials.Plan(trials, CommandFor, DatasetHash, results, events);
        if (pending.Count > 0) RunPending(pending, results, events, cancellationToken);
        return results.Select(r => r!).ToList();
    }

    /// <summary>Submits the trials not reused and fills in their results as they finish.</summary>
    private protected abstract void RunPending(IReadOnlyList<ScheduledTrial> pending, TrialResult?[] results, Action<TrainingEvent> events, CancellationToken ct);
}

/// <summary>A child process with its output read: a trial's `lorakit train`, a scheduler's client.</summary>
internal static class ChildProcess
{
    /// <summary>Starts <paramref name="file"/> with stdout and stderr redirected; one that cannot be started is LORA3001 saying <paramref name="whereToRun"/>.</summary>
    public static Process Start(string file, IEnumerable<string> arguments, string whereToRun, IReadOnlyDictionary<string, string>? environment = null)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in arguments) psi.ArgumentList.Add(a);
        if (environment is not null)
            foreach (var (name, value) in environment) psi.Environment[name] = value;
        try
        {
            return Process.Start(psi) ?? throw new Win32Exception($"could not start {file}");
        }
        catch (Win32Exception e)
        {
            throw new TrainingException(DiagnosticIds.TrainingFailed, $"{file} could not be run ({e.Message}): {whereToRun}", e);
        }
    }

    /// <summary>A process that exited with a non-zero code: LORA3001 naming what ran, the code and its stderr.</summary>
    public static TrainingException Failed(string what, int exitCode, string stderr) =>
        new(DiagnosticIds.TrainingFailed, $"{what} exited with code {exitCode}: {stderr.Trim()}");
}
