using System.CommandLine;
using LoraKit.Lora;
using LoraKit.Quantization;
using static TorchSharp.torch;

namespace LoraKit.Cli.Commands;

/// <summary>
/// `lorakit merge`: base + adapter → a merged Hugging Face checkpoint (W + scaling·B·A) in a new or empty
/// folder, with the base's config.json (every key kept) and its tokenizer and generation files.
/// </summary>
internal static class MergeCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var baseFolder = new Option<string>("--base") { Description = "The base model's Hugging Face folder (config.json + *.safetensors).", Required = true };
        var adapterFolder = new Option<string>("--adapter") { Description = "The PEFT adapter folder.", Required = true };
        var output = CommandInput.OutFolder("the merged checkpoint");
        var dtype = new Option<string?>("--dtype") { Description = "Weights of the output: fp32, bf16, fp16 (default: as the base is loaded, fp32)." };
        var command = new Command("merge", "Merge a LoRA adapter into its base model and write a Hugging Face checkpoint.") { baseFolder, adapterFolder, output, dtype };
        command.SetAction(parse =>
        {
            var outDir = parse.GetValue(output)!;
            var (outType, badDtype) = DtypeOption.Read(parse, dtype);
            if (badDtype is not null) return CommandInput.Fail(stderr, badDtype);
            return CommandInput.Guard(stderr, () =>
            {
                var b = parse.GetValue(baseFolder)!;
                var injection = LoraAdapterFiles.MergeIntoCheckpoint(b, parse.GetValue(adapterFolder)!, outDir, outType);
                // A bitsandbytes 4-bit base is merged into its dequantized weights (fp32 or --dtype), never re-quantized.
                if (Nf4Checkpoint.IsQuantized(b))
                    stdout.WriteLine($"the base is 4-bit (NF4): merged into its dequantized {(outType ?? ScalarType.Float32).ToString().ToLowerInvariant()} weights; the output is not quantized");
                stdout.WriteLine($"merged {injection.AdaptedPaths.Count} modules (r={injection.Config.Rank}, scaling {Rules.Format.Number(injection.Config.Scaling)}) into {outDir}");
                return ExitCodes.Ok;
            });
        });
        return command;
    }
}
