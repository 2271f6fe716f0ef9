using LoraKit.Run;

namespace LoraKit.Sweep;

/// <summary>
/// Runs each trial as its own `lorakit train --events json` process, up to <c>parallel</c> at once; with
/// several GPUs each concurrent trial gets its own (CUDA_VISIBLE_DEVICES). The command line of a trial
/// comes from <c>commandFor</c>, so a cluster executor can submit the very same commands as a job array.
/// </summary>
public sealed class ProcessTrialExecutor : ITrialExecutor
{
    private readonly Func<TrialSpec, (string FileName, IReadOnlyList<string> Arguments)> _commandFor;
    private readonly int _parallel;
    private readonly IReadOnlyList<int>? _gpus;

    public ProcessTrialExecutor(Func<TrialSpec, (string FileName, IReadOnlyList<string> Arguments)> commandFor, int parallel = 1, IReadOnlyList<int>? gpus = null)
    {
        if (parallel < 1) throw new ArgumentOutOfRangeException(nameof(parallel));
        _commandFor = commandFor;
        _parallel = gpus is { Count: > 0 } ? Math.Min(parallel, gpus.Count) : parallel;
        _gpus = gpus;
    }

    public IReadOnlyList<TrialResult> Run(IReadOnlyList<TrialSpec> trials, Action<TrainingEvent> events, CancellationToken cancellationToken)
    {
        var results = new TrialResult?[trials.Count];
        var slots = new SemaphoreSlim(_parallel);
        var freeGpus = new Queue<int>(_gpus ?? Array.Empty<int>());
        var gate = new object();
        var tasks = trials.Select(trial => Task.Run(() =>
        {
            slots.Wait(cancellationToken);
            int? gpu = null;
            lock (gate)
                if (freeGpus.Count > 0) gpu = freeGpus.Dequeue();
            try
            {
                results[trial.Index] = RunOne(trial, gpu, e => { lock (gate) events(e); }, cancellationToken);
            }
            finally
            {
                lock (gate)
                    if (gpu is { } g) freeGpus.Enqueue(g);
                slots.Release();
            }
        }, cancellationToken)).ToArray();
        Task.WaitAll(tasks, cancellationToken);
        return results.Select(r => r!).ToList();
    }

    private TrialResult RunOne(TrialSpec trial, int? gpu, Action<TrainingEvent> events, CancellationToken ct)
    {
        var (file, args) = _commandFor(trial);
        var environment = gpu is { } g ? new Dictionary<string, string> { ["CUDA_VISIBLE_DEVICES"] = g.ToString(CultureInfo.InvariantCulture) } : null;
        using var process = ChildProcess.Start(file, args, "each sweep trial runs as its own `lorakit train` process; give --in-process to train the trials in this process", environment);
        using var registration = ct.Register(() =>
        {
            try
            {
                process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
            }
        });
        var stderr = process.StandardError.ReadToEndAsync(ct);
        DoneEvent? done = null;
        string? line;
        while ((line = process.StandardOutput.ReadLine()) is not null)
        {
            if (!TrainingEventJson.TryRead(line, out var e)) continue;
            e = e! with { TrialRank = trial.Rank };
            if (e is DoneEvent d) done = d;
            // Per-step lines of concurrent trials would interleave; the trial's metrics.jsonl has them.
            if (e is DiagnosticEvent or StartEvent or EvalEvent or DoneEvent) events(e);
        }
        process.WaitForExit();
        if (process.ExitCode != 0 || done is null)
            throw ChildProcess.Failed($"the rank {trial.Rank} trial", process.ExitCode, stderr.Result);
        return TrialFiles.ToResult(trial, done);
    }
}
