using LoraKit.Rules;

namespace LoraKit.Training;

public enum LearningRateSchedule { Cosine, Linear, Constant }

/// <summary>Options of a LoRA training run. Defaults suit a small model on a CPU.</summary>
public sealed record TrainingOptions
{
    /// <summary>Where the adapter, metrics.jsonl and the checkpoint go.</summary>
    public string OutputDir { get; init; } = "lora-output";

    public int Epochs { get; init; } = 1;

    /// <summary>Stop after this many optimizer steps; 0 means run the epochs.</summary>
    public int MaxSteps { get; init; }

    public int GradientAccumulation { get; init; } = 1;
    public double LearningRate { get; init; } = 2e-4;
    public double WeightDecay { get; init; }
    public double WarmupRatio { get; init; } = 0.05;
    public LearningRateSchedule Schedule { get; init; } = LearningRateSchedule.Cosine;
    public double MaxGradNorm { get; init; } = 1.0;

    /// <summary>Evaluate every N optimizer steps (and at the end); 0 = only at the end.</summary>
    public int EvalEvery { get; init; } = 50;

    /// <summary>Write the checkpoint every N optimizer steps (and on cancellation); 0 = only on cancellation.</summary>
    public int CheckpointEvery { get; init; } = 100;

    public long Seed { get; init; } = 42;

    /// <summary>auto (CUDA when available, else CPU with a LORA3005 warning), cuda, or cpu.</summary>
    public string Device { get; init; } = "auto";

    /// <summary>Continue from the checkpoint in <see cref="OutputDir"/>.</summary>
    public bool Resume { get; init; }

    /// <summary>On a plateau restart from scratch at rank × factor and alpha × factor (the rank guide's rollback plan).</summary>
    public bool AutoRank { get; init; }

    /// <summary>Stop early on a plateau (the rank guide: "Stop training immediately"). With AutoRank the run restarts instead.</summary>
    public bool StopOnPlateau { get; init; } = true;

    public LoraThresholds Thresholds { get; init; } = LoraThresholds.Default;

    /// <summary>Recompute each decoder layer in backward (offload: its saved input in pinned host memory on CUDA); the same adapter, less memory.</summary>
    public LoraGradientCheckpointing GradientCheckpointing { get; init; }

    /// <summary>Adapter name for files and events.</summary>
    public string AdapterName { get; init; } = "adapter";

    /// <summary>The base as the user named it (a path or hub id, as given); recorded as base_model_name_or_path in adapter_config.json.</summary>
    public string? BaseModelName { get; init; }

    public void Validate()
    {
        void Require(bool ok, string message)
        {
            if (!ok) throw new ArgumentException(message);
        }
        Require(Epochs >= 1 || MaxSteps >= 1, $"epochs must be at least 1 (or give max steps), not {Epochs}");
        Require(MaxSteps >= 0, $"max steps must be 0 or more, not {MaxSteps}");
        Require(GradientAccumulation >= 1, $"gradient accumulation must be at least 1, not {GradientAccumulation}");
        Require(LearningRate > 0 && !double.IsInfinity(LearningRate), $"learning rate must be positive, not {LearningRate}");
        Require(WeightDecay >= 0, $"weight decay must be 0 or more, not {WeightDecay}");
        Require(WarmupRatio >= 0 && WarmupRatio < 1, $"warmup ratio must be in [0, 1), not {WarmupRatio}");
        Require(MaxGradNorm > 0, $"max grad norm must be positive, not {MaxGradNorm}");
        Require(EvalEvery >= 0 && CheckpointEvery >= 0, "eval/checkpoint intervals must be 0 or more");
        Require(Device is "auto" or "cpu" or "cuda", $"device must be auto, cpu or cuda, not '{Device}'");
    }

    /// <summary>Learning rate at optimizer step <paramref name="step"/> (0-based) of <paramref name="total"/>: linear warmup, then the schedule down to 0.</summary>
    public double LearningRateAt(long step, long total)
    {
        var warmup = (long)Math.Ceiling(WarmupRatio * total);
        if (step < warmup) return LearningRate * (step + 1) / warmup;
        if (Schedule == LearningRateSchedule.Constant || total <= warmup) return LearningRate;
        var progress = (double)(step - warmup) / Math.Max(1, total - warmup);
        return Schedule == LearningRateSchedule.Linear
            ? LearningRate * (1 - progress)
            : LearningRate * 0.5 * (1 + Math.Cos(Math.PI * progress));
    }
}
