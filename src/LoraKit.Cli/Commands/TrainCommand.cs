using System;
using System.CommandLine;
using System.IO;
using System.Linq;
using System.Threading;
using LoraKit.Builtin;
using LoraKit.Data;
using LoraKit.Lora;
using LoraKit.Modeling;
using LoraKit.Models;
using LoraKit.Peft;
using LoraKit.Rules;
using LoraKit.SafeTensors;
using LoraKit.Training;

namespace LoraKit.Cli.Commands;

/// <summary>`lorakit train`: one LoRA run; with no arguments, LoraKit's embedded default (builtin model and data).</summary>
internal static class TrainCommand
{
    public const int Cancelled = 130;

    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var o = new TrainOptions();
        var resume = new Option<bool>("--resume") { Description = "Continue from the checkpoint in the output folder (same rank only)." };
        var autoRank = new Option<bool>("--auto-rank") { Description = "On a loss plateau, restart from scratch at 2× rank and alpha (Seed A's rollback plan)." };
        var command = new Command("train", "Train a LoRA adapter (CUDA when present, CPU otherwise).") { resume, autoRank };
        foreach (var option in o.All) command.Options.Add(option);
        command.SetAction(p => Run(p, o, p.GetValue(resume), p.GetValue(autoRank), stdout, stderr));
        return command;
    }

    private static int Run(ParseResult p, TrainOptions o, bool resume, bool autoRank, TextWriter stdout, TextWriter stderr)
    {
        var json = p.GetValue(o.Events) == "json";
        var reporter = new EventReporter(stdout, json);
        using var cancel = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            e.Cancel = true; // let the trainer write its checkpoint, then stop
            cancel.Cancel();
        };
        Console.CancelKeyPress += onCancel;
        try
        {
            var config = o.ToLoraConfig(p);
            var resolved = BaseModelSource.Open(p.GetValue(o.Base)!, reporter.Info);
            var (data, dataset, summary) = o.LoadData(p, resolved.Tokenizer);
            reporter.Info($"base {resolved.Name}; data {summary}");
            var options = o.Training(p, o.OutputDir(p), resolved.Name) with { Resume = resume, AutoRank = autoRank };
            var trainer = new LoraTrainer((device, dtype) => HfCheckpoint.Load(resolved.Folder, device, dtype), config, data, options, reporter.Report, cancel.Token);
            var result = trainer.Run();
            reporter.Finish();
            if (!json)
            {
                stdout.WriteLine($"base model validation loss   {result.BaseValidationLoss:0.0000}");
                stdout.WriteLine($"adapter validation loss      {result.FinalValidationLoss:0.0000} ({result.Reduction * 100:0.0} % lower)");
                stdout.WriteLine($"{result.Steps} steps in {result.Seconds:0.0} s, {result.TokensPerSecond:0} tokens/s on {result.Device}, r={result.Config.Rank}, alpha={Format.Number(result.Config.Alpha)}");
                if (result.StoppedBecause is null || result.StoppedBecause == "plateau")
                    stdout.WriteLine($"adapter written to {Path.GetFullPath(result.OutputDir)} (adapter_config.json, adapter_model.safetensors, metrics.jsonl)");
            }
            if (result.StoppedBecause == "cancelled") return Cancelled;
            return result.StoppedBecause == "non-finite loss" ? ExitCodes.RuleError : ExitCodes.Ok;
        }
        catch (TrainingException e)
        {
            reporter.Finish();
            if (!reporter.Reported(e.Code)) reporter.Report(TrainingEvent.Diagnostic(e.Code, "error", e.Message.Substring(e.Code.Length + 2)));
            return ExitCodes.RuleError;
        }
        catch (LoraException e)
        {
            reporter.Finish();
            reporter.Report(TrainingEvent.Diagnostic(e.Id, "error", e.Message.Substring(e.Id.Length + 2)));
            return ExitCodes.RuleError;
        }
        catch (Exception e) when (e is ArgumentException or IOException or DataException or ModelDescriptionException or SafeTensorsFormatException
                                      or PeftFormatException or HfStateDictException or UnauthorizedAccessException or NotSupportedException)
        {
            reporter.Finish();
            var message = e is DataException or ModelDescriptionException ? e.Message : $"{DiagnosticIds.TrainingFailed}: {e.Message}";
            if (json) reporter.Report(FailureEvent(e, message));
            else stderr.WriteLine($"error {message}");
            return ExitCodes.BadInput;
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    /// <summary>LORA3001 for tools: the message without its code prefix, and the file and line where the data names one.</summary>
    internal static TrainingEvent FailureEvent(Exception e, string message)
    {
        var prefix = DiagnosticIds.TrainingFailed + ": ";
        var data = new System.Collections.Generic.Dictionary<string, object?>
        {
            ["code"] = DiagnosticIds.TrainingFailed,
            ["severity"] = "error",
            ["message"] = message.StartsWith(prefix, StringComparison.Ordinal) ? message.Substring(prefix.Length) : message,
        };
        if (e is DataException { File: { } file } d && File.Exists(file))
        {
            data["file"] = Path.GetFullPath(file);
            if (d.Line is int line) data["line"] = line;
        }
        return new TrainingEvent("diagnostic", data);
    }
}

/// <summary>
/// Training events for people (a progress line with loss, tokens/s and ETA on a terminal, plain lines
/// otherwise) or for tools (`--events json`: one JSON object per line).
/// </summary>
internal sealed class EventReporter
{
    private readonly TextWriter _out;
    private readonly bool _json;
    private readonly bool _terminal;
    private readonly System.Collections.Generic.HashSet<string> _codes = new();
    private bool _lineOpen;

    public EventReporter(TextWriter output, bool json)
    {
        _out = output;
        _json = json;
        _terminal = !json && ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected;
    }

    public bool Reported(string code) => _codes.Contains(code);

    public void Info(string message)
    {
        if (_json) Report(new TrainingEvent("info", new System.Collections.Generic.Dictionary<string, object?> { ["message"] = message }));
        else WriteLine(message);
    }

    public void Report(TrainingEvent e)
    {
        if (e.Code is not null) _codes.Add(e.Code);
        if (_json)
        {
            _out.WriteLine(e.ToJson());
            _out.Flush();
            return;
        }
        switch (e.Event)
        {
            case "diagnostic":
                WriteLine($"{e.Severity} {e.Code}: {e.Message}");
                break;
            case "info": // e.g. a cluster executor's line per state change of a trial
                WriteLine($"{Trial(e)}{e.Message}");
                break;
            case "start":
                WriteLine($"{Trial(e)}training r={Text(e, "rank")}, alpha={Text(e, "alpha")}, targets {Text(e, "targets")}: " +
                          $"{Format.Count((long)Number(e, "trainable_parameters"))} trainable parameters, {Text(e, "total_steps")} steps on {Text(e, "device")}; base validation loss {Number(e, "base_val_loss"):0.0000}");
                break;
            case "done" when e.Data.ContainsKey("trial_rank"):
                WriteLine($"{Trial(e)}done: validation loss {Number(e, "val_loss"):0.0000} in {Number(e, "seconds"):0.0} s");
                break;
            case "step":
                var step = (long)Number(e, "step");
                var total = (long)Number(e, "total_steps");
                var elapsed = Number(e, "elapsed_s");
                var eta = step > 0 ? elapsed / step * (total - step) : 0;
                var width = 24;
                var filled = (int)(width * step / Math.Max(1, total));
                var line = $"[{new string('#', filled)}{new string('.', width - filled)}] {step}/{total} loss {Number(e, "loss"):0.0000} " +
                           $"{Number(e, "tokens_per_s"):0} tok/s ETA {TimeSpan.FromSeconds(Math.Round(eta)):mm\\:ss}";
                if (_terminal)
                {
                    _out.Write("\r" + line.PadRight(100));
                    _lineOpen = true;
                }
                else if (step == total || step % Math.Max(1, total / 10) == 0) _out.WriteLine(line);
                break;
            case "eval":
                WriteLine($"{Trial(e)}step {Text(e, "step")}: validation loss {Number(e, "val_loss"):0.0000} (base {Number(e, "base_val_loss"):0.0000})");
                break;
            case "checkpoint":
                WriteLine($"checkpoint at step {Text(e, "step")}: {Text(e, "path")}");
                break;
        }
    }

    private static string Trial(TrainingEvent e) => e.Data.ContainsKey("trial_rank") ? $"[rank {Text(e, "trial_rank")} trial] " : "";

    /// <summary>An event value as text, whether it came from this process or, as JSON, from a child.</summary>
    private static string Text(TrainingEvent e, string key) => e.Data.TryGetValue(key, out var v) ? v switch
    {
        null => "",
        System.Text.Json.JsonElement { ValueKind: System.Text.Json.JsonValueKind.String } j => j.GetString()!,
        System.Text.Json.JsonElement { ValueKind: System.Text.Json.JsonValueKind.Array } j => string.Join(", ", j.EnumerateArray().Select(x => x.ToString())),
        System.Text.Json.JsonElement j => j.GetRawText(),
        string s => s,
        System.Collections.Generic.IEnumerable<string> list => string.Join(", ", list),
        IFormattable f => f.ToString(null, System.Globalization.CultureInfo.InvariantCulture),
        _ => v.ToString() ?? "",
    } : "";

    private static double Number(TrainingEvent e, string key) => e.Data.TryGetValue(key, out var v) ? v switch
    {
        System.Text.Json.JsonElement { ValueKind: System.Text.Json.JsonValueKind.Number } j => j.GetDouble(),
        IConvertible c => c.ToDouble(System.Globalization.CultureInfo.InvariantCulture),
        _ => double.NaN,
    } : double.NaN;

    public void Finish()
    {
        if (_lineOpen) _out.WriteLine();
        _lineOpen = false;
    }

    private void WriteLine(string text)
    {
        Finish();
        _out.WriteLine(text);
    }
}
