using LoraKit.Rules;

namespace LoraKit.Run;

/// <summary>
/// Everything `lorakit train` takes, typed, with its one mapping to and from command-line arguments
/// (<see cref="Options"/>). The CLI builds its parser from that table, the sweep starts each trial with
/// <see cref="ToArguments"/>, and the MSBuild task fills a request from its parameters and passes the same
/// arguments. Adding an option means one property and one row here, and the code that acts on it.
/// </summary>
public sealed class TrainRequest
{
    /// <summary>The spec of LoraKit's embedded base model and adaptation task (<c>--base builtin --data builtin</c>).</summary>
    public const string BuiltinSpec = "builtin";

    /// <summary>Requests start from the defaults of their base and data: <see cref="DefaultsFor"/>.</summary>
    private TrainRequest()
    {
    }

    public string Base { get; set; } = BuiltinSpec;
    public string Data { get; set; } = BuiltinSpec;

    /// <summary>Adapter name (output sub-folder, lock-file key); null: the adapter's class name, else "adapter".</summary>
    public string? Name { get; set; }

    public string? Out { get; set; }
    public int Rank { get; set; } = LoraConfig.DefaultRank;

    /// <summary>null: the configured alpha/r ratio × rank.</summary>
    public double? Alpha { get; set; }

    public IReadOnlyList<string> Targets { get; set; } = LoraConfig.DefaultTargetModules;
    public double Dropout { get; set; } = 0.05;
    public int Epochs { get; set; } = 1;

    /// <summary>Stop after this many optimizer steps; 0 = run the epochs.</summary>
    public int MaxSteps { get; set; }

    public int BatchSize { get; set; } = 8;
    public int GradientAccumulation { get; set; } = 1;
    public double LearningRate { get; set; } = 2e-4;
    public double WeightDecay { get; set; }
    public double Warmup { get; set; } = 0.05;
    public double MaxGradNorm { get; set; } = 1.0;

    /// <summary>cosine, linear or constant.</summary>
    public string Schedule { get; set; } = "cosine";

    public int SeqLen { get; set; } = 128;
    public bool Pad { get; set; }
    public double ValFraction { get; set; } = 0.1;
    public double Fraction { get; set; } = 1.0;
    public int EvalEvery { get; set; } = 50;
    public int CheckpointEvery { get; set; } = 100;
    public long Seed { get; set; } = 42;

    /// <summary>auto, cuda or cpu.</summary>
    public string Device { get; set; } = "auto";

    /// <summary>text (people) or json (tools: one <see cref="TrainingEventJson"/> line per event).</summary>
    public string Events { get; set; } = EventsText;

    public string? AdapterAssembly { get; set; }
    public string? Adapter { get; set; }
    public bool Resume { get; set; }
    public bool AutoRank { get; set; }

    /// <summary>Stop early when the validation loss plateaus (with --auto-rank the run restarts at a higher rank instead).</summary>
    public bool StopOnPlateau { get; set; } = true;

    /// <summary>
    /// <see cref="QuantizeNone"/> or <see cref="QuantizeNf4"/>: the base's decoder linears quantized to 4-bit NF4 on load
    /// (QLoRA). A bitsandbytes 4-bit checkpoint is loaded 4-bit whatever this says.
    /// </summary>
    public string Quantize { get; set; } = QuantizeNone;

    /// <summary>
    /// none, on or offload (<see cref="LoraGradientCheckpointingNames"/>): recompute each decoder layer in backward; offload
    /// keeps the saved layer inputs in pinned host memory on CUDA.
    /// </summary>
    public string GradientCheckpointing { get; set; } = LoraGradientCheckpointingNames.None;

    /// <summary>concat (default) or documents (<see cref="LoraPackingNames"/>); --pad puts one example per row instead.</summary>
    public string Packing { get; set; } = LoraPackingNames.Concat;

    public const string QuantizeNone = LoraQuantizationNames.None;
    public const string QuantizeNf4 = LoraQuantizationNames.Nf4;

    public const string EventsText = "text";
    public const string EventsJson = "json";

    public bool JsonEvents => Events == EventsJson;

    /// <summary>
    /// The defaults for a base model and data set. On LoraKit's builtin model and task they are the settings of
    /// the README's main job (a short run that visibly adapts the tiny model: 150 steps, learning rate 3e-3,
    /// 16 rows of 64 tokens); on anything else the general defaults (one epoch, 2e-4, 8 rows of 128 tokens).
    /// </summary>
    public static TrainRequest DefaultsFor(string baseModel, string data)
    {
        var defaults = new TrainRequest { Base = baseModel, Data = data };
        if (IsBuiltin(baseModel) && IsBuiltin(data))
        {
            defaults.MaxSteps = 150;
            defaults.LearningRate = 3e-3;
            defaults.SeqLen = 64;
            defaults.BatchSize = 16;
        }
        return defaults;
    }

    /// <summary>A sweep's defaults: <see cref="DefaultsFor"/> on the sweep's share of the data.</summary>
    public static TrainRequest SweepDefaultsFor(string baseModel, string data)
    {
        var defaults = DefaultsFor(baseModel, data);
        defaults.Fraction = LoraThresholds.Default.SweepDataFraction;
        return defaults;
    }

    /// <summary>builtin or builtin:… (a builtin model or data set rather than a path).</summary>
    public static bool IsBuiltin(string spec) =>
        spec == BuiltinSpec || spec.StartsWith(BuiltinSpec + ":", StringComparison.Ordinal);

    public TrainRequest Clone()
    {
        var copy = (TrainRequest)MemberwiseClone();
        copy.Targets = Targets.ToArray();
        return copy;
    }

    /// <summary>
    /// `train` and the options that differ from the defaults the receiver applies to this request's base and
    /// data, in table order (a flag is its name alone): parsing them back gives this request.
    /// </summary>
    public IReadOnlyList<string> ToArguments()
    {
        var args = new List<string> { "train" };
        AppendOptions(args, sweep: false);
        return args;
    }

    /// <summary>The options part of <see cref="ToArguments"/>; <paramref name="sweep"/>: against a sweep's defaults, without train-only options.</summary>
    internal void AppendOptions(List<string> args, bool sweep)
    {
        // The receiver's defaults for this base and data; the base and data themselves default to builtin.
        var defaults = sweep ? SweepDefaultsFor(Base, Data) : DefaultsFor(Base, Data);
        defaults.Base = BuiltinSpec;
        defaults.Data = BuiltinSpec;
        foreach (var option in Options)
        {
            if (sweep && option.TrainOnly) continue;
            var value = option.ValueIn(this);
            if (value is null || value == option.ValueIn(defaults)) continue;
            args.Add(option.Name);
            if (!(option.IsFlag && value == "true") && value != option.BareValue) args.Add(value); // a flag (or a switch's bare value) is its name alone
        }
    }

    /// <summary>Every option of `lorakit train` (and, except <see cref="TrainOption.TrainOnly"/> ones, of `lorakit sweep`).</summary>
    public static IReadOnlyList<TrainOption> Options { get; } = new[]
    {
        TrainOption.Text("--base", "Base model: 'builtin' (LoraKit's embedded tiny Llama) or a Hugging Face folder.", r => r.Base, (r, v) => r.Base = v),
        TrainOption.Text("--data", "Dataset: 'builtin' (the embedded adaptation task) or a JSONL file of {\"text\"}, {\"prompt\",\"completion\"} or chat {\"messages\"} lines.",
            r => r.Data, (r, v) => r.Data = v),
        TrainOption.Text("--name", "Adapter name (output sub-folder, lock-file key; default: the adapter's class name, else 'adapter').", r => r.Name, (r, v) => r.Name = v),
        TrainOption.Text("--out", "Output folder (default lora-output/<name>).", r => r.Out, (r, v) => r.Out = v),
        TrainOption.Integer("--rank", "LoRA rank.", r => r.Rank, (r, v) => r.Rank = (int)v, alias: "-r"),
        TrainOption.Number("--alpha", "LoRA alpha (default: the alpha/r ratio × rank).", r => r.Alpha, (r, v) => r.Alpha = v),
        TrainOption.List("--targets", "Comma-separated target modules, or all-linear.", r => r.Targets, (r, v) => r.Targets = v),
        TrainOption.Number("--dropout", "LoRA dropout.", r => r.Dropout, (r, v) => r.Dropout = v),
        TrainOption.Integer("--epochs", "Epochs over the training split.", r => r.Epochs, (r, v) => r.Epochs = (int)v),
        TrainOption.Integer("--max-steps", "Stop after this many optimizer steps (0 = run the epochs).", r => r.MaxSteps, (r, v) => r.MaxSteps = (int)v),
        TrainOption.Integer("--batch-size", "Micro-batch size.", r => r.BatchSize, (r, v) => r.BatchSize = (int)v),
        TrainOption.Integer("--grad-accum", "Micro-batches per optimizer step.", r => r.GradientAccumulation, (r, v) => r.GradientAccumulation = (int)v),
        TrainOption.Number("--lr", "Peak learning rate.", r => r.LearningRate, (r, v) => r.LearningRate = v),
        TrainOption.Number("--weight-decay", "AdamW weight decay.", r => r.WeightDecay, (r, v) => r.WeightDecay = v),
        TrainOption.Number("--warmup", "Warmup as a share of the steps.", r => r.Warmup, (r, v) => r.Warmup = v),
        TrainOption.Number("--max-grad-norm", "Clip the gradients' global norm to this.", r => r.MaxGradNorm, (r, v) => r.MaxGradNorm = v),
        TrainOption.Text("--schedule", "cosine, linear or constant.", r => r.Schedule, (r, v) => r.Schedule = v),
        TrainOption.Integer("--seq-len", "Tokens per row.", r => r.SeqLen, (r, v) => r.SeqLen = (int)v),
        TrainOption.Flag("--pad", "One example per row, padded (default: pack examples into full rows).", r => r.Pad, (r, v) => r.Pad = v),
        TrainOption.Number("--val-fraction", "Share of examples held out for validation.", r => r.ValFraction, (r, v) => r.ValFraction = v),
        TrainOption.Number("--fraction", "Share of the training split to use (a sweep's trials: 10 %).", r => r.Fraction, (r, v) => r.Fraction = v),
        TrainOption.Integer("--eval-every", "Evaluate every N steps.", r => r.EvalEvery, (r, v) => r.EvalEvery = (int)v),
        TrainOption.Integer("--checkpoint-every", "Checkpoint every N steps.", r => r.CheckpointEvery, (r, v) => r.CheckpointEvery = (int)v),
        TrainOption.Integer("--seed", "Seed of initialisation, dropout, split and order.", r => r.Seed, (r, v) => r.Seed = v),
        TrainOption.Text("--device", "auto, cuda or cpu.", r => r.Device, (r, v) => r.Device = v),
        TrainOption.Text("--events", "text (people) or json (one JSON object per line, for tools).", r => r.Events, (r, v) => r.Events = v),
        TrainOption.Text("--adapter-assembly", "A compiled assembly whose [LoraAdapter] classes register themselves (module initializer); " +
            "the adapter's rank, alpha, dropout and targets come from it.", r => r.AdapterAssembly, (r, v) => r.AdapterAssembly = v),
        TrainOption.Text("--adapter", "The adapter to train from --adapter-assembly, by class name or full name (optional when it has one adapter).",
            r => r.Adapter, (r, v) => r.Adapter = v),
        TrainOption.Flag("--resume", "Continue from the checkpoint in the output folder (same rank only).", r => r.Resume, (r, v) => r.Resume = v, trainOnly: true),
        TrainOption.Flag("--auto-rank", "On a loss plateau, restart from scratch at 2× rank and alpha (the rank-escalation plan).",
            r => r.AutoRank, (r, v) => r.AutoRank = v, trainOnly: true),
        TrainOption.Text("--quantize", $"{LoraQuantizationNames.None}, or {LoraQuantizationNames.Nf4}: the base's decoder linears in 4-bit NF4 on load (QLoRA); " +
            "a bitsandbytes 4-bit checkpoint loads 4-bit either way; an adapter whose [LoraAdapter] sets Quantize uses its own.",
            r => r.Quantize, (r, v) => r.Quantize = LoraQuantizationNames.TryParse(v, out _) ? v
                : throw new ArgumentException($"--quantize {v} is not one of {LoraQuantizationNames.Allowed}")),
        TrainOption.Flag("--stop-on-plateau", "Stop early when the validation loss plateaus (LORA3002); false: warn and train on.",
            r => r.StopOnPlateau, (r, v) => r.StopOnPlateau = v),
        TrainOption.Switch("--gradient-checkpointing", "Recompute each decoder layer in backward: the same adapter with far less activation memory " +
            "(about one more forward per step); 'offload' also keeps the saved layer inputs in pinned host memory on CUDA (on the CPU the same as on).",
            LoraGradientCheckpointingNames.On, r => r.GradientCheckpointing,
            (r, v) => r.GradientCheckpointing = LoraGradientCheckpointingNames.TryParse(v, out var mode) ? LoraGradientCheckpointingNames.Of(mode)
                : throw new ArgumentException($"--gradient-checkpointing {v} is not one of {LoraGradientCheckpointingNames.Allowed}")),
        TrainOption.Text("--packing", $"How examples fill rows: {LoraPackingNames.Concat} (concatenated and cut; examples in a row see each other) or " +
            $"{LoraPackingNames.Documents} (whole examples, attention and positions reset at each: every example scored as alone).",
            r => r.Packing, (r, v) => r.Packing = v is LoraPackingNames.Concat or LoraPackingNames.Documents ? v
                : throw new ArgumentException($"--packing {v} is not one of {LoraPackingNames.Allowed}")),
    };

    /// <summary>The option named <paramref name="name"/> (e.g. "--max-steps").</summary>
    public static TrainOption Option(string name) =>
        Options.FirstOrDefault(o => o.Name == name) ?? throw new ArgumentException($"'{name}' is not an option of lorakit train", nameof(name));
}

/// <summary>What a <see cref="TrainOption"/> takes, for help texts and parsers.</summary>
public enum TrainOptionKind { Text, Integer, Number, List, Flag, Switch }

/// <summary>One option of <see cref="TrainRequest"/>: its name, help, and how its value is read from and written to a request.</summary>
public sealed class TrainOption(string name, string? alias, string description, TrainOptionKind kind, bool trainOnly,
    Func<TrainRequest, string?> get, Action<TrainRequest, string> set, string? bareValue = null)
{
    /// <summary>A <see cref="TrainOptionKind.Switch"/>'s value when given without one (<c>--gradient-checkpointing</c> alone: on).</summary>
    public string? BareValue { get; } = bareValue;

    public string Name { get; } = name;
    public string? Alias { get; } = alias;
    public string Description { get; } = description;
    public TrainOptionKind Kind { get; } = kind;
    public bool IsFlag => Kind == TrainOptionKind.Flag;

    /// <summary>`lorakit train` only (a sweep's trials always start fresh and never escalate).</summary>
    public bool TrainOnly { get; } = trainOnly;

    /// <summary>The value in <paramref name="request"/> as its argument text (invariant culture), or null when unset.</summary>
    public string? ValueIn(TrainRequest request) => get(request);

    /// <summary>Sets the value from argument text; bad text is an <see cref="ArgumentException"/> naming the option and what it takes.</summary>
    public void Apply(TrainRequest request, string text) => set(request, text.Trim());

    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    internal static TrainOption Text(string name, string description, Func<TrainRequest, string?> get, Action<TrainRequest, string> set) =>
        new(name, null, description, TrainOptionKind.Text, false, get, set);

    internal static TrainOption Integer(string name, string description, Func<TrainRequest, long> get, Action<TrainRequest, long> set, string? alias = null) =>
        new(name, alias, description, TrainOptionKind.Integer, false, r => get(r).ToString(Inv),
            (r, v) => set(r, long.TryParse(v, NumberStyles.AllowLeadingSign, Inv, out var n) ? n : throw Bad(name, v, "a whole number")));

    internal static TrainOption Number(string name, string description, Func<TrainRequest, double?> get, Action<TrainRequest, double> set) =>
        new(name, null, description, TrainOptionKind.Number, false, r => get(r)?.ToString("R", Inv),
            (r, v) => set(r, double.TryParse(v, NumberStyles.Float, Inv, out var d) && !double.IsNaN(d) && !double.IsInfinity(d) ? d : throw Bad(name, v, "a number")));

    internal static TrainOption List(string name, string description, Func<TrainRequest, IReadOnlyList<string>> get, Action<TrainRequest, IReadOnlyList<string>> set) =>
        new(name, null, description, TrainOptionKind.List, false, r => string.Join(",", get(r)),
            (r, v) => set(r, v.Split(',').Select(s => s.Trim()).Where(s => s.Length > 0).ToArray()));

    /// <summary>An option whose value may be left out (<paramref name="bareValue"/> then): <c>--gradient-checkpointing [offload]</c>.</summary>
    internal static TrainOption Switch(string name, string description, string bareValue, Func<TrainRequest, string?> get, Action<TrainRequest, string> set) =>
        new(name, null, description, TrainOptionKind.Switch, false, get, (r, v) => set(r, v.Length == 0 ? bareValue : v), bareValue);

    internal static TrainOption Flag(string name, string description, Func<TrainRequest, bool> get, Action<TrainRequest, bool> set, bool trainOnly = false) =>
        new(name, null, description, TrainOptionKind.Flag, trainOnly, r => get(r) ? "true" : "false",
            (r, v) => set(r, v switch { "true" or "" => true, "false" => false, _ => throw Bad(name, v, "true or false") }));

    private static ArgumentException Bad(string name, string value, string what) => new($"{name}: '{value}' is not {what}");
}
