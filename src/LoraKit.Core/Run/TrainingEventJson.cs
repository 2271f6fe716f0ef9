using LoraKit.Json;

namespace LoraKit.Run;

/// <summary>
/// The one serializer of <see cref="TrainingEvent"/>s: <c>--events json</c> lines (one object per line,
/// <c>event</c> naming the kind, snake_case members) and metrics.jsonl lines. Every member name is written
/// here once, for the writer and the reader alike; docs/commands.md documents the schema.
/// </summary>
public static class TrainingEventJson
{
    public const string Info = "info";
    public const string Start = "start";
    public const string Resume = "resume";
    public const string Step = "step";
    public const string Eval = "eval";
    public const string Diagnostic = "diagnostic";
    public const string Checkpoint = "checkpoint";
    public const string Done = "done";
    public const string Sweep = "sweep";
    public const string Scheduler = "scheduler";

    private const string EventKey = "event", TrialRankKey = "trial_rank", MessageKey = "message", AdapterKey = "adapter", RankKey = "rank",
        AlphaKey = "alpha", ScalingKey = "scaling", TargetsKey = "targets", TrainableKey = "trainable_parameters", BaseParametersKey = "base_parameters",
        DeviceKey = "device", TotalStepsKey = "total_steps", BaseValLossKey = "base_val_loss", EscalationKey = "escalation", StepKey = "step",
        CheckpointKey = "checkpoint", LossKey = "loss", LrKey = "lr", TokensPerSecondKey = "tokens_per_s", PeakMemoryKey = "peak_memory_bytes",
        ElapsedKey = "elapsed_s", ValLossKey = "val_loss", TrainLossKey = "train_loss", CodeKey = "code", SeverityKey = "severity", FileKey = "file",
        LineKey = "line", PathKey = "path", StepsKey = "steps", ReductionKey = "reduction", SecondsKey = "seconds", StoppedKey = "stopped",
        OutputKey = "output", ChosenRankKey = "chosen_rank", KneeRankKey = "knee_rank", ReasonKey = "reason", ReportKey = "report", PlotKey = "plot",
        LockKey = "lock", SchedulerKey = "scheduler", JobKey = "job", StateKey = "state";

    /// <summary>The event as one line of JSON (no line break), its kind first.</summary>
    public static string Write(TrainingEvent e)
    {
        var w = new JsonLineWriter().String(EventKey, e.Kind);
        WriteFields(e, w);
        if (e.TrialRank is { } trial) w.Integer(TrialRankKey, trial);
        return w.ToString();
    }

    /// <summary>A step as a metrics.jsonl line: the step's fields without the <c>event</c> member.</summary>
    public static string WriteMetrics(StepEvent e)
    {
        var w = new JsonLineWriter();
        WriteFields(e, w);
        return w.ToString();
    }

    /// <summary>
    /// metrics.jsonl's first line: step 0 with the base model's validation loss, so every plot and tool sees where
    /// training started (no training loss exists yet).
    /// </summary>
    public static string WriteBaselineMetrics(double baseValidationLoss) =>
        new JsonLineWriter().Integer(StepKey, 0).Number(ValLossKey, baseValidationLoss).ToString();

    private static void WriteFields(TrainingEvent e, JsonLineWriter w)
    {
        switch (e)
        {
            case InfoEvent i:
                w.String(MessageKey, i.Message);
                break;
            case StartEvent s:
                w.String(AdapterKey, s.Adapter).Integer(RankKey, s.Rank).Number(AlphaKey, s.Alpha).Number(ScalingKey, s.Scaling).Strings(TargetsKey, s.Targets)
                    .Integer(TrainableKey, s.TrainableParameters).Integer(BaseParametersKey, s.BaseParameters).String(DeviceKey, s.Device)
                    .Integer(TotalStepsKey, s.TotalSteps).Number(BaseValLossKey, s.BaseValidationLoss).Integer(EscalationKey, s.Escalation);
                break;
            case ResumeEvent r:
                w.Integer(StepKey, r.Step).String(CheckpointKey, r.Checkpoint);
                break;
            case StepEvent s:
                w.Integer(StepKey, s.Step).Number(LossKey, s.Loss).Number(LrKey, s.LearningRate).Number(TokensPerSecondKey, s.TokensPerSecond)
                    .Integer(PeakMemoryKey, s.PeakMemoryBytes).Integer(TotalStepsKey, s.TotalSteps).Number(ElapsedKey, s.ElapsedSeconds);
                if (s.ValidationLoss is { } val) w.Number(ValLossKey, val);
                break;
            case EvalEvent v:
                w.Integer(StepKey, v.Step).Number(ValLossKey, v.ValidationLoss).Number(BaseValLossKey, v.BaseValidationLoss).Number(TrainLossKey, v.TrainLoss);
                break;
            case DiagnosticEvent d:
                w.String(CodeKey, d.Code).String(SeverityKey, SeverityName(d.Severity)).String(MessageKey, d.Message);
                if (d.File is not null) w.String(FileKey, d.File);
                if (d.Line is { } line) w.Integer(LineKey, line);
                break;
            case CheckpointEvent c:
                w.Integer(StepKey, c.Step).String(PathKey, c.Path);
                break;
            case DoneEvent d:
                w.Integer(StepsKey, d.Steps).Number(BaseValLossKey, d.BaseValidationLoss).Number(ValLossKey, d.ValidationLoss).Number(ReductionKey, d.Reduction)
                    .Number(SecondsKey, d.Seconds).Number(TokensPerSecondKey, d.TokensPerSecond).Integer(RankKey, d.Rank).Number(AlphaKey, d.Alpha)
                    .String(StoppedKey, d.Stopped).String(OutputKey, d.Output).Integer(TrainableKey, d.TrainableParameters).Integer(PeakMemoryKey, d.PeakMemoryBytes);
                break;
            case SchedulerEvent c:
                w.String(SchedulerKey, c.Scheduler).String(JobKey, c.Job).String(StateKey, c.State).String(MessageKey, c.Message);
                break;
            case SweepEvent s:
                w.Integer(ChosenRankKey, s.ChosenRank).Number(AlphaKey, s.Alpha).Integer(KneeRankKey, s.KneeRank).String(ReasonKey, s.Reason)
                    .String(ReportKey, s.Report).String(PlotKey, s.Plot).String(LockKey, s.Lock);
                break;
            default:
                throw new ArgumentException($"no JSON form for {e.GetType().Name}", nameof(e));
        }
    }

    /// <summary>
    /// Reads one line: true with the event when the line is an event object of a known kind; false for
    /// anything else (plain text, other JSON, an unknown kind from a newer trainer). An event of a known kind
    /// with a missing or mistyped member is a <see cref="FormatException"/> naming the member.
    /// </summary>
    public static bool TryRead(string line, out TrainingEvent? e)
    {
        e = null;
        var text = line.Trim();
        if (text.Length < 2 || text[0] != '{') return false;
        JsonValue root;
        try
        {
            root = JsonValue.Parse(text);
        }
        catch (JsonParseException)
        {
            return false;
        }
        if (root.Kind != JsonKind.Object || root[EventKey] is not { Kind: JsonKind.String } kind) return false;
        var r = new Reader(root, kind.AsString());
        e = kind.AsString() switch
        {
            Info => new InfoEvent(r.Str(MessageKey)),
            Start => new StartEvent(r.Str(AdapterKey), r.Int(RankKey), r.Num(AlphaKey), r.Num(ScalingKey), r.Strs(TargetsKey), r.Long(TrainableKey),
                r.Long(BaseParametersKey), r.Str(DeviceKey), r.Long(TotalStepsKey), r.Num(BaseValLossKey), r.Int(EscalationKey)),
            Resume => new ResumeEvent(r.Long(StepKey), r.Str(CheckpointKey)),
            Step => new StepEvent(r.Long(StepKey), r.Long(TotalStepsKey), r.Num(LossKey), r.Num(LrKey), r.Num(TokensPerSecondKey), r.Long(PeakMemoryKey),
                r.Num(ElapsedKey)) { ValidationLoss = r.OptionalNum(ValLossKey) },
            Eval => new EvalEvent(r.Long(StepKey), r.Num(ValLossKey), r.Num(BaseValLossKey), r.Num(TrainLossKey)),
            Diagnostic => new DiagnosticEvent(r.Str(CodeKey), ParseSeverity(r.Str(SeverityKey), kind.Line), r.Str(MessageKey))
            {
                File = r.OptionalStr(FileKey), Line = (int?)r.OptionalLong(LineKey),
            },
            Checkpoint => new CheckpointEvent(r.Long(StepKey), r.Str(PathKey)),
            Done => new DoneEvent(r.Long(StepsKey), r.Num(BaseValLossKey), r.Num(ValLossKey), r.Num(ReductionKey), r.Num(SecondsKey), r.Num(TokensPerSecondKey),
                r.Int(RankKey), r.Num(AlphaKey), r.OptionalStr(StoppedKey), r.Str(OutputKey), r.Long(TrainableKey), r.Long(PeakMemoryKey)),
            Sweep => new SweepEvent(r.Int(ChosenRankKey), r.Num(AlphaKey), (int?)r.OptionalLong(KneeRankKey), r.Str(ReasonKey), r.Str(ReportKey),
                r.Str(PlotKey), r.Str(LockKey)),
            Scheduler => new SchedulerEvent(r.Str(SchedulerKey), r.Str(JobKey), r.OptionalStr(StateKey), r.Str(MessageKey)),
            _ => null,
        };
        if (e is null) return false;
        if (r.OptionalLong(TrialRankKey) is { } trial) e = e with { TrialRank = (int)trial };
        return true;
    }

    public static string SeverityName(EventSeverity s) => s switch
    {
        EventSeverity.Error => "error",
        EventSeverity.Warning => "warning",
        _ => "info",
    };

    private static EventSeverity ParseSeverity(string text, int line) => text switch
    {
        "error" => EventSeverity.Error,
        "warning" => EventSeverity.Warning,
        "info" => EventSeverity.Info,
        _ => throw new FormatException($"diagnostic event (line {line}): severity '{text}' is not error, warning or info"),
    };

    /// <summary>Typed access to an event's members; a missing or mistyped required member names the event and the member.</summary>
    private readonly struct Reader
    {
        private readonly JsonValue _root;
        private readonly string _kind;

        public Reader(JsonValue root, string kind)
        {
            _root = root;
            _kind = kind;
        }

        public string Str(string key) => OptionalStr(key) ?? throw Missing(key, "a string");

        public string? OptionalStr(string key) => _root[key] switch
        {
            null or { Kind: JsonKind.Null } => null,
            { Kind: JsonKind.String } v => v.AsString(),
            _ => throw Missing(key, "a string"),
        };

        public IReadOnlyList<string> Strs(string key)
        {
            if (_root[key] is not { Kind: JsonKind.Array } array) throw Missing(key, "an array of strings");
            var list = new List<string>();
            foreach (var item in array.Items)
                list.Add(item.Kind == JsonKind.String ? item.AsString() : throw Missing(key, "an array of strings"));
            return list;
        }

        public double Num(string key) => OptionalNum(key) ?? throw Missing(key, "a number");

        /// <summary>A number, or the strings NaN / Infinity / -Infinity the writer uses for non-finite values.</summary>
        public double? OptionalNum(string key) => _root[key] switch
        {
            null or { Kind: JsonKind.Null } => null,
            { Kind: JsonKind.Number } v => v.AsDouble(),
            { Kind: JsonKind.String } v when v.AsString() == "NaN" => double.NaN,
            { Kind: JsonKind.String } v when v.AsString() == "Infinity" => double.PositiveInfinity,
            { Kind: JsonKind.String } v when v.AsString() == "-Infinity" => double.NegativeInfinity,
            _ => throw Missing(key, "a number"),
        };

        public long Long(string key) => OptionalLong(key) ?? throw Missing(key, "a whole number");

        public int Int(string key)
        {
            var v = Long(key);
            return v >= int.MinValue && v <= int.MaxValue ? (int)v : throw Missing(key, "a whole number");
        }

        public long? OptionalLong(string key) => _root[key] switch
        {
            null or { Kind: JsonKind.Null } => null,
            var v when v.TryGetInt64(out var n) => n,
            _ => throw Missing(key, "a whole number"),
        };

        private FormatException Missing(string key, string what) =>
            new(string.Format(CultureInfo.InvariantCulture, "{0} event (line {1}): \"{2}\" must be {3}", _kind, _root.Line, key, what));
    }
}
