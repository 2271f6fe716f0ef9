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
        var psi = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in arguments) psi.ArgumentList.Add(a);
        Process process;
        try
        {
            process = Process.Start(psi) ?? throw new Win32Exception($"could not start {tool}");
        }
        catch (Win32Exception e)
        {
            throw new TrainingException(DiagnosticIds.TrainingFailed, $"{tool} could not be run ({e.Message}): {whereToRun}", e);
        }
        using (process)
        {
            var stderr = process.StandardError.ReadToEndAsync();
            var stdout = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            if (process.ExitCode != 0 && !(allowFailure?.Invoke(stderr.Result) ?? false))
                throw new TrainingException(DiagnosticIds.TrainingFailed,
                    $"{tool} {string.Join(" ", arguments)} exited with code {process.ExitCode}: {stderr.Result.Trim()}");
            return stdout;
        }
    }
}
