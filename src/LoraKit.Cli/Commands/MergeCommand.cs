using System;
using System.CommandLine;
using System.IO;
using System.Linq;
using LoraKit.Lora;
using LoraKit.Models;
using LoraKit.Modeling;
using LoraKit.Peft;
using LoraKit.SafeTensors;
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
        var output = new Option<string>("--out") { Description = "Folder for the merged checkpoint; must be new or empty.", Required = true };
        var dtype = new Option<string?>("--dtype") { Description = "Weights of the output: fp32, bf16, fp16 (default: as the base is loaded, fp32)." };
        var command = new Command("merge", "Merge a LoRA adapter into its base model and write a Hugging Face checkpoint.") { baseFolder, adapterFolder, output, dtype };
        command.SetAction(parse =>
        {
            var outDir = parse.GetValue(output)!;
            ScalarType? outType = parse.GetValue(dtype) switch
            {
                null => null,
                "fp32" => ScalarType.Float32,
                "bf16" => ScalarType.BFloat16,
                "fp16" => ScalarType.Float16,
                _ => ScalarType.Int8, // marks an invalid choice, reported below
            };
            if (outType == ScalarType.Int8)
            {
                stderr.WriteLine($"error: --dtype {parse.GetValue(dtype)} is not one of fp32, bf16, fp16");
                return ExitCodes.BadInput;
            }
            try
            {
                var injection = LoraAdapterFiles.MergeIntoCheckpoint(parse.GetValue(baseFolder)!, parse.GetValue(adapterFolder)!, outDir, outType);
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
