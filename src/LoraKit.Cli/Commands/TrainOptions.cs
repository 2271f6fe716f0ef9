using System.CommandLine;
using LoraKit.Builtin;
using LoraKit.Data;
using LoraKit.Rules;
using LoraKit.Run;
using LoraKit.Modeling;
using LoraKit.Quantization;
using LoraKit.Training;
using static TorchSharp.torch;

namespace LoraKit.Cli.Commands;

/// <summary>
/// The System.CommandLine options of `train` and `sweep`, made from <see cref="TrainRequest.Options"/> (the one
/// table of the trainer's options), and the binding of a parse result back to a <see cref="TrainRequest"/>.
/// </summary>
internal sealed class TrainOptions
{
    private readonly bool _sweep;
    private readonly List<(TrainOption Spec, Option Cli)> _options = new();

    public TrainOptions(bool sweep)
    {
        _sweep = sweep;
        var general = Defaults("<folder>", "<file>");
        var builtin = Defaults(TrainRequest.BuiltinSpec, TrainRequest.BuiltinSpec);
        foreach (var spec in TrainRequest.Options.Where(o => !(sweep && o.TrainOnly)))
        {
            var description = spec.Description + DefaultHelp(spec, general, builtin);
            Option cli = spec.IsFlag
                ? new Option<bool>(spec.Name) { Description = description }
                : spec.Kind == TrainOptionKind.Switch
                    ? new Option<string>(spec.Name) { Description = description, Arity = ArgumentArity.ZeroOrOne, HelpName = "value" }
                    : new Option<string>(spec.Name) { Description = description, HelpName = spec.Kind.ToString().ToLowerInvariant() };
            if (spec.Alias is not null) cli.Aliases.Add(spec.Alias);
            _options.Add((spec, cli));
        }
    }

    public IEnumerable<Option> All => _options.Select(o => o.Cli);

    public void AddTo(Command command)
    {
        foreach (var option in All) command.Options.Add(option);
    }

    /// <summary>How `train` and `sweep` begin: the request bound, the adapter resolved, the base opened, the data loaded and split.</summary>
    public TrainInputs Open(ParseResult p, EventReporter reporter)
    {
        var request = Bind(p);
        var setup = new TrainSetup(request);
        if (setup.QuantizeOverride is { } overridden) reporter.Info(overridden);
        var resolved = BaseModelSource.Open(request.Base, reporter.Info);
        var (data, dataset, summary) = setup.LoadData(resolved.Tokenizer);
        return new TrainInputs(request, setup, resolved, data, dataset, summary);
    }

    private TrainRequest Defaults(string baseModel, string data) =>
        _sweep ? TrainRequest.SweepDefaultsFor(baseModel, data) : TrainRequest.DefaultsFor(baseModel, data);

    private static string DefaultHelp(TrainOption spec, TrainRequest general, TrainRequest builtin)
    {
        if (spec.IsFlag) return spec.ValueIn(general) == "true" ? " [default: true]" : ""; // a flag that is on unless given false
        if (spec.ValueIn(general) is not { } value) return "";
        if (spec.Name is "--base" or "--data") return $" [default: {TrainRequest.BuiltinSpec}]";
        var onBuiltin = spec.ValueIn(builtin);
        return onBuiltin == value ? $" [default: {value}]" : $" [default: {value}; on the builtin model and data: {onBuiltin}]";
    }

    /// <summary>Whether --events json was given (known before the request binds, so a bad value is reported as JSON too).</summary>
    public static bool JsonEvents(ParseResult p) => p.GetValue<string>("--events") == TrainRequest.EventsJson;

    /// <summary>The request: the defaults for the given base and data, then every option given on the command line.</summary>
    public TrainRequest Bind(ParseResult p)
    {
        string? Given(string name)
        {
            var (spec, cli) = _options.First(o => o.Spec.Name == name);
            return p.GetResult(cli) is { Implicit: false } ? p.GetValue<string>(spec.Name) : null;
        }
        var request = Defaults(Given("--base") ?? TrainRequest.BuiltinSpec, Given("--data") ?? TrainRequest.BuiltinSpec);
        foreach (var (spec, cli) in _options)
        {
            if (p.GetResult(cli) is not { Implicit: false }) continue;
            spec.Apply(request, spec.IsFlag ? (p.GetValue<bool>(spec.Name) ? "true" : "false") : p.GetValue<string>(spec.Name) ?? "");
        }
        return request;
    }
}

/// <summary>What `train` and `sweep` start from (<see cref="TrainOptions.Open"/>).</summary>
internal sealed record TrainInputs(TrainRequest Request, TrainSetup Setup, BaseModelSource.Resolved Base, ITrainingData Data, Dataset Dataset, string DataSummary);

/// <summary>A <see cref="TrainRequest"/> resolved for this process: the adapter from --adapter-assembly, the names, the options of the runtime.</summary>
internal sealed class TrainSetup
{
    public const string DefaultAdapterName = "adapter";

    public TrainSetup(TrainRequest request)
    {
        Request = request;
        if (request.AdapterAssembly is not null) Descriptor = AdapterAssemblyLoader.Load(request.AdapterAssembly, request.Adapter);
        else if (request.Adapter is not null)
            throw new ArgumentException($"--adapter {request.Adapter} needs --adapter-assembly, the compiled assembly that declares it");
        // [LoraAdapter(Quantize = …)] wins over --quantize, as in the analyzers' LORA1006 estimate; the sweep's trials inherit it.
        if (Descriptor?.Quantize is { } quantize && LoraQuantizationNames.Of(quantize) is var fromAttribute && fromAttribute != request.Quantize)
        {
            QuantizeOverride = $"adapter {Descriptor.Name} sets [LoraAdapter(Quantize = LoraQuantization.{quantize})]: the base is loaded with " +
                $"--quantize {fromAttribute}, not {request.Quantize} (the attribute wins over --quantize and LoraKitQuantize; change the attribute to change it)";
            request.Quantize = fromAttribute;
        }
    }

    /// <summary>Set when the adapter's attribute changed --quantize: said to the user, never applied silently.</summary>
    public string? QuantizeOverride { get; }

    public TrainRequest Request { get; }

    /// <summary>The adapter described in the user's compiled code (--adapter-assembly), or null when none was named.</summary>
    public LoraAdapterDescriptor? Descriptor { get; }

    /// <summary>--name when given, else the adapter's class name (the lock-file key LORA1007 reads), else "adapter".</summary>
    public string AdapterName => Request.Name ?? Descriptor?.Name ?? DefaultAdapterName;

    public string OutputDir => Request.Out ?? Path.Combine("lora-output", AdapterName);

    public LoraConfig LoraConfig() => Descriptor?.Config() ?? new LoraConfig
    {
        Rank = Request.Rank,
        Alpha = Request.Alpha ?? LoraThresholds.Default.AlphaRatios.First() * Request.Rank,
        Dropout = Request.Dropout,
        TargetModules = Request.Targets.ToArray(),
    };

    public TrainingOptions Training(string outputDir, string baseName) => new()
    {
        OutputDir = outputDir,
        Epochs = Request.Epochs,
        MaxSteps = Request.MaxSteps,
        GradientAccumulation = Request.GradientAccumulation,
        LearningRate = Request.LearningRate,
        WeightDecay = Request.WeightDecay,
        WarmupRatio = Request.Warmup,
        MaxGradNorm = Request.MaxGradNorm,
        Schedule = Request.Schedule switch
        {
            "cosine" => LearningRateSchedule.Cosine,
            "linear" => LearningRateSchedule.Linear,
            "constant" => LearningRateSchedule.Constant,
            var s => throw new ArgumentException($"--schedule {s} is not one of cosine, linear, constant"),
        },
        EvalEvery = Request.EvalEvery,
        CheckpointEvery = Request.CheckpointEvery,
        Seed = Request.Seed,
        Device = Request.Device,
        AdapterName = AdapterName,
        BaseModelName = baseName,
        Resume = Request.Resume,
        AutoRank = Request.AutoRank,
        StopOnPlateau = Request.StopOnPlateau,
        GradientCheckpointing = LoraGradientCheckpointingNames.TryParse(Request.GradientCheckpointing, out var checkpointing) ? checkpointing
            : throw new ArgumentException($"--gradient-checkpointing {Request.GradientCheckpointing} is not one of {LoraGradientCheckpointingNames.Allowed}"),
    };

    /// <summary>
    /// How the trainer builds a fresh base (every attempt and trial starts from one): 16/32-bit as stored, or with its
    /// decoder linears in NF4 (--quantize nf4, or a bitsandbytes 4-bit checkpoint).
    /// </summary>
    public Func<Device, ScalarType, LlamaForCausalLM> BaseFactory(string folder)
    {
        if (!LoraQuantizationNames.TryParse(Request.Quantize, out var quantization))
            throw new ArgumentException($"--quantize {Request.Quantize} is not one of {LoraQuantizationNames.Allowed}");
        var quantize = quantization == LoraQuantization.Nf4;
        return (device, dtype) => Nf4Checkpoint.LoadBase(folder, device, dtype, quantize);
    }

    /// <summary>Loads, splits and tokenises the data. The split is by content hash; the fraction keeps a nested subset of the training part.</summary>
    public (ITrainingData Data, Dataset Dataset, string Summary) LoadData(ILoraTokenizer tokenizer)
    {
        var r = Request;
        var dataset = DatasetSource.Open(r.Data);
        var split = dataset.Split(r.ValFraction, r.Fraction, r.Seed);
        if (split.Validation is null)
            throw new ArgumentException($"--val-fraction {r.ValFraction} leaves no validation examples; validation loss is how LoraKit checks training, so hold some out");
        if (r.Pad && r.Packing == LoraPackingNames.Documents)
            throw new ArgumentException($"--pad and --packing {LoraPackingNames.Documents} both decide how examples fill rows; give one");
        var mode = r.Pad ? SequenceMode.Pad : r.Packing == LoraPackingNames.Documents ? SequenceMode.Documents : SequenceMode.Pack;
        var train = TokenizedDataset.Create(split.Train, tokenizer, r.SeqLen, mode);
        var validation = TokenizedDataset.Create(split.Validation, tokenizer, r.SeqLen, mode);
        var summary = string.Create(CultureInfo.InvariantCulture,
            $"{dataset.Name}: {split.Train.Count} train / {split.Validation.Count} validation examples → {train.RowCount} / {validation.RowCount} rows of {r.SeqLen} tokens ({mode.ToString().ToLowerInvariant()})");
        return (new TokenizedTrainingData(train, validation, r.BatchSize, r.Seed), dataset, summary);
    }
}
