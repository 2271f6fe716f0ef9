using LoraKit.Lora;
using LoraKit.Modeling;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LoraKit.Quantization;

/// <summary>How a model is quantized to NF4 on load (bitsandbytes' BitsAndBytesConfig for 4 bits).</summary>
public sealed record Nf4Options
{
    /// <summary>Values per absmax block (bnb's blocksize; 64 by default, a power of two from 32 to 4096).</summary>
    public int BlockSize { get; init; } = Nf4.DefaultBlockSize;

    /// <summary>
    /// The dtype the 4-bit layers multiply in (bnb_4bit_compute_dtype): bf16, fp16 or fp32; null (the default) takes
    /// the dtype the model is loaded in — bf16 on a GPU, fp32 on a CPU, where libtorch's bf16 matmul through
    /// TorchSharp measured ~100× slower than fp32 for these shapes.
    /// </summary>
    public ScalarType? ComputeDtype { get; init; }
}

/// <summary>
/// Quantizes a loaded model to NF4 in place, and back. As bitsandbytes + transformers do, every linear layer
/// of the decoder (q/k/v/o, gate/up/down) becomes an <see cref="Nf4Linear"/>; the embeddings, the norms and
/// the output head keep the dtype the model was loaded in (load it in bf16 for a 16-bit rest).
/// </summary>
public static class Nf4Model
{
    /// <summary>Replaces each decoder linear with its NF4 form (bit-exact with bitsandbytes); returns their paths.</summary>
    public static IReadOnlyList<string> QuantizeInPlace(LlamaForCausalLM model, Nf4Options? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        options ??= new Nf4Options();
        var done = new List<string>();
        foreach (var slot in DecoderSlots(model))
        {
            var module = slot.Current;
            switch (module)
            {
                case Nf4Linear:
                    continue;
                case LoraLinear:
                    throw new InvalidOperationException($"{slot.Path} already carries a LoRA adapter; quantize the base before injecting LoRA");
                case Linear linear:
                    var weight = linear.weight!;
                    var quantized = Quantize(weight, weight.shape[0], weight.shape[1], linear.bias, options, DtypeName(weight.dtype));
                    slot.Replace(quantized);
                    linear.Dispose();
                    done.Add(slot.Path);
                    break;
                default:
                    throw new InvalidOperationException($"{slot.Path} is a {module.GetType().Name}, not a linear layer NF4 can quantize");
            }
        }
        return done;
    }

    /// <summary>One weight [out, in] quantized as bitsandbytes' quantize_4bit does (in float32, from the weight's own values).</summary>
    public static Nf4Linear Quantize(Tensor weight, long outFeatures, long inFeatures, Tensor? bias, Nf4Options options, string sourceDtype)
    {
        var blocks = Nf4.Quantize(LoraKit.IO.TensorData.Floats(weight), options.BlockSize);
        return new Nf4Linear(blocks, outFeatures, inFeatures, bias, options.ComputeDtype ?? weight.dtype, weight.device, sourceDtype);
    }

    /// <summary>
    /// Replaces every <see cref="Nf4Linear"/> (also under a LoRA wrapper) with an nn.Linear holding its dequantized
    /// weight in <paramref name="dtype"/> — the 16/32-bit base a merge folds adapters into. Returns their paths.
    /// </summary>
    public static IReadOnlyList<string> Dequantize(nn.Module model, ScalarType dtype)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (dtype is not (ScalarType.Float32 or ScalarType.BFloat16 or ScalarType.Float16))
            throw new ArgumentException($"a 4-bit base dequantizes to float32, bfloat16 or float16, not {dtype}", nameof(dtype));
        var modules = model.named_modules().ToDictionary(m => m.name, m => m.module, StringComparer.Ordinal);
        var done = new List<string>();
        foreach (var (path, module) in modules.Where(m => m.Value is Nf4Linear).ToList())
        {
            var q = (Nf4Linear)module;
            var linear = nn.Linear(q.InFeatures, q.OutFeatures, hasBias: q.Bias is not null, device: q.Device, dtype: dtype);
            using (no_grad())
            {
                using var w = q.Dequantize(dtype);
                linear.weight!.copy_(w);
                if (q.Bias is { } b) linear.bias!.copy_(b);
            }
            linear.weight!.requires_grad = false;
            if (linear.bias is not null) linear.bias.requires_grad = q.Bias!.requires_grad;
            linear.train(q.training);
            var dot = path.LastIndexOf('.');
            ModuleSurgery.ReplaceChild(dot < 0 ? model : modules[path.Substring(0, dot)], path.Substring(dot + 1), linear);
            q.Dispose();
            done.Add(path);
        }
        return done;
    }

    public static bool IsQuantized(nn.Module model) => model.modules().Any(m => m is Nf4Linear);

    /// <summary>The decoder's linear layers: every linear slot but the output head (which bitsandbytes leaves unquantized).</summary>
    internal static IEnumerable<LinearSlot> DecoderSlots(LlamaForCausalLM model) =>
        model.LinearSlots().Where(s => s.Path != LoraInjector.DefaultOutputHead);

    /// <summary>The quant state's dtype name (bitsandbytes writes str(torch dtype) without "torch.").</summary>
    public static string DtypeName(ScalarType dtype) => IsQuantizable(dtype) ? HfCheckpoint.TorchDtypeName(dtype)
        : throw new ArgumentException($"NF4 quantizes float32, bfloat16 or float16 weights, not {dtype}", nameof(dtype));

    public static bool TryParseDtypeName(string? name, out ScalarType dtype) =>
        HfCheckpoint.TryParseTorchDtypeName(name, out dtype) && IsQuantizable(dtype);

    private static bool IsQuantizable(ScalarType dtype) => dtype is ScalarType.Float32 or ScalarType.BFloat16 or ScalarType.Float16;
}
