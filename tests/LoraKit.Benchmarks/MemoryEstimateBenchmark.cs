using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using LoraKit.Memory;
using LoraKit.Models;
using LoraKit.Training;
using static TorchSharp.torch;

namespace LoraKit.Benchmarks;

/// <summary>
/// How close LoraKit.Core's memory estimate (the one LORA2003 and <c>lorakit budget</c> use) comes to the
/// peak memory a real LoRA run reaches, for three different configurations. Each run is its own process;
/// the measured figure is its peak RSS minus the RSS it had once libtorch was loaded and warm (the
/// runtime's fixed cost, which the estimate leaves to <see cref="MemoryOptions.OverheadBytes"/>), and the
/// estimate is taken with that overhead set to 0, fp32 weights and fp32 activations as on this CPU.
/// </summary>
internal static class MemoryEstimateBenchmark
{
    private sealed record Case(string Name, LlamaDimensions Dims, LoraConfig Lora, int Batch, int Sequence);

    private static readonly LlamaDimensions Mha = new()
    {
        ModelType = "llama", HiddenSize = 512, IntermediateSize = 1376, Layers = 8, AttentionHeads = 8, VocabSize = 4096, MaxPositionEmbeddings = 1024,
    };

    private static readonly LlamaDimensions Gqa = new()
    {
        ModelType = "llama", HiddenSize = 768, IntermediateSize = 2048, Layers = 6, AttentionHeads = 12, KeyValueHeads = 4, VocabSize = 8192, MaxPositionEmbeddings = 1024,
    };

    private static readonly Case[] Cases =
    {
        new("h512×8, r=8 q,v, batch 4 × 256", Mha, new LoraConfig { Rank = 8, Alpha = 16, TargetModules = new[] { "q_proj", "v_proj" } }, 4, 256),
        new("h512×8, r=64 all-linear, dropout 0.1, batch 4 × 256", Mha,
            new LoraConfig { Rank = 64, Alpha = 128, Dropout = 0.1, TargetModules = new[] { "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj" } }, 4, 256),
        new("h768×6 GQA 12/4, r=16 q,k,v,o, batch 8 × 512", Gqa, new LoraConfig { Rank = 16, Alpha = 32, TargetModules = new[] { "q_proj", "k_proj", "v_proj", "o_proj" } }, 8, 512),
    };

    private const double Tolerance = 0.20;

    public static void Run(string[] args)
    {
        var steps = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 3;
        if (steps < 1) throw new ArgumentOutOfRangeException(nameof(args), "steps must be at least 1");
        var inv = CultureInfo.InvariantCulture;
        Console.WriteLine($"## Memory estimate vs measured peak (fp32 CPU, {steps} LoRA steps each, one process per case and allocator setting; measured = peak RSS − RSS of the warm runtime)");
        Console.WriteLine();
        Console.WriteLine("| configuration | estimate (weights / LoRA state / activations / logits) | measured, live tensors (MALLOC_MMAP_THRESHOLD_=65536) | estimate ÷ measured | target | measured, glibc default | default ÷ live |");
        Console.WriteLine("|---|---|---|---|---|---|---|");
        for (var i = 0; i < Cases.Length; i++)
        {
            var c = Cases[i];
            var live = Measure(i, steps, LivePeakMemory.LiveTensors);
            var heap = Measure(i, steps, null);
            var e = Estimate(c);
            var ratio = (double)e.Total / live;
            var verdict = Math.Abs(ratio - 1) <= Tolerance ? "met" : "missed";
            Console.WriteLine(string.Create(inv,
                $"| {c.Name} | {Mib(e.Total)} MiB ({Mib(e.BaseWeights)} / {Mib(e.LoraWeights + e.LoraGradients + e.OptimizerState)} / {Mib(e.Activations)} / {Mib(e.Logits)}) | {Mib(live)} MiB | {ratio:0.00} | 0.80–1.20 ({verdict}) | {Mib(heap)} MiB | {(double)heap / live:0.00}× |"));
        }
    }

    private static long Measure(int index, int steps, IReadOnlyDictionary<string, string>? environment)
    {
        var inv = CultureInfo.InvariantCulture;
        return LivePeakMemory.Measure(environment, "memory-estimate-child", index.ToString(inv), steps.ToString(inv)).Live;
    }

    /// <summary>Child-process entry: case <paramref name="index"/> trained for a few steps, measured by <see cref="LivePeakMemory.RunChild"/>.</summary>
    public static void RunChild(int index, int steps)
    {
        var c = Cases[index];
        LivePeakMemory.RunChild(() => () => TrainingStepBenchmark.StepSeconds("lora", steps, c.Dims, c.Lora, c.Batch, c.Sequence));
    }

    private static MemoryEstimate Estimate(Case c) =>
        MemoryEstimator.Estimate(ModelShape.FromLlama("bench", c.Dims), c.Lora, new MemoryOptions
        {
            BasePrecision = WeightPrecision.Float32,
            ActivationBytes = 4,
            BatchSize = c.Batch,
            SequenceLength = c.Sequence,
            FusedAttention = true,
            OverheadBytes = 0,
        });

    private static string Mib(long bytes) => LivePeakMemory.Mib(bytes);
}
