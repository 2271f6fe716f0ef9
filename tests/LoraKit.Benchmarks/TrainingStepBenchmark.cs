using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using LoraKit.Lora;
using LoraKit.Models;
using LoraKit.Modeling;
using LoraKit.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LoraKit.Benchmarks;

/// <summary>
/// Training-step benchmarks on a Llama-shaped model (hidden 512, 8 layers, 8 heads, seq 256, batch 4;
/// LoRA r=8 on q,v):
/// - compute efficiency: the LoRA step's FLOP rate against libtorch's own fp32 matmul rate, same run;
/// - LoRA overhead: the LoRA step against the frozen base's forward+backward (activation gradients only);
/// - memory: peak RSS of LoRA vs full fine-tuning (each in its own process), against the theoretical
///   saving — the gradients and AdamW state the frozen weights no longer need.
/// </summary>
internal static class TrainingStepBenchmark
{
    private static readonly LlamaDimensions Dims = new()
    {
        ModelType = "llama", HiddenSize = 512, IntermediateSize = 1376, Layers = 8, AttentionHeads = 8, VocabSize = 4096, MaxPositionEmbeddings = 512,
    };

    private const int Batch = 4;
    private const int Sequence = 256;
    private static readonly LoraConfig Lora = new() { Rank = 8, Alpha = 16, TargetModules = new[] { "q_proj", "v_proj" } };

    public static void Run(string[] args)
    {
        var steps = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 5;
        var inv = CultureInfo.InvariantCulture;
        var shape = ModelShape.FromLlama("bench", Dims);

        // The reference is taken before and after the steps and the best kept: on a shared VM one
        // measurement can land in a slow spell (seen: 108 vs 209 GFLOP/s in consecutive runs).
        var matmul = MatmulFlopRate();
        var lora = StepSeconds("lora", steps);
        var frozen = StepSeconds("frozen", steps);
        matmul = Math.Max(matmul, MatmulFlopRate());

        var count = StepFlops.For(Dims, Lora, Batch, Sequence);
        var flops = count.Total;
        var loraRate = flops / lora;

        Console.WriteLine($"## Training step (hidden {Dims.HiddenSize}, {Dims.Layers} layers, {Dims.AttentionHeads} heads, seq {Sequence}, batch {Batch}, LoRA r={Lora.Rank} on q,v; fp32 CPU, {Environment.ProcessorCount} cores; median of {steps})");
        Console.WriteLine();
        Console.WriteLine(count.Describe());
        Console.WriteLine();
        Console.WriteLine("| measurement | value | ratio | target |");
        Console.WriteLine("|---|---|---|---|");
        Console.WriteLine(string.Create(inv, $"| libtorch fp32 matmul (best of the model's GEMM shapes and 2048³, before and after the steps) | {matmul / 1e9:0.0} GFLOP/s | 1.00 | |"));
        Console.WriteLine(string.Create(inv, $"| LoRA training step | {lora:0.000} s, {loraRate / 1e9:0.0} GFLOP/s | {loraRate / matmul:0.00} of matmul | ≥ 0.50 |"));
        Console.WriteLine(string.Create(inv, $"| frozen base forward+backward (activation grads only) | {frozen:0.000} s | LoRA step = {lora / frozen:0.00}× | ≤ 1.15× |"));

        var peakLora = ChildPeak("lora-memory", steps);
        var peakFull = ChildPeak("full-memory", steps);
        var trainable = ParameterCount.Compute(shape, Lora).TrainableParameters;
        var theoretical = 12.0 * shape.TotalParameters - 16.0 * trainable; // frozen weights need no fp32 grad (4 B) nor AdamW m, v (8 B)
        var measured = peakFull - peakLora;
        Console.WriteLine(string.Create(inv, $"| peak RSS, LoRA | {peakLora / 1048576.0:0} MiB | | |"));
        Console.WriteLine(string.Create(inv, $"| peak RSS, full fine-tuning | {peakFull / 1048576.0:0} MiB | | |"));
        Console.WriteLine(string.Create(inv, $"| memory saved by LoRA | {measured / 1048576.0:0} MiB of {theoretical / 1048576.0:0} MiB theoretical (12 B × {shape.TotalParameters:N0} − 16 B × {trainable:N0}) | {measured / theoretical:0.00} | ≥ 0.90 |"));
    }

    /// <summary>Child-process entry: one kind of training for a few steps, then print the peak RSS.</summary>
    public static void RunMemoryChild(string mode, int steps)
    {
        var seconds = StepSeconds(mode == "lora-memory" ? "lora" : "full", steps);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"peak {LoraTrainer.PeakMemoryBytes()} {seconds:0.000}"));
    }

    /// <summary>
    /// The best fp32 matmul rate libtorch reaches here: the model's own GEMM shapes (tokens × hidden by
    /// hidden × intermediate, and by hidden × hidden) and a square 2048³, 10 repetitions each.
    /// </summary>
    private static double MatmulFlopRate()
    {
        var shapes = new[] { (Batch * Sequence, Dims.HiddenSize, Dims.IntermediateSize), (Batch * Sequence, Dims.HiddenSize, Dims.HiddenSize), (2048, 2048, 2048) };
        var best = 0.0;
        foreach (var (m, k, n) in shapes)
        {
            using var a = torch.randn(m, k);
            using var b = torch.randn(k, n);
            using (var warm = a.matmul(b)) { }
            const int reps = 10;
            var sw = Stopwatch.StartNew();
            for (var i = 0; i < reps; i++)
            {
                using var c = a.matmul(b);
            }
            best = Math.Max(best, 2.0 * m * k * n * reps / sw.Elapsed.TotalSeconds);
        }
        return best;
    }

    /// <summary>Median seconds per step of "lora" (AdamW on LoRA params), "frozen" (forward+backward, activation grads only) or "full".</summary>
    private static double StepSeconds(string mode, int steps) => StepSeconds(mode, steps, Dims, Lora, Batch, Sequence);

    /// <summary>Median seconds per step of one kind of training on the given model, adapter and batch shape.</summary>
    internal static double StepSeconds(string mode, int steps, LlamaDimensions dims, LoraConfig lora, int batch, int sequence)
    {
        torch.manual_seed(1);
        using var model = LlamaForCausalLM.Create(dims, seed: 1);
        model.train();
        OptimizerHelper? optimizer = null;
        switch (mode)
        {
            case "lora":
                LoraInjector.Inject(model, lora);
                optimizer = optim.AdamW(model.parameters().Where(p => p.requires_grad), lr: 1e-4);
                break;
            case "frozen":
                foreach (var p in model.parameters()) p.requires_grad = false;
                // A tiny parameter at the bottom makes backward run through every layer (activation grads only).
                model.model.layers[0].input_layernorm.weight!.requires_grad = true;
                break;
            default:
                optimizer = optim.AdamW(model.parameters(), lr: 1e-4);
                break;
        }
        using var g = new Generator(2, CPU);
        using var ids = torch.randint(0, dims.VocabSize, new long[] { batch, sequence }, generator: g);
        var times = new double[steps + 1];
        for (var i = 0; i <= steps; i++) // the first step warms up
        {
            times[i] = TrainStep(model, optimizer, ids);
        }
        optimizer?.Dispose();
        var measured = times.Skip(1).OrderBy(t => t).ToArray();
        return measured[measured.Length / 2];
    }

    /// <summary>One training step (forward, backward, AdamW when <paramref name="optimizer"/> is given) on <paramref name="ids"/> as inputs and labels; returns its seconds.</summary>
    internal static double TrainStep(LlamaForCausalLM model, OptimizerHelper? optimizer, Tensor ids)
    {
        var sw = Stopwatch.StartNew();
        using (var scope = NewDisposeScope())
        {
            var loss = model.Loss(ids, ids);
            loss.backward();
            optimizer?.step();
            optimizer?.zero_grad();
            if (optimizer is null) model.zero_grad();
        }
        return sw.Elapsed.TotalSeconds;
    }

    private static long ChildPeak(string mode, int steps)
    {
        var output = RunSelf(mode, steps.ToString(CultureInfo.InvariantCulture));
        var line = output.Split('\n').First(l => l.StartsWith("peak ", StringComparison.Ordinal));
        return long.Parse(line.Split(' ')[1], CultureInfo.InvariantCulture);
    }

    /// <summary>Runs this benchmark program again in a fresh process (so peak RSS is its own) and returns its standard output.</summary>
    internal static string RunSelf(params string[] args) => RunSelf(null, args);

    /// <summary>As <see cref="RunSelf(string[])"/>, with extra environment variables for the child.</summary>
    internal static string RunSelf(IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        var psi = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var (k, v) in environment ?? new Dictionary<string, string>()) psi.Environment[k] = v;
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet") psi.ArgumentList.Add(typeof(TrainingStepBenchmark).Assembly.Location);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"benchmark child '{string.Join(" ", args)}' exited with {p.ExitCode}:\n{output}");
        return output;
    }
}
