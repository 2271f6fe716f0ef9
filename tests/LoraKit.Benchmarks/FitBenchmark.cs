using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using LoraKit.Lora;
using LoraKit.Memory;
using LoraKit.Modeling;
using LoraKit.Models;
using LoraKit.Quantization;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LoraKit.Benchmarks;

/// <summary>
/// Fitting the real job (issue 22), on this CPU, in one run:
/// - gradient checkpointing on a SmolLM2-135M-shaped model at 1 × 1,024 tokens (LoRA r=16 on q,k,v,o, fp32): live peak
///   and step time with ÷ without (goals ≤ 0.4 and ≤ 1.4);
/// - the chunked loss against the whole-logits loss at vocab 49,152: the loss's own live peak (goal ≤ 0.3);
/// - documents packing against padded batches on tiny.jsonl-like data of mixed lengths: tokens/s (real tokens);
/// - Core's estimate ÷ measured live peak for 8 configurations (with and without each switch, fp32, bf16, NF4; goal 0.9–1.1),
///   and for 4 on Gemma 2 and Phi-3 shapes at the same sizes (families).
/// Every peak is measured in its own process (<see cref="LivePeakMemory"/>); times are interleaved rounds, median [min–max].
/// Usage: fit [rounds] [all|checkpointing|loss|packing|calibrate|families]
/// </summary>
internal static class FitBenchmark
{
    private static readonly LlamaDimensions Smol = ModelPresets.TryGet("smollm2-135m", out var d) ? d : throw new InvalidOperationException("no smollm2-135m preset");
    private static readonly LoraConfig Qkvo16 = new() { Rank = 16, Alpha = 32, TargetModules = new[] { "q_proj", "k_proj", "v_proj", "o_proj" } };
    private static readonly LoraConfig AllLinearDropout = new()
    {
        Rank = 16, Alpha = 32, Dropout = 0.1, TargetModules = new[] { "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj" },
    };

    /// <summary>The same architecture, tiny: one step of it warms the code paths before a memory baseline is taken.</summary>
    private static LlamaDimensions Tiny(LlamaDimensions dims) => dims with { HiddenSize = 64, IntermediateSize = 128, Layers = 1, AttentionHeads = 2, KeyValueHeads = 1, VocabSize = 256 };

    /// <summary>One training configuration: model, adapter, batch, the switches, and how the base is stored.</summary>
    private sealed record Case(string Key, string Name, LlamaDimensions Dims, LoraConfig Lora, int Batch, int Sequence, ScalarType Dtype, bool Nf4,
        LoraGradientCheckpointing Checkpointing, bool Chunked, bool Documents)
    {
        public MemoryOptions Options => new()
        {
            BasePrecision = Nf4 ? WeightPrecision.NF4 : Dtype == ScalarType.Float32 ? WeightPrecision.Float32 : WeightPrecision.BFloat16,
            ActivationBytes = Dtype == ScalarType.Float32 ? 4 : 2,
            BatchSize = Batch,
            SequenceLength = Sequence,
            GradientCheckpointing = Checkpointing,
            ChunkedLoss = Chunked,
            AttentionMask = Documents,
            Device = MemoryDevice.Cpu,
        };

        public MemoryEstimate Estimate() => MemoryEstimator.Estimate(ModelShape.FromLlama(Key, Dims), Lora, Options);
    }

    private static readonly LlamaDimensions Smol8 = Smol with { Layers = 8 };

    private static readonly Case[] Calibration =
    {
        new("c-fp32-full", "fp32, whole-logits loss", Smol8, Qkvo16, 2, 512, ScalarType.Float32, false, LoraGradientCheckpointing.None, false, false),
        new("c-fp32", "fp32, chunked loss", Smol8, Qkvo16, 2, 512, ScalarType.Float32, false, LoraGradientCheckpointing.None, true, false),
        new("c-fp32-ckpt", "fp32, checkpointing", Smol8, Qkvo16, 2, 512, ScalarType.Float32, false, LoraGradientCheckpointing.On, true, false),
        new("c-fp32-ckpt-drop", "fp32, checkpointing, all-linear + dropout 0.1", Smol8, AllLinearDropout, 2, 512, ScalarType.Float32, false, LoraGradientCheckpointing.Offload, true, false),
        new("c-fp32-docs", "fp32, documents packing (attention mask)", Smol8, Qkvo16, 2, 512, ScalarType.Float32, false, LoraGradientCheckpointing.None, true, true),
        new("c-bf16", "bf16, chunked loss", Smol8, Qkvo16, 2, 512, ScalarType.BFloat16, false, LoraGradientCheckpointing.None, true, false),
        new("c-bf16-ckpt-full", "bf16, checkpointing, whole-logits loss", Smol8, AllLinearDropout, 2, 512, ScalarType.BFloat16, false, LoraGradientCheckpointing.On, false, false),
        new("c-nf4-ckpt", "NF4 (bf16 compute), checkpointing", Smol8, AllLinearDropout, 2, 512, ScalarType.BFloat16, true, LoraGradientCheckpointing.On, true, false),
    };

    /// <summary>Gemma 2 and Phi-3 at SmolLM2's sizes: their own terms (eager soft-capped attention with alternating windows,
    /// sandwich norms, GELU; fused qkv / gate_up projections) at a footprint the calibration rows share.</summary>
    private static readonly LlamaDimensions Gemma2Small = new()
    {
        ModelType = "gemma2", HiddenSize = 576, IntermediateSize = 1536, Layers = 8, AttentionHeads = 9, KeyValueHeads = 3, HeadDim = 64,
        VocabSize = 49152, TieWordEmbeddings = true, RmsNormEps = 1e-6, MaxPositionEmbeddings = 8192, HiddenActivation = ModelFamily.GeluTanh,
        QueryPreAttentionScalar = 64, AttentionLogitSoftcap = 50, FinalLogitSoftcap = 30, SlidingWindow = 256, AlternatingWindow = true,
    };

    private static readonly LlamaDimensions Phi3Small = new()
    {
        ModelType = "phi3", HiddenSize = 576, IntermediateSize = 1536, Layers = 8, AttentionHeads = 9, KeyValueHeads = 3, VocabSize = 32064,
        RmsNormEps = 1e-5, MaxPositionEmbeddings = 4096,
    };

    private static readonly LoraConfig PhiAllLinear = new() { Rank = 16, Alpha = 32, Dropout = 0.1, TargetModules = new[] { "qkv_proj", "o_proj", "gate_up_proj", "down_proj" } };

    private static readonly Case[] Families =
    {
        new("f-gemma2-fp32", "Gemma 2 shape, fp32, chunked loss", Gemma2Small, Qkvo16, 2, 512, ScalarType.Float32, false, LoraGradientCheckpointing.None, true, false),
        new("f-gemma2-bf16-ckpt", "Gemma 2 shape, bf16, checkpointing, all-linear + dropout 0.1", Gemma2Small, AllLinearDropout, 2, 512, ScalarType.BFloat16, false, LoraGradientCheckpointing.On, true, false),
        new("f-phi3-fp32-ckpt", "Phi-3 shape, fp32, checkpointing, all-linear + dropout 0.1", Phi3Small, PhiAllLinear, 2, 512, ScalarType.Float32, false, LoraGradientCheckpointing.On, true, false),
        new("f-phi3-bf16", "Phi-3 shape, bf16, chunked loss, documents packing", Phi3Small, PhiAllLinear, 2, 512, ScalarType.BFloat16, false, LoraGradientCheckpointing.None, true, true),
    };

    private static readonly Case Plain1024 = new("smol-plain", "SmolLM2-135M shape, 1 × 1,024, fp32, no checkpointing", Smol, Qkvo16, 1, 1024, ScalarType.Float32, false, LoraGradientCheckpointing.None, true, false);
    private static readonly Case Ckpt1024 = Plain1024 with { Key = "smol-ckpt", Name = "SmolLM2-135M shape, 1 × 1,024, fp32, checkpointing", Checkpointing = LoraGradientCheckpointing.On };

    private static IEnumerable<Case> AllCases => Calibration.Concat(Families).Append(Plain1024).Append(Ckpt1024);

    public static void Run(string[] args)
    {
        var inv = CultureInfo.InvariantCulture;
        var rounds = args.Length > 0 ? int.Parse(args[0], inv) : 3;
        if (rounds < 1) throw new ArgumentOutOfRangeException(nameof(args), "rounds must be at least 1");
        var only = args.Length > 1 ? args[1] : "all";
        Console.WriteLine($"## Fitting the real job (CPU: {CpuModel()}, {Environment.ProcessorCount} cores; live peak = peak RSS − warm runtime, MALLOC_MMAP_THRESHOLD_=65536, one process each)");
        Console.WriteLine();
        switch (only)
        {
            case "calibrate": Calibrate(Calibration, "SmolLM2-135M shape cut to 8 layers"); return;
            case "families": Calibrate(Families, "Gemma 2 and Phi-3 at SmolLM2-135M's sizes, 8 layers"); return;
            case "checkpointing": Checkpointing(rounds); return;
            case "loss": ChunkedLoss(); return;
            case "packing": Packing(rounds); return;
            case "all": break;
            default: throw new ArgumentException($"fit: part '{only}' is not one of all, checkpointing, loss, packing, calibrate, families", nameof(args));
        }
        Checkpointing(rounds);
        Console.WriteLine();
        ChunkedLoss();
        Console.WriteLine();
        Packing(rounds);
        Console.WriteLine();
        Calibrate(Calibration, "SmolLM2-135M shape cut to 8 layers");
        Console.WriteLine();
        Calibrate(Families, "Gemma 2 and Phi-3 at SmolLM2-135M's sizes, 8 layers");
    }

    private static void Checkpointing(int rounds)
    {
        var inv = CultureInfo.InvariantCulture;
        var plain = Measure(Plain1024.Key, 2);
        var ckpt = Measure(Ckpt1024.Key, 2);
        var times = InterleavedSeconds(new[] { Plain1024, Ckpt1024 }, rounds);
        var ratios = times[1].Zip(times[0], (a, b) => a / b).ToList();
        Console.WriteLine($"### Gradient checkpointing, SmolLM2-135M shape at 1 × 1,024 tokens (LoRA r=16 on q,k,v,o, fp32, chunked loss; {rounds} interleaved rounds)");
        Console.WriteLine();
        Console.WriteLine("| measurement | without | with | with ÷ without | goal |");
        Console.WriteLine("|---|---|---|---|---|");
        var peak = (double)ckpt / plain;
        Console.WriteLine(string.Create(inv, $"| live peak of the LoRA step | {Mib(plain)} MiB | {Mib(ckpt)} MiB | {peak:0.00} | ≤ 0.4 {(peak <= 0.4 ? "PASS" : "MISS")} |"));
        Console.WriteLine(string.Create(inv, $"| step time, median [min–max] s | {Spread(times[0], "0.00")} | {Spread(times[1], "0.00")} | {Spread(ratios, "0.00")} | ≤ 1.4 {(Median(ratios) <= 1.4 ? "PASS" : "MISS")} |"));
        Console.WriteLine(string.Create(inv, $"| Core's estimate (÷ measured) | {Mib(Plain1024.Estimate().Total)} MiB ({Plain1024.Estimate().Total / (double)plain:0.00}) | {Mib(Ckpt1024.Estimate().Total)} MiB ({Ckpt1024.Estimate().Total / (double)ckpt:0.00}) | {(double)Ckpt1024.Estimate().Total / Plain1024.Estimate().Total:0.00} | |"));
    }

    private static void ChunkedLoss()
    {
        var inv = CultureInfo.InvariantCulture;
        var full = LivePeakMemory.Measure(LivePeakMemory.LiveTensors, "fit-loss-child", "full").Live;
        var chunked = LivePeakMemory.Measure(LivePeakMemory.LiveTensors, "fit-loss-child", "chunked").Live;
        Console.WriteLine($"### The loss alone: LM head + cross-entropy, forward and backward, {LossTokens:N0} tokens, hidden {Smol.HiddenSize}, vocab {Smol.VocabSize:N0}, fp32 (chunks of {MemoryEstimator.LossChunkTokens(Smol.VocabSize)} tokens)");
        Console.WriteLine();
        Console.WriteLine("| loss | live peak | ÷ whole logits | goal |");
        Console.WriteLine("|---|---|---|---|");
        Console.WriteLine(string.Create(inv, $"| whole logits | {Mib(full)} MiB | 1.00 | |"));
        var ratio = (double)chunked / full;
        Console.WriteLine(string.Create(inv, $"| chunked | {Mib(chunked)} MiB | {ratio:0.00} | ≤ 0.3 {(ratio <= 0.3 ? "PASS" : "MISS")} |"));
    }

    private const int LossTokens = 4096;

    /// <summary>Child: the head's loss on <see cref="LossTokens"/> hidden states that need a gradient (the model below it is not built).</summary>
    public static void RunLossChild(string kind)
    {
        LivePeakMemory.RunChild(() =>
        {
            var head = nn.Linear(Smol.HiddenSize, Smol.VocabSize, hasBias: false);
            foreach (var p in head.parameters()) p.requires_grad = false;
            using var g = new Generator(3, CPU);
            var hidden = torch.randn(new long[] { 1, LossTokens, Smol.HiddenSize }, generator: g).requires_grad_(true);
            var labels = torch.randint(0, Smol.VocabSize, new long[] { 1, LossTokens }, generator: g);
            return () =>
            {
                using var scope = NewDisposeScope();
                var loss = kind == "full"
                    ? LlamaForCausalLM.CausalLmLoss(head.call(hidden), labels)
                    : ChunkedCausalLmLoss.Loss(head, Smol.VocabSize, hidden, labels);
                loss.backward();
            };
        });
    }

    private static void Packing(int rounds)
    {
        var inv = CultureInfo.InvariantCulture;
        // tiny.jsonl-like: short text lines of mixed lengths (8–120 byte tokens), one example per row when padded.
        var dims = new LlamaDimensions { ModelType = "llama", HiddenSize = 256, IntermediateSize = 688, Layers = 4, AttentionHeads = 4, VocabSize = Data.ByteTokenizer.Instance.VocabSize, MaxPositionEmbeddings = 256 };
        var random = new Random(5);
        var examples = Enumerable.Range(0, 96).Select(i => Data.Example.FromText(new string((char)('a' + i % 26), 8 + random.Next(113)))).ToArray();
        var padded = Data.TokenizedDataset.Create(examples, Data.ByteTokenizer.Instance, 128, Data.SequenceMode.Pad);
        var documents = Data.TokenizedDataset.Create(examples, Data.ByteTokenizer.Instance, 128, Data.SequenceMode.Documents);
        using var model = LlamaForCausalLM.Create(dims, seed: 1);
        model.train();
        LoraInjector.Inject(model, Qkvo16, "default", seed: 1);
        using var optimizer = optim.AdamW(model.parameters().Where(p => p.requires_grad), lr: 1e-4);
        double Epoch(Data.TokenizedDataset t)
        {
            var sw = Stopwatch.StartNew();
            foreach (var b in t.Batches(8, shuffle: false, seed: 0))
            {
                using var batch = b;
                using var scope = NewDisposeScope();
                var loss = model.Loss(batch.InputIds, batch.Labels, batch.NeedsMask ? batch.AttentionMask : null, batch.PositionIds);
                loss.backward();
                optimizer.step();
                optimizer.zero_grad();
            }
            return sw.Elapsed.TotalSeconds;
        }
        Epoch(padded);
        Epoch(documents);
        long realTokens = examples.Sum(e => Data.TokenizedDataset.EncodeExample(e, Data.ByteTokenizer.Instance).InputIds.Length);
        var pad = new List<double>();
        var docs = new List<double>();
        for (var r = 0; r < rounds; r++)
        {
            pad.Add(realTokens / Epoch(padded));
            docs.Add(realTokens / Epoch(documents));
        }
        var ratios = docs.Zip(pad, (a, b) => a / b).ToList();
        Console.WriteLine($"### Documents packing vs padded batches ({examples.Length} text examples of 10–124 tokens, rows of 128, batch 8, h256×4 model, LoRA r=16 q,k,v,o, fp32; {rounds} interleaved epochs)");
        Console.WriteLine();
        Console.WriteLine("| rows | rows per epoch | real tokens/s, median [min–max] | ÷ padded |");
        Console.WriteLine("|---|---|---|---|");
        Console.WriteLine(string.Create(inv, $"| one example per row, padded (--pad) | {padded.RowCount} | {Spread(pad, "N0")} | 1.00 |"));
        Console.WriteLine(string.Create(inv, $"| documents packing (--packing documents) | {documents.RowCount} | {Spread(docs, "N0")} | {Spread(ratios, "0.00")} |"));
    }

    private static void Calibrate(IReadOnlyList<Case> cases, string shape)
    {
        var inv = CultureInfo.InvariantCulture;
        Console.WriteLine($"### Core's estimate ÷ measured live peak ({shape}, batch 2 × 512, 2 steps each; goal 0.9–1.1)");
        Console.WriteLine();
        Console.WriteLine("| configuration | estimate (weights / LoRA state / activations / loss) | measured | estimate ÷ measured | goal |");
        Console.WriteLine("|---|---|---|---|---|");
        var ratios = new List<double>();
        foreach (var c in cases)
        {
            var measured = Measure(c.Key, 2);
            var e = c.Estimate();
            var ratio = (double)e.Total / measured;
            ratios.Add(ratio);
            Console.WriteLine(string.Create(inv,
                $"| {c.Name} | {Mib(e.Total)} MiB ({Mib(e.BaseWeights)} / {Mib(e.LoraWeights + e.LoraGradients + e.OptimizerState)} / {Mib(e.Activations)} / {Mib(e.Logits)}) | {Mib(measured)} MiB | {ratio:0.00} | {(ratio is >= 0.9 and <= 1.1 ? "PASS" : "MISS")} |"));
        }
        Console.WriteLine();
        Console.WriteLine(string.Create(inv, $"Estimate ÷ measured over the {ratios.Count} configurations: {ratios.Min():0.00}–{ratios.Max():0.00}."));
    }

    private static long Measure(string key, int steps) =>
        LivePeakMemory.Measure(LivePeakMemory.LiveTensors, "fit-child", key, steps.ToString(CultureInfo.InvariantCulture)).Live;

    /// <summary>Child: one case trained for <paramref name="steps"/> steps under <see cref="LivePeakMemory"/>.</summary>
    public static void RunChild(string key, int steps)
    {
        var c = AllCases.FirstOrDefault(x => x.Key == key) ?? throw new ArgumentException($"no fit case '{key}'", nameof(key));
        LivePeakMemory.RunChild(
            () =>
            {
                var runner = new Runner(c, c.Dims);
                return () =>
                {
                    for (var i = 0; i < steps; i++) runner.Step();
                };
            },
            warmUp: () =>
            {
                var tiny = new Runner(c with { Batch = 1, Sequence = 16 }, Tiny(c.Dims));
                tiny.Step();
                GC.KeepAlive(tiny);
            });
    }

    private static List<double>[] InterleavedSeconds(Case[] cases, int rounds)
    {
        var runners = cases.Select(c => new Runner(c, c.Dims)).ToArray();
        try
        {
            foreach (var r in runners) r.Step();
            var times = cases.Select(_ => new List<double>()).ToArray();
            for (var round = 0; round < rounds; round++)
                for (var i = 0; i < runners.Length; i++)
                    times[i].Add(runners[i].Step());
            return times;
        }
        finally
        {
            foreach (var r in runners) r.Dispose();
        }
    }

    /// <summary>A case's model with LoRA, its AdamW and a fixed batch (documents: four examples per row).</summary>
    private sealed class Runner : IDisposable
    {
        private readonly OptimizerHelper _optimizer;
        private readonly Tensor _ids;
        private readonly Tensor? _mask;
        private readonly Tensor? _positions;

        public Runner(Case c, LlamaDimensions dims)
        {
            torch.manual_seed(1);
            Model = LlamaForCausalLM.Create(dims, dtype: c.Dtype, seed: 1);
            if (c.Nf4) Nf4Model.QuantizeInPlace(Model, new Nf4Options { ComputeDtype = c.Dtype });
            Model.train();
            LoraInjector.Inject(Model, c.Lora, "default", seed: 1);
            Model.model.GradientCheckpointing = c.Checkpointing;
            Model.ChunkedLoss = c.Chunked;
            _optimizer = optim.AdamW(Model.parameters().Where(p => p.requires_grad), lr: 1e-4);
            using var g = new Generator(2, CPU);
            _ids = torch.randint(0, dims.VocabSize, new long[] { c.Batch, c.Sequence }, generator: g);
            if (c.Documents)
            {
                var quarter = Math.Max(1, c.Sequence / 4);
                var docs = torch.arange(c.Sequence, dtype: ScalarType.Int64).div(quarter, rounding_mode: RoundingMode.floor).add(1);
                _mask = docs.unsqueeze(0).expand(c.Batch, c.Sequence).contiguous();
                _positions = torch.arange(c.Sequence, dtype: ScalarType.Int64).remainder(quarter).unsqueeze(0).expand(c.Batch, c.Sequence).contiguous();
            }
        }

        public LlamaForCausalLM Model { get; }

        public double Step()
        {
            var sw = Stopwatch.StartNew();
            using (var scope = NewDisposeScope())
            {
                var loss = Model.Loss(_ids, _ids, _mask, _positions);
                loss.backward();
                _optimizer.step();
                _optimizer.zero_grad();
            }
            return sw.Elapsed.TotalSeconds;
        }

        public void Dispose()
        {
            _optimizer.Dispose();
            _ids.Dispose();
            _mask?.Dispose();
            _positions?.Dispose();
            Model.Dispose();
        }
    }

    private static string CpuModel()
    {
        try
        {
            return File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown CPU";
        }
        catch (IOException)
        {
            return "unknown CPU";
        }
    }

    private static double Median(IReadOnlyList<double> values) => values.OrderBy(v => v).ElementAt(values.Count / 2);

    private static string Spread(IReadOnlyList<double> values, string format) =>
        $"{Median(values).ToString(format, CultureInfo.InvariantCulture)} [{values.Min().ToString(format, CultureInfo.InvariantCulture)}–{values.Max().ToString(format, CultureInfo.InvariantCulture)}]";

    private static string Mib(long bytes) => LivePeakMemory.Mib(bytes);
}
