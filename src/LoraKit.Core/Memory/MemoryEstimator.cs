using LoraKit.Models;
using LoraKit.Quantization;

namespace LoraKit.Memory;

/// <summary>Storage of the frozen base weights.</summary>
public enum WeightPrecision { Float32, BFloat16, Float16, Int8, NF4 }

/// <summary>Where the run's tensors live: a CUDA GPU (the runtime's overhead modelled), or the CPU (figures above the warm runtime).</summary>
public enum MemoryDevice { Cuda, Cpu }

/// <summary>What the memory estimate assumes about the run.</summary>
public sealed record MemoryOptions
{
    public WeightPrecision BasePrecision { get; init; } = WeightPrecision.BFloat16;
    public int BatchSize { get; init; } = 1;
    public int SequenceLength { get; init; } = 512;

    /// <summary>Bytes per saved activation element: 2 under bf16/fp16 autocast, 4 in fp32 (CPU).</summary>
    public int ActivationBytes { get; init; } = 2;

    /// <summary>Keep only each layer's input and recompute the rest in backward; offload keeps those inputs in host memory (CUDA).</summary>
    public LoraGradientCheckpointing GradientCheckpointing { get; init; }

    /// <summary>The loss in token chunks (the runtime's default): no [batch, seq, vocab] logits.</summary>
    public bool ChunkedLoss { get; init; } = true;

    /// <summary>
    /// The batch needs an explicit [batch, 1, seq, seq] attention mask: padded rows (--pad) or several examples per row
    /// (--packing documents). Full concat-packed rows use the causal kernel without one.
    /// </summary>
    public bool AttentionMask { get; init; }

    /// <summary>Fused (flash / SDPA) attention never materialises the s×s score matrix.</summary>
    public bool FusedAttention { get; init; } = true;

    public MemoryDevice Device { get; init; } = MemoryDevice.Cuda;

    /// <summary>
    /// The runtime's fixed cost. Null (default): on CUDA the modelled context and allocator cache
    /// (<see cref="MemoryEstimator.CudaContextBytes"/>, <see cref="MemoryEstimator.AllocatorCacheFraction"/>); on the CPU 0.
    /// </summary>
    public long? OverheadBytes { get; init; }
}

/// <summary>An estimate of peak training memory, by part, in bytes; <see cref="HostOffload"/> is host memory, not in <see cref="Total"/>.</summary>
public sealed record MemoryEstimate(long BaseWeights, long LoraWeights, long LoraGradients, long OptimizerState, long Activations, long Logits, long Overhead)
{
    public long Total => BaseWeights + LoraWeights + LoraGradients + OptimizerState + Activations + Logits + Overhead;

    public double TotalGiB => Total / (1024.0 * 1024 * 1024);

    /// <summary>Layer inputs kept in pinned host memory by offloaded checkpointing (CUDA).</summary>
    public long HostOffload { get; init; }
}

/// <summary>
/// Peak training-memory estimate for a LoRA run. The seed's rules show up in the arithmetic: a 4-bit
/// base still pays full-precision LoRA state (16 B per trainable parameter whatever the base
/// precision), and more targets or higher rank cost more.
/// </summary>
public static class MemoryEstimator
{
    /// <summary>
    /// The float32 logits one chunk of the chunked loss may hold (the runtime's <c>ChunkedCausalLmLoss</c>): 32 MiB, i.e.
    /// 170 tokens of a 49,152-token vocabulary, 65 of Llama 3's 128,256 — small against activations, large enough that
    /// each chunk is still one efficient matmul.
    /// </summary>
    public const long LossChunkBytes = 32L * 1024 * 1024;

    /// <summary>Tokens per chunk of the chunked loss for a vocabulary of <paramref name="vocab"/>: <see cref="LossChunkBytes"/> of float32 logits, at least 1.</summary>
    public static long LossChunkTokens(long vocab) => Math.Max(1, LossChunkBytes / (4 * Math.Max(1, vocab)));

    /// <summary>Bytes each trainable LoRA parameter costs: fp32 weight, fp32 gradient, AdamW's two fp32 moments.</summary>
    public const int BytesPerTrainableParameter = 4 + 4 + 8;

    /// <summary>
    /// The CUDA context LoraKit's process holds before its first tensor (driver context, cuBLAS handles and workspace,
    /// loaded kernels): 768 MiB, the size PyTorch 2.11 / CUDA 13 processes show on an H200 (README, "Checked on a GPU").
    /// Re-measured by eng/gpu/fit.sh.
    /// </summary>
    public const long CudaContextBytes = 768L * 1024 * 1024;

    /// <summary>
    /// What PyTorch's caching allocator holds beyond the live tensors (freed blocks it keeps, fragmentation), as a share of
    /// the tensors that come and go in a step (activations, logits, gradients): 10 %. From the H200 figures of the same
    /// step in transformers + PEFT: nvidia-smi's peak − max_memory_allocated = 2,625 and 2,737 MiB at 21,942 and
    /// 21,122 MiB allocated, i.e. the context above plus 8.5–9.3 % (README, "Checked on a GPU"); re-measured by eng/gpu/fit.sh.
    /// </summary>
    public const double AllocatorCacheFraction = 0.10;

    public static MemoryEstimate Estimate(ModelShape model, LoraConfig config, MemoryOptions options)
    {
        if (options.BatchSize < 1) throw new ArgumentOutOfRangeException(nameof(options), "BatchSize must be at least 1.");
        if (options.SequenceLength < 1) throw new ArgumentOutOfRangeException(nameof(options), "SequenceLength must be at least 1.");
        var count = ParameterCount.Compute(model, config);
        var trainable = count.TrainableParameters;
        var activations = ActivationBytes(model, config, options);
        var logits = LogitBytes(model, options);
        var overhead = options.OverheadBytes ?? (options.Device == MemoryDevice.Cuda
            ? CudaContextBytes + (long)(AllocatorCacheFraction * (activations + logits + trainable * 4))
            : 0);
        return new MemoryEstimate(
            BaseWeights: BaseWeightBytes(model, options.BasePrecision),
            LoraWeights: trainable * 4,
            LoraGradients: trainable * 4,
            OptimizerState: trainable * 8,
            Activations: activations,
            Logits: logits,
            Overhead: overhead) { HostOffload = Offloads(options) && model.Llama is { } d ? HiddenStateBytes(d, options) * d.Layers : 0 };
    }

    /// <summary>Offloaded checkpointing moves the layer inputs to host memory only on CUDA; on the CPU it is plain checkpointing.</summary>
    private static bool Offloads(MemoryOptions o) => o.GradientCheckpointing == LoraGradientCheckpointing.Offload && o.Device == MemoryDevice.Cuda;

    private static long HiddenStateBytes(LlamaDimensions d, MemoryOptions o) => (long)o.BatchSize * o.SequenceLength * d.HiddenSize * o.ActivationBytes;

    public static long BaseWeightBytes(ModelShape model, WeightPrecision precision)
    {
        var total = model.TotalParameters;
        switch (precision)
        {
            case WeightPrecision.Float32: return total * 4;
            case WeightPrecision.BFloat16:
            case WeightPrecision.Float16: return total * 2;
        }
        // Quantised: linear weights (not the output head) in the quantised format, everything else bf16.
        long quantised = 0, perRowScales = 0;
        foreach (var l in model.Linears.Where(l => !l.IsOutputHead && !l.SharesWeight))
        {
            quantised += (long)l.InFeatures * l.OutFeatures * l.Count;
            perRowScales += (long)l.OutFeatures * l.Count;
        }
        var rest = total - quantised;
        var q = precision == WeightPrecision.Int8
            ? quantised + perRowScales * 4
            : Nf4.MemoryBytes(quantised); // packed codes + a float32 absmax per block of 64
        return q + rest * 2;
    }

    /// <summary>
    /// What training keeps for backward at its peak, and the working set of backward itself.
    /// Without checkpointing: every layer's saved tensors (b·s·(6h + 3·kv + 4i) elements: norms' inputs and outputs,
    /// q/k/v and the attention output, the MLP's gate, up, activation and product) and the adapters' (<see cref="LoraActivationBytes"/>).
    /// With checkpointing: the hidden state entering each layer (on the GPU unless offloaded: then the one in flight and the
    /// one being brought back) plus one layer's saved tensors while it is recomputed. Both pay backward's working set —
    /// the gradient of the hidden state and of the MLP's intermediate (b·s·(2h + 2i))— and, with an explicit mask,
    /// the [b, 1, s, s] boolean mask, its float form in the attention kernel, and the s×s pieces it is built from.
    /// </summary>
    public static long ActivationBytes(ModelShape model, LoraConfig config, MemoryOptions o)
    {
        long b = o.BatchSize, s = o.SequenceLength;
        if (model.Llama is { } d)
        {
            long h = d.HiddenSize, kv = d.KeyValueDim, i = d.IntermediateSize, layers = d.Layers;
            // Gemma 2's two extra norms per layer keep their inputs too.
            long perLayer = b * s * (6 * h + 3 * kv + 4 * i + (d.Family.SandwichNorms ? 2 * h : 0));
            // Unfused attention keeps scores and probabilities, b·heads·s·keys each; a sliding window of W
            // keys bounds keys by min(s, W) in the layers that use it. Gemma 2 always runs the eager path (its
            // scores are soft-capped), which masks the window instead of cutting it, so every layer holds s keys, and
            // keeps per score: the tanh's output (compute dtype), softmax's float32 output and, in 16-bit, the copy cast
            // back for the product with v — 8 bytes in fp32 and in bf16 (the Gemma 2 rows of `eng/bench.sh fit 1
            // families` read 1.10 with four copies of windowed keys counted).
            var eager = d.Family.SandwichNorms;
            long ab = o.ActivationBytes;
            long eagerBytes = (d.AttentionLogitSoftcap > 0 ? ab : 0) + 4 + (ab != 4 ? ab : 0);
            long AttentionBytes(int layer) => eager
                ? eagerBytes * b * d.AttentionHeads * s * s
                : o.FusedAttention ? 0 : 2 * ab * b * d.AttentionHeads * s * AttendedKeys(d, layer, s);
            long attention = 0, largestAttention = 0;
            for (var l = 0; l < d.Layers; l++)
            {
                attention += AttentionBytes(l);
                largestAttention = Math.Max(largestAttention, AttentionBytes(l));
            }
            var lora = LoraActivationBytes(model, config, o);
            long backward = b * s * (2 * h + 2 * i) * o.ActivationBytes;
            long mask = o.AttentionMask ? b * s * s * (1 + o.ActivationBytes) + 2 * s * s : 0;
            if (o.GradientCheckpointing == LoraGradientCheckpointing.None)
                return perLayer * layers * o.ActivationBytes + attention + lora + backward + mask;
            // With checkpointing, the adapters' saved tensors are recomputed too: one layer's worth is live.
            long inputs = Offloads(o) ? 2 : layers + 1;
            return (inputs * b * s * h + perLayer) * o.ActivationBytes + largestAttention + lora / Math.Max(1, layers) + backward + mask;
        }
        // Custom models: the input of each linear layer is kept for backward.
        long saved = model.Linears.Sum(l => (long)l.InFeatures * l.Count);
        return b * s * saved * o.ActivationBytes + LoraActivationBytes(model, config, o);
    }

    /// <summary>Keys a query of <paramref name="layer"/> attends to at most: the sequence, or the sliding window when smaller.</summary>
    public static long AttendedKeys(LlamaDimensions d, int layer, long sequence) =>
        d.AttentionWindow(layer) is > 0 and var w && w < sequence ? w : sequence;

    /// <summary>
    /// What backward keeps for the adapters (LoRA runs in fp32 whatever the base precision): each adapted
    /// module's r-dimensional A output (4 B); with dropout, the dropped fp32 input A multiplies (4 B × in)
    /// and the bool mask (1 B × in); without dropout under a 16-bit base, the fp32 copy of the input (4 B × in).
    /// </summary>
    public static long LoraActivationBytes(ModelShape model, LoraConfig config, MemoryOptions o)
    {
        long tokens = (long)o.BatchSize * o.SequenceLength;
        var match = TargetMatcher.Match(model, config.TargetModules);
        long perToken = 0;
        foreach (var m in match.Modules)
        {
            long input = m.InFeatures;
            perToken += 4L * config.Rank;
            if (config.Dropout > 0) perToken += 5 * input;
            else if (o.ActivationBytes != 4) perToken += 4 * input;
        }
        return tokens * perToken;
    }

    /// <summary>
    /// The loss's own memory at its peak, the start of backward: log-softmax's saved float32 output, the gradient
    /// nll_loss hands it and the gradient it gives the logits — b·s·V·12 bytes (+ two compute-dtype values with Gemma 2's final soft-capping).
    /// The whole logits in the compute dtype are gone by then (the model's loss drops them before backward; the bench's
    /// "bf16, checkpointing, whole-logits loss" row measured 1.16 with them counted).
    /// Chunked (<see cref="LossChunkTokens"/>): the same per chunk of tokens plus, in bf16, the chunk's 16-bit logits,
    /// which live through its recompute (b·s·V·2 for that chunk), plus the float32 gradient of the final hidden state
    /// (b·s·h·4), which backward assembles chunk by chunk.
    /// </summary>
    public static long LogitBytes(ModelShape model, MemoryOptions o)
    {
        if (model.Llama is not { } d) return 0;
        long tokens = (long)o.BatchSize * o.SequenceLength, vocab = d.VocabSize;
        long perElement = 12 + (o.ChunkedLoss && o.ActivationBytes != 4 ? o.ActivationBytes : 0);
        // Gemma 2's final soft-capping (tanh, in the compute dtype) keeps its input and output besides: two more values
        // per logit (8 bytes in fp32; 4 in bf16, where counting 8 read 1.13 in `eng/bench.sh fit 1 families`).
        if (d.FinalLogitSoftcap > 0) perElement += 2 * o.ActivationBytes;
        if (!o.ChunkedLoss) return tokens * vocab * perElement;
        return Math.Min(tokens, LossChunkTokens(vocab)) * vocab * perElement + tokens * d.HiddenSize * 4;
    }
}
