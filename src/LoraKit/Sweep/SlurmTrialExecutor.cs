using LoraKit.IO;
using LoraKit.Rules;
using LoraKit.Run;
using LoraKit.Training;

namespace LoraKit.Sweep;

/// <summary>Where and how a Slurm sweep runs: sbatch's options and the folder every node sees.</summary>
public sealed record SlurmOptions
{
    /// <summary>The batch script and the tasks' logs go here; it (and the trials' folders, the data and the trainer) must be visible on every node.</summary>
    public required string SharedDir { get; init; }

    /// <summary>Array tasks at once (`--array=…%P`).</summary>
    public int Parallel { get; init; } = 1;

    public string? Partition { get; init; }
    public string? Gres { get; init; }
    public string? Time { get; init; }
    public string? Account { get; init; }

    /// <summary>More sbatch options, passed through as given (e.g. --mem=16G, --qos=short).</summary>
    public IReadOnlyList<string> ExtraArguments { get; init; } = Array.Empty<string>();

    public string JobName { get; init; } = "lorakit-sweep";
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(2);
}

/// <summary>
/// Runs a sweep's trials as ONE Slurm job array: one batch script whose tasks each run a trial's exact
/// `lorakit train` command line (from <c>commandFor</c>, the same as the local executor's), submitted with
/// `sbatch --array=…%P --parsable`. Progress from squeue and scontrol (a line per state change of a
/// trial); results from each trial's own files (<see cref="TrialFiles"/>); trials that already finished
/// with the same inputs are reused, not resubmitted; cancellation scancels the array; a failed task is
/// reported with its log path and exit code.
/// </summary>
public sealed class SlurmTrialExecutor : ScheduledTrialExecutor
{
    public const string ScriptFileName = "lorakit-sweep.sbatch";

    /// <summary>The <see cref="SchedulerEvent.Scheduler"/> of this executor's events.</summary>
    public const string SchedulerName = "slurm";

    private readonly SlurmOptions _options;
    private readonly SlurmClient _slurm = new();

    public SlurmTrialExecutor(Func<TrialSpec, (string FileName, IReadOnlyList<string> Arguments)> commandFor, string datasetHash, SlurmOptions options)
        : base(commandFor, datasetHash, options.Parallel)
    {
        _options = options;
    }

    /// <summary>The id of the job array this executor submitted last (null when every trial was reused).</summary>
    public string? JobId { get; private set; }

    /// <summary>Submits the pending trials as one job array and follows it until every task ended.</summary>
    private protected override void RunPending(IReadOnlyList<ScheduledTrial> pending, TrialResult?[] results, Action<TrainingEvent> events, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        var shared = Path.GetFullPath(_options.SharedDir);
        Directory.CreateDirectory(shared);
        var scriptPath = Path.Combine(shared, ScriptFileName);
        var sbatchOptions = SbatchOptions(pending, shared);
        var header = new[] { $"# Submitted as: sbatch {string.Join(" ", sbatchOptions.Select(TrialShellScript.Quote))} --parsable {TrialShellScript.Quote(scriptPath)}" };
        var script = TrialShellScript.Write(pending, "SLURM_ARRAY_TASK_ID", Directory.GetCurrentDirectory(), header);
        AtomicFile.WriteAllBytes(scriptPath, Encoding.UTF8.GetBytes(script));
        var jobId = JobId = _slurm.Submit(scriptPath, sbatchOptions);
        events(new SchedulerEvent(SchedulerName, jobId, null, $"submitted Slurm job array {jobId}: {pending.Count} trials, {_options.Parallel} at once ({scriptPath})"));

        var states = new Dictionary<int, string>();
        var failures = new List<string>();
        var open = pending.ToList();
        while (open.Count > 0)
        {
            if (ct.IsCancellationRequested) CancelArray(jobId, events, ct);
            var queued = _slurm.Queue(jobId).ToDictionary(t => t.Index);
            foreach (var t in open.ToList())
            {
                var index = t.Trial.Index;
                var state = queued.TryGetValue(index, out var q) ? q.State : null;
                if (state is not null && (!states.TryGetValue(index, out var before) || before != state))
                {
                    states[index] = state;
                    var where = state == "RUNNING" ? $"on {q!.Reason}" : q!.Reason is "(None)" or "None" ? "" : q.Reason;
                    events(new SchedulerEvent(SchedulerName, $"{jobId}_{index}", state, $"Slurm job {jobId}_{index} {state} {where}".TrimEnd()) { TrialRank = t.Trial.Rank });
                }
                if (state is not null && !SlurmClient.EndStates.Contains(state)) continue;
                // Ended (or no longer listed): scontrol has the exit code and the log, the trial's folder has the result.
                var record = _slurm.Show(jobId, index);
                if (record is not null && !SlurmClient.EndStates.Contains(record.State)) continue;
                open.Remove(t);
                var failure = Finish(t, jobId, record, shared, results, events);
                if (failure is not null) failures.Add(failure);
            }
            if (open.Count > 0 && ct.WaitHandle.WaitOne(_options.PollInterval)) CancelArray(jobId, events, ct);
        }
        if (failures.Count > 0) throw new TrainingException(DiagnosticIds.TrainingFailed, string.Join("; ", failures));
    }

    private List<string> SbatchOptions(IReadOnlyList<ScheduledTrial> pending, string shared)
    {
        var indices = string.Join(",", pending.Select(t => t.Trial.Index.ToString(CultureInfo.InvariantCulture)));
        var options = new List<string>
        {
            $"--array={indices}%{_options.Parallel.ToString(CultureInfo.InvariantCulture)}",
            $"--job-name={_options.JobName}",
            $"--output={Path.Combine(shared, "slurm-%A_%a.out")}",
        };
        if (_options.Partition is { } partition) options.Add($"--partition={partition}");
        if (_options.Gres is { } gres) options.Add($"--gres={gres}");
        if (_options.Time is { } time) options.Add($"--time={time}");
        if (_options.Account is { } account) options.Add($"--account={account}");
        options.AddRange(_options.ExtraArguments);
        return options;
    }

    /// <summary>Collects an ended task: its result from the trial's files, or the reason it failed (null when it succeeded).</summary>
    private static string? Finish(ScheduledTrial t, string jobId, SlurmTaskRecord? record, string shared, TrialResult?[] results, Action<TrainingEvent> events)
    {
        var trial = t.Trial;
        var log = record?.StdOut ?? Path.Combine(shared, $"slurm-{jobId}_{trial.Index.ToString(CultureInfo.InvariantCulture)}.out");
        var finished = TrialFiles.Finished(trial, t.InputsHash);
        if (finished is not null && (record is null || record.State == "COMPLETED"))
        {
            results[trial.Index] = finished;
            events(ScheduledTrials.Done(trial));
            return null;
        }
        var state = record is null ? "no longer known to Slurm" : $"ended {record.State} with exit code {record.ExitCode}";
        var trainer = TrialFiles.LastError(trial.OutputDir) is { } error ? $"; the trainer reported {error}" : "";
        var message = $"the rank {trial.Rank} trial (Slurm job {jobId}_{trial.Index.ToString(CultureInfo.InvariantCulture)}) {state}, without a finished result in {trial.OutputDir}; its log: {log}{trainer}";
        events(new DiagnosticEvent(DiagnosticIds.TrainingFailed, EventSeverity.Error, message) { TrialRank = trial.Rank });
        return message;
    }

    /// <summary>scancel the array, wait (bounded) until squeue lists none of its tasks as pending or running, then stop the sweep.</summary>
    private void CancelArray(string jobId, Action<TrainingEvent> events, CancellationToken ct)
    {
        _slurm.Cancel(jobId);
        events(new SchedulerEvent(SchedulerName, jobId, "CANCELLED", $"cancelled Slurm job array {jobId} (scancel)"));
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (_slurm.Active(jobId).Count > 0 && DateTime.UtcNow < deadline) Thread.Sleep(200);
        ct.ThrowIfCancellationRequested();
    }
}
