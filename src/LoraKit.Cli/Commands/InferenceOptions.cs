using System.CommandLine;
using System.Text.Json;
using LoraKit.Builtin;
using LoraKit.Data;
using LoraKit.Inference;
using LoraKit.Lora;
using LoraKit.Models;
using LoraKit.Modeling;
using LoraKit.Peft;
using LoraKit.SafeTensors;

namespace LoraKit.Cli.Commands;

/// <summary>What `eval` and `generate` share: the base, the device, loading, and which failures are bad input (exit 2).</summary>
internal sealed class InferenceOptions
{
    public readonly Option<string> Base = new("--base") { Description = "Base model: 'builtin' (LoraKit's embedded tiny Llama) or a Hugging Face folder.", DefaultValueFactory = _ => BuiltinModel.Spec };
    public readonly Option<string> Device = new("--device") { Description = "auto, cuda or cpu.", DefaultValueFactory = _ => "auto" };

    public void AddTo(Command command)
    {
        command.Options.Add(Base);
        command.Options.Add(Device);
    }

    /// <summary>Loads the base and the adapters (each under its folder's name); the bare base is active.</summary>
    public LoraKitModel Load(ParseResult p, string[] adapters, TextWriter log)
    {
        var device = p.GetValue(Device) switch
        {
            "auto" => LoraKitRuntime.AutoDevice(),
            "cpu" => TorchSharp.torch.CPU,
            "cuda" when TorchSharp.torch.cuda.is_available() => TorchSharp.torch.CUDA,
            "cuda" => throw new NotSupportedException("--device cuda: TorchSharp sees no CUDA device; use --device cpu or auto"),
            var other => throw new ArgumentException($"--device {other} is not one of auto, cuda, cpu"),
        };
        var model = LoraKitModel.Load(p.GetValue(Base)!, adapters, device, log.WriteLine);
        model.UseAdapter(null);
        return model;
    }

    /// <summary>Failures that mean the input is wrong (exit 2): the message names the file, key or line and the fix.</summary>
    public static bool IsBadInput(Exception e) =>
        e is ArgumentException or IOException or DataException or ModelDescriptionException or SafeTensorsFormatException or PeftFormatException
            or HfStateDictException or LoraException or UnauthorizedAccessException or NotSupportedException or JsonException
            or System.Collections.Generic.KeyNotFoundException;
}
