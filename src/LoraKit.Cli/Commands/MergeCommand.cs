using System;
using System.CommandLine;
using System.IO;
using System.Linq;
using LoraKit.Lora;
using LoraKit.Models;
using LoraKit.Modeling;
using LoraKit.Peft;
using LoraKit.Quantization;
using LoraKit.SafeTensors;
using static TorchSharp.torch;

namespace LoraKit.Cli.Commands;

/// <summary>`lorakit merge`: base + adapter → a merged Hugging Face checkpoint (W + scaling·B·A).</summary>
internal static class MergeCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var baseFolder = new Option<string>("--base") { Description = "The base model's Hugging Face folder (config.json + *.safetensors).", Required = true };
        var adapterFolder = new Option<string>("--adapter") { Description = "The PEFT adapter folder.", Required = true };
        var output = new Option<string>("--out") { Description = "Folder for the merged checkpoint; must be new or empty.", Required = true };
        var dtype = new Option<string?>("--dtype") { Description = "Weights of the output: fp32, bf16, fp16 (default: as the base is loaded, fp32)." };
        var command = new Command("merge", "Merge a LoRA adapter into its base model and write a Hugging Face checkpoint.") { baseFolder, adapterFolder, output, dtype };
        command.SetAction(parse =>
        {
            var outDir = parse.GetValue(output)!;
            if (Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any())
            {
                stderr.WriteLine($"error: --out {outDir} is not empty; merging never overwrites existing files. Choose a new folder.");
                return ExitCodes.BadInput;
            }
            ScalarType? outType = null;
            if (parse.GetValue(dtype) is { } dtypeName)
            {
                if (!DtypeOption.TryParse(dtypeName, out var parsed))
                {
                    stderr.WriteLine($"error: --dtype {dtypeName} is not one of fp32, bf16, fp16");
                    return ExitCodes.BadInput;
                }
                outType = parsed;
            }
            try
            {
                var b = parse.GetValue(baseFolder)!;
                // A bitsandbytes 4-bit base is merged into its dequantized weights (fp32 or --dtype), never re-quantized.
                var quantized = Nf4Checkpoint.IsQuantized(b);
                using var model = quantized ? Nf4Checkpoint.Load(b, dtype: outType ?? ScalarType.Float32) : HfCheckpoint.Load(b);
                if (quantized) Nf4Model.Dequantize(model, outType ?? ScalarType.Float32);
                var injection = LoraAdapterFiles.Load(model, parse.GetValue(adapterFolder)!);
                LoraInjector.Merge(model);
                HfCheckpoint.Save(model, outDir, outType);
                foreach (var file in HfCheckpoint.CompanionFiles)
                {
                    var source = Path.Combine(b, file);
                    if (File.Exists(source)) File.Copy(source, Path.Combine(outDir, file));
                }
                if (quantized) stdout.WriteLine($"the base is 4-bit (NF4): merged into its dequantized {(outType ?? ScalarType.Float32).ToString().ToLowerInvariant()} weights; the output is not quantized");
                stdout.WriteLine($"merged {injection.AdaptedPaths.Count} modules (r={injection.Config.Rank}, scaling {Rules.Format.Number(injection.Config.Scaling)}) into {outDir}");
                return ExitCodes.Ok;
            }
            catch (Exception e) when (e is IOException or ModelDescriptionException or SafeTensorsFormatException or PeftFormatException
                                          or HfStateDictException or LoraException or NotSupportedException or UnauthorizedAccessException)
            {
                stderr.WriteLine($"error: {e.Message}");
                return ExitCodes.BadInput;
            }
        });
        return command;
    }
}
