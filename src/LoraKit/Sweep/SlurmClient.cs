using System.Text.RegularExpressions;
using LoraKit.Rules;
using LoraKit.Training;

namespace LoraKit.Sweep;

/// <summary>A task of a job array as `squeue` lists it: its state and, while it waits, why (the node once it runs).</summary>
public sealed record SlurmQueuedTask(int Index, string State, string Reason);

/// <summary>A task as `scontrol show job` records it, also after it ended (for MinJobAge seconds).</summary>
public sealed record SlurmTaskRecord(int Index, string State, string ExitCode, string? StdOut, string? Node);

/// <summary>
/// Slurm's own clients: sbatch, squeue, scontrol, scancel (which read SLURM_CONF like any Slurm command).
/// No sacct: a plain one-node install has no accounting daemon, and squeue + scontrol are enough.
/// </summary>
public sealed class SlurmClient
{
    /// <summary>The states a job never leaves (Slurm's job_state_string values).</summary>
    public static readonly IReadOnlySet<string> EndStates = new HashSet<string>(StringComparer.Ordinal)
    {
        "COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "PREEMPTED", "BOOT_FAIL", "DEADLINE",
    };

    /// <summary>Submits the script with these sbatch options (`--parsable` added) and returns the job id.</summary>
    public string Submit(string scriptPath, IEnumerable<string> options)
    {
        var output = Run("sbatch", options.Prepend("--parsable").Append(scriptPath).ToList());
        var id = output.Trim().Split(';')[0];
        if (!Regex.IsMatch(id, "^[0-9]+$"))
            throw new TrainingException(DiagnosticIds.TrainingFailed, $"sbatch --parsable answered '{output.Trim()}' instead of a job id");
        return id;
    }

    /// <summary>The tasks of the array `squeue` still lists, one per task (-r), including recently ended ones.</summary>
    public IReadOnlyList<SlurmQueuedTask> Queue(string jobId)
    {
        var output = Run("squeue", new[] { "-h", "-r", "--states=all", "-j", jobId, "-o", "%K|%T|%R" }, allowFailure: InvalidJob);
        var tasks = new List<SlurmQueuedTask>();
        foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var parts = line.Split('|');
            if (parts.Length == 3 && int.TryParse(parts[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out var index))
                tasks.Add(new SlurmQueuedTask(index, parts[1], parts[2]));
        }
        return tasks;
    }

    /// <summary>Jobs of the array still pending or running (what a cancelled sweep must leave at zero).</summary>
    public IReadOnlyList<SlurmQueuedTask> Active(string jobId) => Queue(jobId).Where(t => !EndStates.Contains(t.State)).ToList();

    /// <summary>`scontrol show job <id>_<index>`, or null once Slurm has forgotten the task.</summary>
    public SlurmTaskRecord? Show(string jobId, int index)
    {
        var output = Run("scontrol", new[] { "show", "job", "-o", $"{jobId}_{index.ToString(CultureInfo.InvariantCulture)}" }, allowFailure: InvalidJob);
        var line = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault(l => l.Contains("JobState=", StringComparison.Ordinal));
        if (line is null) return null;
        string? Field(string key) => Regex.Match(line, $"(?:^|\\s){key}=(\\S*)") is { Success: true } m ? m.Groups[1].Value : null;
        return new SlurmTaskRecord(index, Field("JobState") ?? "UNKNOWN", Field("ExitCode") ?? "?", Field("StdOut"), Field("NodeList"));
    }

    public void Cancel(string jobId) => Run("scancel", new[] { jobId });

    private static bool InvalidJob(string stderr) => stderr.Contains("Invalid job id", StringComparison.OrdinalIgnoreCase);

    private static string Run(string tool, IReadOnlyList<string> arguments, Func<string, bool>? allowFailure = null) =>
        ScheduledTrials.RunTool(tool, arguments, "run a Slurm sweep where Slurm's clients are on PATH (a login node), or use --executor local", allowFailure);
}
