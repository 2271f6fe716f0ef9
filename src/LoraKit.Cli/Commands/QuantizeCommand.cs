using System.CommandLine;
using LoraKit.Builtin;
using LoraKit.Quantization;
using LoraKit.SafeTensors;
using static TorchSharp.torch;

namespace LoraKit.Cli.Commands;

/// <summary>
/// `lorakit quantize --base M --out DIR`: a bitsandbytes-format NF4 checkpoint (double quantization, blocksize 64 by
/// default) that transformers + bitsandbytes load, so a model is quantized once and trained many times.
/// </summary>
internal static class QuantizeCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var baseModel = new Option<string>("--base") { Description = "The model to quantize: a Hugging Face folder (config.json + *.safetensors) or builtin.", Required = true };
        var output = CommandInput.OutFolder("the 4-bit checkpoint");
        var blockSize = new Option<int>("--blocksize") { Description = $"Values per absmax block, a power of two from {Nf4.MinBlockSize} to {Nf4.MaxBlockSize}.", DefaultValueFactory = _ => Nf4.DefaultBlockSize };
        var noDoubleQuant = new Option<bool>("--no-double-quant") { Description = "Store the absmax values in float32 instead of double-quantizing them (bnb_4bit_use_double_quant=False)." };
        var dtype = new Option<string?>("--dtype") { Description = "Cast the weights first, as transformers' torch_dtype does: fp32, bf16, fp16 (default: as stored)." };
        var computeDtype = new Option<string>("--compute-dtype") { Description = "bnb_4bit_compute_dtype written into quantization_config: bf16 or fp32.", DefaultValueFactory = _ => "bf16" };
        var command = new Command("quantize", "Write a bitsandbytes NF4 (4-bit) checkpoint of a model for QLoRA.") { baseModel, output, blockSize, noDoubleQuant, dtype, computeDtype };
        command.SetAction(parse =>
        {
            var outDir = parse.GetValue(output)!;
            if (Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any())
                return CommandInput.Fail(stderr, $"--out {outDir} is not empty; quantize never overwrites existing files. Choose a new folder.");
            var block = parse.GetValue(blockSize);
            if (!Nf4.IsValidBlockSize(block))
                return CommandInput.Fail(stderr, $"--blocksize {block} is not a power of two from {Nf4.MinBlockSize} to {Nf4.MaxBlockSize}; bitsandbytes' default is {Nf4.DefaultBlockSize}");
            var (castType, badDtype) = DtypeOption.Read(parse, dtype);
            if (badDtype is not null) return CommandInput.Fail(stderr, badDtype);
            var compute = parse.GetValue(computeDtype)!;
            if (!DtypeOption.TryParse(compute, out var computeType) || computeType == ScalarType.Float16)
                return CommandInput.Fail(stderr, $"--compute-dtype {compute} is not one of bf16, fp32");
            return CommandInput.Guard(stderr, () =>
            {
                // A folder needs no tokenizer to be quantized; only "builtin" is resolved (and created once).
                var spec = parse.GetValue(baseModel)!;
                var folder = Directory.Exists(spec) ? spec : BaseModelSource.Open(spec, m => stderr.WriteLine(m)).Folder;
                var options = new Nf4QuantizeOptions { BlockSize = block, DoubleQuant = !parse.GetValue(noDoubleQuant), Dtype = castType, ComputeDtype = computeType };
                var quantized = Nf4Checkpoint.Quantize(folder, outDir, options);
                var bytes = new FileInfo(Path.Combine(outDir, SafeTensorsCheckpoint.SingleFileName)).Length;
                stdout.WriteLine($"quantized {quantized.Count} linear layers to NF4 (blocksize {block}, double quantization {(options.DoubleQuant ? "on" : "off")}); " +
                                 $"embeddings, norms and the head kept as stored; {Rules.Format.Count(bytes)} bytes written to {outDir}");
                return ExitCodes.Ok;
            });
        });
        return command;
    }
}
