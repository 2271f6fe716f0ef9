using LoraKit.Models;
using LoraKit.Rules;

namespace LoraKit.Memory;

/// <summary>One change to a run that the fit plan may propose, and the options it gives.</summary>
public sealed record FitChange(string Description, MemoryOptions Options, MemoryEstimate Estimate);

/// <summary>
/// What makes a run fit a GPU (LORA1006's advice and <c>lorakit budget</c>'s table), from Core's estimate alone. Changes
/// are tried cheapest first — those that leave the trained adapter unchanged before those that change the run:
/// gradient checkpointing (about one more forward per step), offloaded checkpointing (plus host copies), a 4-bit NF4 base
/// (QLoRA: other base numerics), a smaller micro-batch (raise gradient accumulation to keep the effective batch), a
/// shorter sequence (truncates or splits the data). The first single change that fits is the plan; when none does, the
/// memory-saving switches together with the largest batch and then the longest sequence that fit.
/// </summary>
public static class FitPlan
{
    /// <summary>The cheapest change that brings the estimate to at most <paramref name="gpuMemoryGiB"/>; null when it already fits or nothing does.</summary>
    public static FitChange? Cheapest(ModelShape model, LoraConfig config, MemoryOptions options, double gpuMemoryGiB)
    {
        if (gpuMemoryGiB <= 0) return null;
        long budget = Bytes(gpuMemoryGiB);
        if (MemoryEstimator.Estimate(model, config, options).Total <= budget) return null;
        foreach (var (description, candidate) in SingleChanges(options))
        {
            var e = MemoryEstimator.Estimate(model, config, candidate);
            if (e.Total <= budget) return new FitChange(description, candidate, e);
        }
        // Nothing alone: every switch that keeps the adapter the same, then the batch, then the sequence.
        var saving = options with { GradientCheckpointing = LoraGradientCheckpointing.Offload };
        var switches = options.GradientCheckpointing == LoraGradientCheckpointing.Offload ? new List<string>() : new List<string> { "--gradient-checkpointing offload" };
        if (IsHighPrecision(options.BasePrecision))
        {
            saving = saving with { BasePrecision = WeightPrecision.NF4 };
            switches.Add("--quantize nf4");
        }
        var batch = LargestBatch(model, config, saving, budget);
        if (batch >= 1)
        {
            var fitted = saving with { BatchSize = batch };
            if (batch != options.BatchSize) switches.Add($"batch size {batch}");
            return new FitChange(string.Join(" + ", switches), fitted, MemoryEstimator.Estimate(model, config, fitted));
        }
        var longest = LargestSequence(model, config, saving with { BatchSize = 1 }, budget);
        if (longest < 1) return null;
        var shortened = saving with { BatchSize = 1, SequenceLength = longest };
        if (options.BatchSize != 1) switches.Add("batch size 1");
        switches.Add($"sequence length {longest}");
        return new FitChange(string.Join(" + ", switches), shortened, MemoryEstimator.Estimate(model, config, shortened));
    }

    private static IEnumerable<(string, MemoryOptions)> SingleChanges(MemoryOptions o)
    {
        if (o.GradientCheckpointing == LoraGradientCheckpointing.None)
            yield return ("--gradient-checkpointing", o with { GradientCheckpointing = LoraGradientCheckpointing.On });
        if (o.GradientCheckpointing != LoraGradientCheckpointing.Offload && o.Device == MemoryDevice.Cuda)
            yield return ("--gradient-checkpointing offload", o with { GradientCheckpointing = LoraGradientCheckpointing.Offload });
        if (IsHighPrecision(o.BasePrecision))
            yield return ("--quantize nf4 (QLoRA)", o with { BasePrecision = WeightPrecision.NF4 });
        for (var batch = o.BatchSize / 2; batch >= 1; batch /= 2)
            yield return ($"batch size {batch} (raise --grad-accum ×{Format.Number(o.BatchSize / (double)batch)} to keep the effective batch)", o with { BatchSize = batch });
        for (var seq = o.SequenceLength / 2; seq >= 64; seq /= 2)
            yield return ($"sequence length {seq}", o with { SequenceLength = seq });
    }

    private static bool IsHighPrecision(WeightPrecision p) => p is WeightPrecision.Float32 or WeightPrecision.BFloat16 or WeightPrecision.Float16;

    /// <summary>The largest sequence length whose estimate fits <paramref name="gpuMemoryGiB"/> with these options (its batch size); 0 when not even 1 token does.</summary>
    public static int LargestSequenceLength(ModelShape model, LoraConfig config, MemoryOptions options, double gpuMemoryGiB) =>
        LargestSequence(model, config, options, Bytes(gpuMemoryGiB));

    private static int LargestSequence(ModelShape model, LoraConfig config, MemoryOptions options, long budget) =>
        LargestFitting(n => MemoryEstimator.Estimate(model, config, options with { SequenceLength = n }).Total <= budget, 1 << 22);

    private static int LargestBatch(ModelShape model, LoraConfig config, MemoryOptions options, long budget) =>
        LargestFitting(n => MemoryEstimator.Estimate(model, config, options with { BatchSize = n }).Total <= budget, Math.Max(1, options.BatchSize));

    /// <summary>The largest n in [1, limit] with fits(n) (memory grows with n), or 0.</summary>
    private static int LargestFitting(Func<int, bool> fits, int limit)
    {
        if (!fits(1)) return 0;
        int lo = 1, hi = limit;
        while (lo < hi)
        {
            var mid = lo + (hi - lo + 1) / 2;
            if (fits(mid)) lo = mid;
            else hi = mid - 1;
        }
        return lo;
    }

    private static long Bytes(double gib) => (long)(gib * 1024 * 1024 * 1024);

    /// <summary>The settings `lorakit budget --gpu-memory` tabulates: no checkpointing, checkpointing, offloaded checkpointing.</summary>
    public static IReadOnlyList<(string Setting, MemoryOptions Options)> Settings(MemoryOptions o) => new[]
    {
        ("no checkpointing", o with { GradientCheckpointing = LoraGradientCheckpointing.None }),
        ("--gradient-checkpointing", o with { GradientCheckpointing = LoraGradientCheckpointing.On }),
        ("--gradient-checkpointing offload", o with { GradientCheckpointing = LoraGradientCheckpointing.Offload }),
    };
}
