using System;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using LoraKit.Lora;
using LoraKit.Memory;
using LoraKit.Models;
using LoraKit.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace LoraKit.Benchmarks;

/// <summary>
/// LoRA training throughput and model-FLOPs utilisation in bf16, the way the trainer runs on a GPU
/// (bf16 base weights, fp32 LoRA matrices, AdamW on the LoRA parameters), on a SmolLM2-135M-shaped and
/// a 1B-shaped (TinyLlama-1.1B) model. MFU = the step's model FLOPs (<see cref="StepFlops"/>) per second
/// over the device's peak bf16 rate: the given one, else 989.4 TFLOP/s (H100/H200 SXM, dense) on CUDA,
/// else on the CPU the bf16 matmul rate measured in the same run.
/// Each row also gives LoraKit.Core's peak-memory estimate for the case (what LORA1006 checks against a GPU's
/// memory); on a GPU, sample the device's memory beside the run (one case per process) to hold it to it.
/// Usage: gpu-training [auto|cuda|cpu] [steps] [peak TFLOP/s] [full|small] [all|smollm2|tinyllama] [none|on|offload]. Without a CUDA device,
/// "auto" says so and measures nothing; "cpu small" runs the same code on the CPU at small sizes.
/// </summary>
internal static class GpuTrainingBenchmark
{
    private sealed record Case(string Name, LlamaDimensions Dims, int Batch, int Sequence);

    private static readonly LoraConfig Lora = new() { Rank = 16, Alpha = 32, TargetModules = new[] { "q_proj", "k_proj", "v_proj", "o_proj" } };

    /// <summary>NVIDIA's dense bf16 tensor-core peak of an H100 SXM (the H200 has the same compute).</summary>
    private const double H100PeakTflops = 989.4;

    public static void Run(string[] args)
    {
        var inv = CultureInfo.InvariantCulture;
        var deviceArg = args.Length > 0 ? args[0] : "auto";
        var steps = args.Length > 1 ? int.Parse(args[1], inv) : 10;
        var peakArg = args.Length > 2 && args[2] != "-" ? double.Parse(args[2], inv) : 0;
        var small = args.Length > 3 && args[3] == "small";
        var only = args.Length > 4 ? args[4] : "all";
        var checkpointing = LoraGradientCheckpointing.None;
        if (args.Length > 5 && !LoraGradientCheckpointingNames.TryParse(args[5], out checkpointing))
            throw new ArgumentException($"gpu-training: checkpointing '{args[5]}' is not one of {LoraGradientCheckpointingNames.Allowed}", nameof(args));
        if (only is not ("all" or "smollm2" or "tinyllama")) throw new ArgumentException($"gpu-training: case '{only}' is not one of all, smollm2, tinyllama", nameof(args));
        if (steps < 1) throw new ArgumentOutOfRangeException(nameof(args), "steps must be at least 1");

        var cuda = torch.cuda.is_available();
        if (deviceArg == "cuda" && !cuda) throw new InvalidOperationException("gpu-training cuda: TorchSharp sees no CUDA device (reference TorchSharp-cuda-linux and run on a machine with an NVIDIA GPU and driver).");
        if (deviceArg == "auto" && !cuda)
        {
            Console.WriteLine("## GPU training: not measured — TorchSharp sees no CUDA device on this machine (`eng/bench.sh gpu-training cpu 2 - small` runs the same code on the CPU).");
            return;
        }
        var device = deviceArg == "cpu" ? CPU : CUDA;
        var peak = peakArg > 0 ? peakArg * 1e12 : device.type == DeviceType.CUDA ? H100PeakTflops * 1e12 : Bf16MatmulRate();
        var peakSource = peakArg > 0 ? "given" : device.type == DeviceType.CUDA ? "H100/H200 SXM dense bf16" : "bf16 matmul measured on this CPU";

        var cases = Cases(small);
        if (only != "all") cases = cases.Where(c => c.Name.StartsWith(only, StringComparison.OrdinalIgnoreCase)).ToArray();

        Console.WriteLine($"## LoRA training in bf16 on {(device.type == DeviceType.CUDA ? "CUDA" : "the CPU")} (r={Lora.Rank} on q,k,v,o; bf16 base, fp32 LoRA, AdamW, chunked loss, " +
                          $"gradient checkpointing {LoraGradientCheckpointingNames.Of(checkpointing)}; median of {steps} steps after 2 warm-up steps)");
        Console.WriteLine();
        Console.WriteLine(string.Create(inv, $"Peak: {peak / 1e12:0.0} TFLOP/s ({peakSource})."));
        Console.WriteLine();
        Console.WriteLine("| model | batch × seq | step (s) | tokens/s | model TFLOP/s | MFU | Core's peak-memory estimate (MiB) |");
        Console.WriteLine("|---|---|---|---|---|---|---|");
        foreach (var c in cases)
        {
            var seconds = StepSeconds(c, device, steps, checkpointing);
            var flops = StepFlops.For(c.Dims, Lora, c.Batch, c.Sequence);
            var rate = flops.Total / seconds;
            Console.WriteLine(string.Create(inv,
                $"| {c.Name} | {c.Batch} × {c.Sequence} | {seconds:0.000} | {c.Batch * c.Sequence / seconds:N0} | {rate / 1e12:0.00} | {rate / peak:P1} | {LivePeakMemory.Mib(Estimate(c, checkpointing).Total)} |"));
        }
    }

    private static Case[] Cases(bool small)
    {
        ModelPresets.TryGet("smollm2-135m", out var smol);
        ModelPresets.TryGet("tinyllama", out var tiny);
        return small
            ? new[] { new Case("SmolLM2-135M-shaped, 4 layers", smol with { Layers = 4 }, 1, 128), new Case("TinyLlama-1.1B-shaped, 2 layers", tiny with { Layers = 2 }, 1, 128) }
            : new[] { new Case("SmolLM2-135M-shaped", smol, 16, 1024), new Case("TinyLlama-1.1B-shaped", tiny, 8, 1024) };
    }

    /// <summary>
    /// gpu-training-cases DIR: each full-size case as DIR/smollm2.json and DIR/tinyllama.json — its transformers
    /// config (<c>config</c>), batch, sequence and LoRA settings — so another implementation of the same step
    /// (eng/gpu/peft_bench.py) runs exactly these cases.
    /// </summary>
    public static void WriteCases(string[] args)
    {
        if (args.Length != 1) throw new ArgumentException("gpu-training-cases takes one argument: the folder to write the cases to", nameof(args));
        Directory.CreateDirectory(args[0]);
        foreach (var c in Cases(small: false))
        {
            var key = c.Name.StartsWith("SmolLM2", StringComparison.Ordinal) ? "smollm2" : "tinyllama";
            var json = $"{{\"batch\": {c.Batch}, \"sequence\": {c.Sequence}, \"rank\": {Lora.Rank}, \"alpha\": {Lora.Alpha.ToString(CultureInfo.InvariantCulture)}, " +
                       $"\"targets\": [{string.Join(", ", Lora.TargetModules.Select(t => $"\"{t}\""))}], \"config\": {LlamaForCausalLM.ToHfConfigJson(c.Dims, ScalarType.BFloat16)}}}\n";
            File.WriteAllText(Path.Combine(args[0], key + ".json"), json);
        }
    }

    /// <summary>Core's estimate for the case as this benchmark runs it: bf16 base and activations, SDPA, the chunked loss, the CUDA overhead.</summary>
    private static MemoryEstimate Estimate(Case c, LoraGradientCheckpointing checkpointing) =>
        MemoryEstimator.Estimate(ModelShape.FromLlama(c.Name, c.Dims), Lora, new MemoryOptions
        {
            GradientCheckpointing = checkpointing,
            BasePrecision = WeightPrecision.BFloat16,
            ActivationBytes = 2,
            BatchSize = c.Batch,
            SequenceLength = c.Sequence,
            FusedAttention = true,
        });

    private static double StepSeconds(Case c, Device device, int steps, LoraGradientCheckpointing checkpointing)
    {
        using var model = LlamaForCausalLM.Create(c.Dims, device, ScalarType.BFloat16, seed: 1);
        model.train();
        model.model.GradientCheckpointing = checkpointing;
        LoraInjector.Inject(model, Lora, "default", seed: 1);
        using var optimizer = optim.AdamW(model.parameters().Where(p => p.requires_grad), lr: 1e-4);
        using var g = new Generator(2, CPU);
        using var ids = torch.randint(0, c.Dims.VocabSize, new long[] { c.Batch, c.Sequence }, generator: g).to(device);
        var times = new double[steps];
        for (var i = -2; i < steps; i++)
        {
            Synchronize(device);
            var sw = Stopwatch.StartNew();
            using (var scope = NewDisposeScope())
            {
                var loss = model.Loss(ids, ids);
                loss.backward();
                optimizer.step();
                optimizer.zero_grad();
            }
            Synchronize(device);
            if (i >= 0) times[i] = sw.Elapsed.TotalSeconds;
        }
        return times.OrderBy(t => t).ElementAt(steps / 2);
    }

    private static void Synchronize(Device device)
    {
        if (device.type == DeviceType.CUDA) torch.cuda.synchronize();
    }

    private static double Bf16MatmulRate()
    {
        using var a = torch.randn(new long[] { 1024, 1024 }, dtype: ScalarType.BFloat16);
        using (var warm = a.matmul(a)) { }
        const int reps = 5;
        var sw = Stopwatch.StartNew();
        for (var i = 0; i < reps; i++)
        {
            using var c = a.matmul(a);
        }
        return 2.0 * 1024 * 1024 * 1024 * reps / sw.Elapsed.TotalSeconds;
    }
}
