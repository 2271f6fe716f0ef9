using System.CommandLine;
using LoraKit.Inference;
using LoraKit.SafeTensors;

namespace LoraKit.Cli.Commands;

/// <summary>What `eval` and `generate` share: the base and the device (the run contract's options) and loading.</summary>
internal sealed class InferenceOptions
{
    public readonly Option<string> Base = CommandInput.FromContract("--base");
    public readonly Option<string> Device = CommandInput.FromContract("--device");

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

}
