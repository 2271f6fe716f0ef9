namespace LoraKit.Run;

/// <summary>How serious a <see cref="DiagnosticEvent"/> is; MSBuild shows errors and warnings in the error list.</summary>
public enum EventSeverity { Info, Warning, Error }

/// <summary>
/// One event of a training run or sweep: what the trainer reports to people (the CLI's progress), to the
/// sweep (its trials run as child processes) and to the MSBuild task. With <c>--events json</c> each is one
/// JSON object per line, written and read only by <see cref="TrainingEventJson"/>.
/// </summary>
public abstract record TrainingEvent
{
    /// <summary>The wire name of the event (the <c>event</c> member).</summary>
    public abstract string Kind { get; }

    /// <summary>The rank of the sweep trial that reported it; null outside a sweep.</summary>
    public int? TrialRank { get; init; }
}

/// <summary>A line of progress for people (what is loaded, what the sweep will do).</summary>
public sealed record InfoEvent(string Message) : TrainingEvent
{
    public override string Kind => TrainingEventJson.Info;
}

/// <summary>
/// A cluster scheduler's progress on a sweep (Slurm job array, Kubernetes Indexed Job): a submission
/// (<see cref="TrainingEvent.TrialRank"/> null) or a trial's change of state, with the scheduler's own job id
/// (Slurm <c>123</c> or <c>123_4</c>; the Kubernetes Job name) and state (Slurm's PENDING, RUNNING, COMPLETED, …).
/// </summary>
public sealed record SchedulerEvent(string Scheduler, string Job, string? State, string Message) : TrainingEvent
{
    public override string Kind => TrainingEventJson.Scheduler;
}

/// <summary>An attempt starts: the adapter, its size and the base model's validation loss.</summary>
public sealed record StartEvent(
    string Adapter, int Rank, double Alpha, double Scaling, IReadOnlyList<string> Targets, long TrainableParameters, long BaseParameters,
    string Device, long TotalSteps, double BaseValidationLoss, int Escalation) : TrainingEvent
{
    public override string Kind => TrainingEventJson.Start;
}

/// <summary>Training continues from a checkpoint.</summary>
public sealed record ResumeEvent(long Step, string Checkpoint) : TrainingEvent
{
    public override string Kind => TrainingEventJson.Resume;
}

/// <summary>One optimizer step (also a line of metrics.jsonl); <see cref="ValidationLoss"/> when the step evaluated.</summary>
public sealed record StepEvent(long Step, long TotalSteps, double Loss, double LearningRate, double TokensPerSecond, long PeakMemoryBytes, double ElapsedSeconds)
    : TrainingEvent
{
    public override string Kind => TrainingEventJson.Step;

    public double? ValidationLoss { get; init; }
}

/// <summary>A validation pass.</summary>
public sealed record EvalEvent(long Step, double ValidationLoss, double BaseValidationLoss, double TrainLoss) : TrainingEvent
{
    public override string Kind => TrainingEventJson.Eval;
}

/// <summary>A LORA diagnostic: code and severity are fields, never part of the message; file and line where the input names one.</summary>
public sealed record DiagnosticEvent(string Code, EventSeverity Severity, string Message) : TrainingEvent
{
    public override string Kind => TrainingEventJson.Diagnostic;

    public string? File { get; init; }

    /// <summary>1-based line in <see cref="File"/>.</summary>
    public int? Line { get; init; }

    public static DiagnosticEvent Error(string code, string message) => new(code, EventSeverity.Error, message);

    public static DiagnosticEvent Warning(string code, string message) => new(code, EventSeverity.Warning, message);
}

/// <summary>A checkpoint was written (atomically) to <see cref="Path"/>.</summary>
public sealed record CheckpointEvent(long Step, string Path) : TrainingEvent
{
    public override string Kind => TrainingEventJson.Checkpoint;
}

/// <summary>The run ended; <see cref="Stopped"/> says why when it ended early (plateau, cancelled, non-finite loss).</summary>
public sealed record DoneEvent(
    long Steps, double BaseValidationLoss, double ValidationLoss, double Reduction, double Seconds, double TokensPerSecond, int Rank, double Alpha,
    string? Stopped, string Output, long TrainableParameters, long PeakMemoryBytes) : TrainingEvent
{
    public override string Kind => TrainingEventJson.Done;
}

/// <summary>A sweep chose its rank and wrote its report, plot and lock file.</summary>
public sealed record SweepEvent(int ChosenRank, double Alpha, int? KneeRank, string Reason, string Report, string Plot, string Lock) : TrainingEvent
{
    public override string Kind => TrainingEventJson.Sweep;
}
