using System;
using System.Collections.Generic;
using System.CommandLine;
using System.Globalization;
using System.IO;
using LoraKit.Builtin;
using LoraKit.Data;
using LoraKit.Training;

namespace LoraKit.Cli.Commands;

/// <summary>The options `train` and `sweep` share: base model, data, adapter and optimisation.</summary>
internal sealed class TrainOptions
{
    public readonly Option<string> Base = new("--base") { Description = "Base model: 'builtin' (LoraKit's embedded tiny Llama) or a Hugging Face folder.", DefaultValueFactory = _ => BuiltinModel.Spec };
    public readonly Option<string> Data = new("--data") { Description = "Dataset: 'builtin' (the embedded adaptation task) or a JSONL file of {\"text\"} or {\"prompt\",\"completion\"} lines.", DefaultValueFactory = _ => "builtin" };
    public readonly Option<string> Name = new("--name") { Description = "Adapter name (output sub-folder, lock-file key).", DefaultValueFactory = _ => "adapter" };
    public readonly Option<string?> Out = new("--out") { Description = "Output folder (default lora-output/<name>)." };
    public readonly Option<int> Rank = new("--rank", "-r") { Description = "LoRA rank.", DefaultValueFactory = _ => global::LoraKit.LoraConfig.DefaultRank };
    public readonly Option<double?> Alpha = new("--alpha") { Description = "LoRA alpha (default 2 × rank)." };
    public readonly Option<string> Targets = new("--targets") { Description = "Comma-separated target modules or all-linear.", DefaultValueFactory = _ => "q_proj,v_proj" };
    public readonly Option<double> Dropout = new("--dropout") { Description = "LoRA dropout.", DefaultValueFactory = _ => 0.05 };
    public readonly Option<int> Epochs = new("--epochs") { Description = "Epochs over the training split.", DefaultValueFactory = _ => 1 };
    public readonly Option<int> MaxSteps = new("--max-steps") { Description = "Stop after this many optimizer steps (0 = run the epochs)." };
    public readonly Option<int> BatchSize = new("--batch-size") { Description = "Micro-batch size.", DefaultValueFactory = _ => 8 };
    public readonly Option<int> GradAccum = new("--grad-accum") { Description = "Micro-batches per optimizer step.", DefaultValueFactory = _ => 1 };
    public readonly Option<double> LearningRate = new("--lr") { Description = "Peak learning rate.", DefaultValueFactory = _ => 2e-4 };
    public readonly Option<double> WeightDecay = new("--weight-decay") { Description = "AdamW weight decay." };
    public readonly Option<double> Warmup = new("--warmup") { Description = "Warmup as a share of the steps.", DefaultValueFactory = _ => 0.05 };
    public readonly Option<string> Schedule = new("--schedule") { Description = "cosine, linear or constant.", DefaultValueFactory = _ => "cosine" };
    public readonly Option<int> SeqLen = new("--seq-len") { Description = "Tokens per row.", DefaultValueFactory = _ => 128 };
    public readonly Option<bool> Pad = new("--pad") { Description = "One example per row, padded (default: pack examples into full rows)." };
    public readonly Option<double> ValFraction = new("--val-fraction") { Description = "Share of examples held out for validation.", DefaultValueFactory = _ => 0.1 };
    public readonly Option<double> Fraction = new("--fraction") { Description = "Share of the training split to use (the sweep's subsets).", DefaultValueFactory = _ => 1.0 };
    public readonly Option<int> EvalEvery = new("--eval-every") { Description = "Evaluate every N steps.", DefaultValueFactory = _ => 50 };
    public readonly Option<int> CheckpointEvery = new("--checkpoint-every") { Description = "Checkpoint every N steps.", DefaultValueFactory = _ => 100 };
    public readonly Option<long> Seed = new("--seed") { Description = "Seed of initialisation, dropout, split and order.", DefaultValueFactory = _ => 42 };
    public readonly Option<string> Device = new("--device") { Description = "auto, cuda or cpu.", DefaultValueFactory = _ => "auto" };
    public readonly Option<string> Events = new("--events") { Description = "text (people) or json (one JSON object per line, for tools).", DefaultValueFactory = _ => "text" };
    public readonly Option<string?> AdapterAssembly = new("--adapter-assembly") { Description = "A compiled assembly whose [LoraAdapter] classes register themselves (module initializer); the adapter's rank, alpha, dropout and targets come from it." };
    public readonly Option<string?> Adapter = new("--adapter") { Description = "The adapter to train from --adapter-assembly, by class name or full name (optional when it has one adapter)." };

    private LoraAdapterDescriptor? _descriptor;

    public IEnumerable<Option> All => new Option[]
    {
        Base, Data, Name, Out, Rank, Alpha, Targets, Dropout, Epochs, MaxSteps, BatchSize, GradAccum, LearningRate, WeightDecay, Warmup, Schedule,
        SeqLen, Pad, ValFraction, Fraction, EvalEvery, CheckpointEvery, Seed, Device, Events, AdapterAssembly, Adapter,
    };

    /// <summary>The adapter described in the user's compiled code (--adapter-assembly), or null when none was named.</summary>
    public LoraAdapterDescriptor? Descriptor(ParseResult p)
    {
        if (_descriptor is not null) return _descriptor;
        var assembly = p.GetValue(AdapterAssembly);
        var name = p.GetValue(Adapter);
        if (assembly is null)
        {
            if (name is not null) throw new ArgumentException($"--adapter {name} needs --adapter-assembly, the compiled assembly that declares it");
            return null;
        }
        return _descriptor = AdapterAssemblyLoader.Load(assembly, name);
    }

    /// <summary>--name when given, else the adapter's class name (the lock-file key LORA1007 reads), else "adapter".</summary>
    public string AdapterName(ParseResult p) =>
        p.GetResult(Name) is { Implicit: false } ? p.GetValue(Name)! : Descriptor(p)?.Name ?? p.GetValue(Name)!;

    public LoraConfig ToLoraConfig(ParseResult p)
    {
        var described = Descriptor(p);
        if (described is not null) return described.Config();
        var rank = p.GetValue(Rank);
        return new global::LoraKit.LoraConfig
        {
            Rank = rank,
            Alpha = p.GetValue(Alpha) ?? 2.0 * rank,
            Dropout = p.GetValue(Dropout),
            TargetModules = p.GetValue(Targets)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
        };
    }

    public string OutputDir(ParseResult p) => p.GetValue(Out) ?? Path.Combine("lora-output", AdapterName(p));

    public TrainingOptions Training(ParseResult p, string outputDir, string baseName) => new()
    {
        OutputDir = outputDir,
        Epochs = p.GetValue(Epochs),
        MaxSteps = p.GetValue(MaxSteps),
        GradientAccumulation = p.GetValue(GradAccum),
        LearningRate = p.GetValue(LearningRate),
        WeightDecay = p.GetValue(WeightDecay),
        WarmupRatio = p.GetValue(Warmup),
        Schedule = p.GetValue(Schedule) switch
        {
            "cosine" => LearningRateSchedule.Cosine,
            "linear" => LearningRateSchedule.Linear,
            "constant" => LearningRateSchedule.Constant,
            var s => throw new ArgumentException($"--schedule {s} is not one of cosine, linear, constant"),
        },
        EvalEvery = p.GetValue(EvalEvery),
        CheckpointEvery = p.GetValue(CheckpointEvery),
        Seed = p.GetValue(Seed),
        Device = p.GetValue(Device)!,
        AdapterName = AdapterName(p),
        BaseModelName = baseName,
    };

    /// <summary>Loads, splits and tokenises the data. The split is by content hash; the fraction keeps a nested subset of the training part.</summary>
    public (ITrainingData Data, Dataset Dataset, string Summary) LoadData(ParseResult p, ILoraTokenizer tokenizer)
    {
        var dataset = DatasetSource.Open(p.GetValue(Data)!);
        var split = dataset.Split(p.GetValue(ValFraction), p.GetValue(Fraction), p.GetValue(Seed));
        if (split.Validation is null)
            throw new ArgumentException($"--val-fraction {p.GetValue(ValFraction)} leaves no validation examples; validation loss is how LoraKit checks training, so hold some out");
        var mode = p.GetValue(Pad) ? SequenceMode.Pad : SequenceMode.Pack;
        var train = TokenizedDataset.Create(split.Train, tokenizer, p.GetValue(SeqLen), mode);
        var validation = TokenizedDataset.Create(split.Validation, tokenizer, p.GetValue(SeqLen), mode);
        var summary = string.Create(CultureInfo.InvariantCulture,
            $"{dataset.Name}: {split.Train.Count} train / {split.Validation.Count} validation examples → {train.RowCount} / {validation.RowCount} rows of {p.GetValue(SeqLen)} tokens ({mode.ToString().ToLowerInvariant()})");
        return (new TokenizedTrainingData(train, validation, p.GetValue(BatchSize), p.GetValue(Seed)), dataset, summary);
    }
}
