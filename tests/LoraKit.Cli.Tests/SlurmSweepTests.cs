using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Threading;
using System.Threading.Tasks;
using LoraKit.Rules;
using LoraKit.Run;
using LoraKit.Sweep;
using LoraKit.Training;
using Xunit;

namespace LoraKit.Cli.Tests;

/// <summary>
/// A real one-node Slurm (Debian's slurm-wlm: munge, slurmctld, slurmd) started by eng/slurm.sh for these
/// tests and stopped after them. Where it cannot start (not root, no package, a daemon that will not come
/// up) every test of the collection fails with the script's own reason: nothing is skipped.
/// </summary>
public sealed class SlurmFixture : IDisposable
{
    public SlurmFixture()
    {
        RepoRoot = FindRepoRoot();
        var (code, output) = Script("start");
        if (code != 0)
            StartError = $"eng/slurm.sh start failed with exit code {code} (a local Slurm needs root and Debian's slurm-wlm + munge): {output.Trim()}";
        // Slurm's clients read their configuration from SLURM_CONF; the sweep's child tools inherit it.
        var (_, env) = Script("env");
        Environment.SetEnvironmentVariable("SLURM_CONF", Regex.Match(env, "SLURM_CONF=(\\S+)").Groups[1].Value);
        JobCompLog = Path.Combine(Path.GetDirectoryName(Environment.GetEnvironmentVariable("SLURM_CONF"))!, "jobcomp.log");
    }

    public string RepoRoot { get; }
    public string? StartError { get; }
    public string JobCompLog { get; }

    /// <summary>Fails the calling test with the reason when Slurm did not start.</summary>
    public void EnsureUp() => Assert.True(StartError is null, StartError);

    public void Dispose() => Script("stop");

    /// <summary>Runs a Slurm client directly (not through LoraKit's SlurmClient), for checks independent of the code under test.</summary>
    public static string Client(string tool, params string[] args)
    {
        var psi = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return stdout;
    }

    private (int Code, string Output) Script(string verb)
    {
        var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = RepoRoot };
        psi.ArgumentList.Add(Path.Combine(RepoRoot, "eng", "slurm.sh"));
        psi.ArgumentList.Add(verb);
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(TimeSpan.FromMinutes(10))) p.Kill(entireProcessTree: true);
        p.WaitForExit();
        return (p.ExitCode, stdout + stderr.Result);
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "eng", "slurm.sh"))) return dir.FullName;
        throw new InvalidOperationException($"no eng/slurm.sh above {AppContext.BaseDirectory}: the Slurm tests run from the repository's build output");
    }
}

[CollectionDefinition("Slurm")]
public sealed class SlurmCollection : ICollectionFixture<SlurmFixture>
{
}

[Collection("Slurm")]
[Trait("Category", "Slurm")]
public sealed class SlurmSweepTests
{
    private readonly SlurmFixture _slurm;

    public SlurmSweepTests(SlurmFixture slurm)
    {
        _slurm = slurm;
        _slurm.EnsureUp();
    }

    private static string Temp() => Path.Combine(Path.GetTempPath(), "lorakit-slurm-tests", Guid.NewGuid().ToString("N"));

    /// <summary>The builtin model and data with tiny step counts; the same options for both executors.</summary>
    private static readonly string[] TinySweep =
    {
        "--ranks", "2,4,8", "--max-steps", "4", "--lr", "3e-3", "--seq-len", "32", "--batch-size", "8", "--eval-every", "0", "--device", "cpu",
        "--parallel", "2", "--events", "json",
    };

    private static List<JsonElement> Events(string stdout) =>
        stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();

    private static Dictionary<int, double> TrialLosses(IEnumerable<JsonElement> events) =>
        events.Where(e => e.GetProperty("event").GetString() == "done" && e.TryGetProperty("trial_rank", out _))
            .ToDictionary(e => e.GetProperty("trial_rank").GetInt32(), e => e.GetProperty("val_loss").GetDouble());

    [Fact]
    public void A_three_rank_sweep_through_a_slurm_job_array_matches_the_local_executor_and_is_reused_on_rerun()
    {
        var root = Temp();
        var slurmOut = Path.Combine(root, "slurm");
        var slurmLock = Path.Combine(root, "slurm.lock.json");
        var r = CliRunner.Run(new[] { "sweep", "--executor", "slurm", "--out", slurmOut, "--lock", slurmLock, "--slurm-arg=--comment=lorakit-test" }.Concat(TinySweep).ToArray());
        Assert.True(r.ExitCode == 0, r.Out + r.Err);
        var events = Events(r.Out);

        // One array, three tasks, and Slurm's own record of them (jobcomp/filetxt and scontrol, not LoraKit's files).
        var submitted = events.Where(e => e.GetProperty("event").GetString() == "scheduler" && e.GetProperty("scheduler").GetString() == "slurm" && !e.TryGetProperty("trial_rank", out _)).ToList();
        var jobId = Assert.Single(submitted).GetProperty("job").GetString()!;
        var script = File.ReadAllText(Path.Combine(slurmOut, SlurmTrialExecutor.ScriptFileName));
        Assert.Contains("--array=0,1,2%2", script);
        var recorded = File.ReadAllLines(_slurm.JobCompLog).Where(l => l.Contains($" ArrayJobId={jobId} ", StringComparison.Ordinal)).ToList();
        Assert.Equal(new[] { "0", "1", "2" }, recorded.Select(l => Regex.Match(l, "ArrayTaskId=(\\d+)").Groups[1].Value).OrderBy(x => x));
        Assert.All(recorded, l => Assert.Contains("JobState=COMPLETED", l));
        var shown = SlurmFixture.Client("scontrol", "show", "job", "-o", jobId).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, shown.Count(l => l.Contains("JobState=COMPLETED", StringComparison.Ordinal)));
        Assert.All(shown, l => Assert.Contains("Comment=lorakit-test", l)); // --slurm-arg passed through to sbatch
        foreach (var rank in new[] { 2, 4, 8 })
        {
            // A line per state change of each trial, ending COMPLETED, and the task's log in the shared folder.
            Assert.Contains(events, e => e.GetProperty("event").GetString() == "scheduler" && e.TryGetProperty("state", out var s) && s.GetString() == "COMPLETED" && e.GetProperty("trial_rank").GetInt32() == rank);
            Assert.True(File.Exists(Path.Combine(slurmOut, $"rank-{rank}", "adapter_model.safetensors")));
        }
        Assert.Equal(3, Directory.GetFiles(slurmOut, $"slurm-{jobId}_*.out").Length);

        // The same choice machinery as a local sweep: report, plot, lock file.
        var report = File.ReadAllText(Path.Combine(slurmOut, SweepRunner.ReportFileName));
        foreach (var rank in new[] { 2, 4, 8 }) Assert.Matches($"\\n\\| {rank}( \\*\\*\\(chosen\\)\\*\\*)? \\|", report);
        Assert.True(File.Exists(Path.Combine(slurmOut, SweepRunner.PlotFileName)));
        var locked = LoraLock.Parse(File.ReadAllText(slurmLock), slurmLock).Find("adapter");
        Assert.NotNull(locked);
        Assert.Contains(locked!.Rank, new[] { 2, 4, 8 });

        // Bit for bit the local executor's validation losses (same inputs, same seed, CPU).
        var local = CliRunner.Run(new[] { "sweep", "--out", Path.Combine(root, "local"), "--lock", Path.Combine(root, "local.lock.json") }.Concat(TinySweep).ToArray());
        Assert.True(local.ExitCode == 0, local.Out + local.Err);
        var slurmLosses = TrialLosses(events);
        var localLosses = TrialLosses(Events(local.Out));
        Assert.Equal(new[] { 2, 4, 8 }, slurmLosses.Keys.OrderBy(k => k));
        foreach (var (rank, loss) in localLosses)
            Assert.True(BitConverter.DoubleToInt64Bits(loss) == BitConverter.DoubleToInt64Bits(slurmLosses[rank]), $"rank {rank}: local {loss:R}, slurm {slurmLosses[rank]:R}");

        // Re-running reuses the three finished trials: nothing is submitted, the results are the same.
        var again = CliRunner.Run(new[] { "sweep", "--executor", "slurm", "--out", slurmOut, "--lock", slurmLock, "--slurm-arg=--comment=lorakit-test" }.Concat(TinySweep).ToArray());
        Assert.True(again.ExitCode == 0, again.Out + again.Err);
        var againEvents = Events(again.Out);
        Assert.DoesNotContain(againEvents, e => e.GetProperty("event").GetString() == "scheduler");
        Assert.Equal(3, againEvents.Count(e => e.TryGetProperty("message", out var m) && m.GetString()!.StartsWith("reusing the finished trial", StringComparison.Ordinal)));
        Assert.Equal(slurmLosses, TrialLosses(againEvents));
    }

    private static TrialSpec Trial(string root, int index, int rank) =>
        new(index, rank, 2.0 * rank, Path.Combine(root, $"rank-{rank}"), new[] { "q_proj" }, 0, new TrainingOptions());

    [Fact]
    public void A_failed_task_is_reported_with_its_log_path_and_exit_code()
    {
        var root = Temp();
        var executor = new SlurmTrialExecutor(_ => ("bash", new[] { "-c", "echo 'the trainer broke' >&2; exit 3" }), "data-hash",
            new SlurmOptions { SharedDir = root, PollInterval = TimeSpan.FromMilliseconds(300) });
        var e = Assert.Throws<TrainingException>(() => executor.Run(new[] { Trial(root, 0, 4) }, _ => { }, CancellationToken.None));
        Assert.Equal(DiagnosticIds.TrainingFailed, e.Code);
        var log = Path.Combine(root, $"slurm-{executor.JobId}_0.out");
        Assert.Contains("ended FAILED with exit code 3:0", e.Message);
        Assert.Contains($"its log: {log}", e.Message);
        Assert.Contains("the trainer broke", File.ReadAllText(log));
        Assert.False(File.Exists(Path.Combine(root, "rank-4", TrialFiles.InputsHashFileName))); // a failed trial is never reused
    }

    [Fact]
    public void Cancelling_the_sweep_scancels_the_array_and_leaves_no_job_in_squeue()
    {
        var root = Temp();
        var executor = new SlurmTrialExecutor(_ => ("sleep", new[] { "300" }), "data-hash",
            new SlurmOptions { SharedDir = root, Parallel = 1, PollInterval = TimeSpan.FromMilliseconds(300) });
        using var cancel = new CancellationTokenSource();
        var running = new ManualResetEventSlim();
        var trials = new[] { Trial(root, 0, 2), Trial(root, 1, 4), Trial(root, 2, 8) };
        var run = Task.Run(() => executor.Run(trials, e =>
        {
            if (e is SchedulerEvent { State: "RUNNING" }) running.Set();
        }, cancel.Token));
        Assert.True(running.Wait(TimeSpan.FromMinutes(2)), "no task of the array started running within 2 minutes");
        cancel.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => run.GetAwaiter().GetResult());
        Assert.NotNull(executor.JobId);
        Assert.Equal("", SlurmFixture.Client("squeue", "-h", "-r", "-j", executor.JobId!, "-t", "PENDING,RUNNING,CONFIGURING,COMPLETING,SUSPENDED").Trim());
        Assert.Contains("JobState=CANCELLED", SlurmFixture.Client("scontrol", "show", "job", "-o", executor.JobId!));
    }
}
