using LoraKit.Modeling;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LoraKit.Quantization;

/// <summary>
/// A frozen linear layer whose weight is stored NF4 (bitsandbytes' Linear4bit): <c>weight</c> holds the packed
/// codes (uint8 [(out·in + 1) / 2, 1], bitsandbytes' layout) and <c>absmax</c> one float32 per block. Forward
/// casts the input to <see cref="ComputeDtype"/> (bf16 or fp32), dequantizes the weight a chunk of output rows at a
/// time and multiplies; backward gives the input gradient by dequantizing again, so no full-precision weight is
/// kept between forward and backward (a custom autograd function saves nothing but a reference to this layer).
/// The weight never trains; a bias, when present, is an ordinary (frozen) parameter.
/// </summary>
public sealed class Nf4Linear : nn.Module<Tensor, Tensor>
{
    /// <summary>Default of <see cref="ChunkElements"/>: 4 Mi values (16 MiB in float32).</summary>
    public const long DefaultChunkElements = 1L << 22;

    private readonly Dictionary<ScalarType, Tensor> _pairTables = new();

    public Nf4Linear(Nf4Blocks blocks, long outFeatures, long inFeatures, Tensor? bias, ScalarType computeDtype, Device? device = null, string sourceDtype = "float32")
        : base(nameof(Nf4Linear))
    {
        if (blocks is null) throw new ArgumentNullException(nameof(blocks));
        if (blocks.Count != outFeatures * inFeatures)
            throw new ArgumentException($"the quantized weight holds {blocks.Count} values, a [{outFeatures}, {inFeatures}] linear needs {outFeatures * inFeatures}", nameof(blocks));
        if (computeDtype is not (ScalarType.Float32 or ScalarType.BFloat16 or ScalarType.Float16))
            throw new ArgumentException($"an NF4 layer computes in float32, bfloat16 or float16, not {computeDtype}", nameof(computeDtype));
        device ??= CPU;
        OutFeatures = outFeatures;
        InFeatures = inFeatures;
        BlockSize = blocks.BlockSize;
        ComputeDtype = computeDtype;
        SourceDtype = sourceDtype;
        // Buffers and bias outlive any dispose scope the layer is built in, as a module's parameters do. torch.tensor(array)
        // keeps a pinned managed copy of the array as the tensor's storage; a native copy lets the GC reclaim it (on a
        // SmolLM2-135M shape the pinned arrays held 135 MB of committed managed heap for 60 MB of codes and absmax, and a
        // QLoRA step's peak RSS fell from 320 to 251 MB with the copy: eng/bench.sh qlora).
        using (var packed = torch.tensor(blocks.Packed, new long[] { blocks.Packed.Length, 1 }, dtype: ScalarType.Byte))
            register_buffer("weight", NativeCopy(packed, device).DetachFromDisposeScope());
        using (var absmax = torch.tensor(blocks.Absmax))
            register_buffer("absmax", NativeCopy(absmax, device).DetachFromDisposeScope());
        if (bias is not null)
        {
            if (bias.shape.Length != 1 || bias.shape[0] != outFeatures)
                throw new ArgumentException($"bias is [{string.Join(", ", bias.shape)}], expected [{outFeatures}]", nameof(bias));
            register_parameter("bias", new Parameter(bias.detach().clone().to(device).DetachFromDisposeScope(), requires_grad: false));
        }
    }

    public long InFeatures { get; }
    public long OutFeatures { get; }

    /// <summary>Values of full-precision weight dequantized at once (whole rows, whole blocks, at least one row step).</summary>
    public long ChunkElements { get; set; } = DefaultChunkElements;
    public int BlockSize { get; }

    /// <summary>The dtype the matmul runs in (bitsandbytes' bnb_4bit_compute_dtype).</summary>
    public ScalarType ComputeDtype { get; set; }

    /// <summary>The dtype of the weights that were quantized (the quant state's "dtype").</summary>
    public string SourceDtype { get; }

    public Tensor PackedWeight => get_buffer("weight")!;
    public Tensor Absmax => get_buffer("absmax")!;
    public Parameter? Bias => named_parameters(recurse: false).Where(p => p.name == "bias").Select(p => p.parameter).FirstOrDefault();
    public Device Device => PackedWeight.device;

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = x.dtype == ComputeDtype ? x : x.to_type(ComputeDtype);
        var y = Nf4MatMul.apply(h, this);
        if (Bias is { } b) y = y.add(b.to_type(ComputeDtype));
        return (y.dtype == x.dtype ? y : y.to_type(x.dtype)).MoveToOuterDisposeScope();
    }

    /// <summary>The whole weight [out, in] in <paramref name="dtype"/> (bitsandbytes' dequantize_4bit), e.g. for merging.</summary>
    public Tensor Dequantize(ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        return DequantizeRows(0, OutFeatures, dtype).MoveToOuterDisposeScope();
    }

    /// <summary>Rows per dequantized chunk: whole blocks (so each chunk starts on a block), about <see cref="ChunkElements"/> values.</summary>
    internal long RowsPerChunk
    {
        get
        {
            var step = BlockSize / Gcd(InFeatures, BlockSize); // rows·in is a multiple of the block size (and even)
            var rows = Math.Max(step, ChunkElements / Math.Max(1, InFeatures) / step * step);
            return Math.Min(rows, OutFeatures);
        }
    }

    /// <summary>Rows [start, start+count) of the weight, dequantized: code (in <paramref name="dtype"/>) × float32 absmax, cast to <paramref name="dtype"/>.</summary>
    internal Tensor DequantizeRows(long start, long count, ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        var first = start * InFeatures;
        var n = count * InFeatures;
        if (first % BlockSize != 0) throw new ArgumentException($"row {start} does not start a block of {BlockSize}", nameof(start));
        var bytes = PackedWeight.reshape(-1).narrow(0, first / 2, Nf4.PackedBytes(n));
        // One lookup per byte gives both of its values (high nibble first): [bytes, 2] → flat.
        var values = PairTable(dtype).index_select(0, bytes.to_type(ScalarType.Int64)).reshape(-1);
        var blocks = Nf4.Blocks(n, BlockSize);
        var padded = blocks * BlockSize;
        if (values.shape[0] < padded) values = nn.functional.pad(values, new long[] { 0, padded - values.shape[0] });
        else if (values.shape[0] > padded) values = values.narrow(0, 0, padded);
        var scales = Absmax.narrow(0, first / BlockSize, blocks).reshape(blocks, 1);
        var weight = values.reshape(blocks, BlockSize).mul(scales).reshape(-1).narrow(0, 0, n).reshape(count, InFeatures);
        return weight.to_type(dtype).MoveToOuterDisposeScope();
    }

    /// <summary>[256, 2] float32: the two code-book values of each byte, the code book first cast to <paramref name="dtype"/> as bitsandbytes does.</summary>
    private Tensor PairTable(ScalarType dtype)
    {
        var device = Device;
        // Device is a class without value equality: compare type and index (== made a new table on every call).
        if (_pairTables.TryGetValue(dtype, out var table))
        {
            if (table.device.type == device.type && table.device.index == device.index) return table;
            table.Dispose();
        }
        var code = torch.tensor(Nf4.CodeBook.ToArray()).to_type(dtype).to_type(ScalarType.Float32);
        var pairs = new float[512];
        var rounded = code.data<float>().ToArray();
        code.Dispose();
        for (var b = 0; b < 256; b++)
        {
            pairs[2 * b] = rounded[b >> 4];
            pairs[2 * b + 1] = rounded[b & 0xF];
        }
        table = torch.tensor(pairs).reshape(256, 2).to(device).DetachFromDisposeScope();
        _pairTables[dtype] = table;
        return table;
    }

    /// <summary><paramref name="t"/> on <paramref name="device"/> in memory libtorch owns (a copy even on the CPU).</summary>
    private static Tensor NativeCopy(Tensor t, Device device) => device.type == DeviceType.CPU ? t.clone() : t.to(device);

    private static long Gcd(long a, long b)
    {
        while (b != 0) (a, b) = (b, a % b);
        return a;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            foreach (var t in _pairTables.Values) t.Dispose();
            _pairTables.Clear();
        }
        base.Dispose(disposing);
    }
}

/// <summary>
/// y = x·Wᵀ for an <see cref="Nf4Linear"/>, with W dequantized chunk by chunk in forward and again in backward
/// (bitsandbytes' MatMul4Bit does the same), so the only thing kept for backward is the packed weight the layer
/// holds anyway. Gives the input gradient only: the 4-bit weight is frozen.
/// </summary>
internal sealed class Nf4MatMul : autograd.SingleTensorFunction<Nf4MatMul>
{
    private const string LayerKey = "layer";

    public override string Name => nameof(Nf4MatMul);

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var x = (Tensor)vars[0];
        var layer = (Nf4Linear)vars[1];
        ctx.save_data(LayerKey, layer);
        using var scope = NewDisposeScope();
        var rows = layer.RowsPerChunk;
        if (rows >= layer.OutFeatures)
            return x.matmul(layer.DequantizeRows(0, layer.OutFeatures, x.dtype).t()).MoveToOuterDisposeScope();
        var shape = x.shape.Take(x.shape.Length - 1).Append(layer.OutFeatures).ToArray();
        var y = torch.empty(shape, dtype: x.dtype, device: x.device);
        for (long start = 0; start < layer.OutFeatures; start += rows)
        {
            using var chunk = NewDisposeScope();
            var count = Math.Min(rows, layer.OutFeatures - start);
            y.narrow(-1, start, count).copy_(x.matmul(layer.DequantizeRows(start, count, x.dtype).t()));
        }
        return y.MoveToOuterDisposeScope();
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
    {
        ReturnedGradients.Release();
        var layer = (Nf4Linear)ctx.get_data(LayerKey);
        using var scope = NewDisposeScope();
        // The incoming gradient is disposed here too: on CUDA backward runs on the autograd engine's device thread,
        // which has no dispose scope of ours, so TorchSharp's wrapper would otherwise live until the garbage collector ran.
        scope.Attach(gradOutput);
        var rows = layer.RowsPerChunk;
        Tensor? grad = null;
        for (long start = 0; start < layer.OutFeatures; start += rows)
        {
            var count = Math.Min(rows, layer.OutFeatures - start);
            var g = gradOutput.narrow(-1, start, count);
            var part = g.matmul(layer.DequantizeRows(start, count, g.dtype));
            grad = grad is null ? part : grad.add_(part);
        }
        return new List<Tensor> { ReturnedGradients.Hold(grad!), null! };
    }
}
