using System.CommandLine;
using LoraKit.Quantization;
using LoraKit.Rules;
using LoraKit.Run;
using LoraKit.Training;

namespace LoraKit.Cli.Commands;

/// <summary>`lorakit train`: one LoRA run; with no arguments, LoraKit's embedded default (builtin model and data).</summary>
internal static class TrainCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var o = new TrainOptions(sweep: false);
        var command = new Command("train", "Train a LoRA adapter (CUDA when present, CPU otherwise); with no options, the builtin model on the builtin task.");
        o.AddTo(command);
        command.SetAction(p => TrainingCommandFrame.Run(TrainOptions.JsonEvents(p), stdout, stderr, (reporter, cancel) =>
            {
                var (request, setup, resolved, data, _, summary) = o.Open(p, reporter);
                var config = setup.LoraConfig();
                reporter.Info($"base {resolved.Name}; data {summary}");
                var baseFactory = setup.BaseFactory(resolved.Folder);
                if (request.Quantize == TrainRequest.QuantizeNf4 || Nf4Checkpoint.IsQuantized(resolved.Folder))
                    reporter.Info("QLoRA: the base's decoder linears in 4-bit NF4 (bitsandbytes' format), embeddings, norms and head as loaded, LoRA in fp32");
                var options = setup.Training(setup.OutputDir, resolved.Name);
                var trainer = new LoraTrainer(baseFactory, config, data, options, reporter.Report, cancel);
                var result = trainer.Run();
                reporter.Finish();
                if (!reporter.Json)
                {
                    stdout.WriteLine($"base model validation loss   {result.BaseValidationLoss:0.0000}");
                    stdout.WriteLine($"adapter validation loss      {result.FinalValidationLoss:0.0000} ({result.Reduction * 100:0.0} % lower)");
                    stdout.WriteLine($"{result.Steps} steps in {result.Seconds:0.0} s, {result.TokensPerSecond:0} tokens/s on {result.Device}, r={result.Config.Rank}, alpha={Format.Number(result.Config.Alpha)}");
                    if (result.StoppedBecause is null || result.StoppedBecause == "plateau")
                        stdout.WriteLine($"adapter written to {Path.GetFullPath(result.OutputDir)} (adapter_config.json, adapter_model.safetensors, metrics.jsonl)");
                }
                if (result.StoppedBecause == "cancelled") return TrainingCommandFrame.Cancelled;
                return result.StoppedBecause == "non-finite loss" ? ExitCodes.RuleError : ExitCodes.Ok;
            }));
        return command;
    }
}
