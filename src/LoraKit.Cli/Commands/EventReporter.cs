using System;
using System.Collections.Generic;
using System.IO;
using System.Threading;
using LoraKit.Data;
using LoraKit.Lora;
using LoraKit.Modeling;
using LoraKit.Models;
using LoraKit.Peft;
using LoraKit.Rules;
using LoraKit.Run;
using LoraKit.SafeTensors;
using LoraKit.Training;

namespace LoraKit.Cli.Commands;

/// <summary>
/// Training events for people (a progress line with loss, tokens/s and ETA on a terminal, plain lines
/// otherwise) or for tools (`--events json`: one <see cref="TrainingEventJson"/> line per event).
/// </summary>
internal sealed class EventReporter
{
    private readonly TextWriter _out;
    private readonly bool _terminal;
    private readonly HashSet<string> _codes = new();
    private bool _lineOpen;

    public EventReporter(TextWriter output, bool json)
    {
        _out = output;
        Json = json;
        _terminal = !json && ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected;
    }

    public bool Json { get; }

    public bool Reported(string code) => _codes.Contains(code);

    public void Info(string message) => Report(new InfoEvent(message));

    public void Report(TrainingEvent e)
    {
        if (e is DiagnosticEvent reported) _codes.Add(reported.Code);
        if (Json)
        {
            _out.WriteLine(TrainingEventJson.Write(e));
            _out.Flush();
            return;
        }
        var trial = e.TrialRank is { } rank ? $"[rank {rank} trial] " : "";
        switch (e)
        {
            case InfoEvent i:
                WriteLine($"{trial}{i.Message}");
                break;
            case SchedulerEvent c:
                WriteLine($"{trial}{c.Message}");
                break;
            case DiagnosticEvent d:
                WriteLine($"{trial}{TrainingEventJson.SeverityName(d.Severity)} {d.Code}: {d.Message}");
                break;
            case StartEvent s:
                WriteLine($"{trial}training r={s.Rank}, alpha={Format.Number(s.Alpha)}, targets {string.Join(", ", s.Targets)}: " +
                          $"{Format.Count(s.TrainableParameters)} trainable parameters, {s.TotalSteps} steps on {s.Device}; base validation loss {s.BaseValidationLoss:0.0000}");
                break;
            case DoneEvent done when e.TrialRank is not null:
                WriteLine($"{trial}done: validation loss {done.ValidationLoss:0.0000} in {done.Seconds:0.0} s");
                break;
            case StepEvent step:
                var eta = step.Step > 0 ? step.ElapsedSeconds / step.Step * (step.TotalSteps - step.Step) : 0;
                const int width = 24;
                var filled = (int)(width * step.Step / Math.Max(1, step.TotalSteps));
                var line = $"[{new string('#', filled)}{new string('.', width - filled)}] {step.Step}/{step.TotalSteps} loss {step.Loss:0.0000} " +
                           $"{step.TokensPerSecond:0} tok/s ETA {TimeSpan.FromSeconds(Math.Round(eta)):mm\\:ss}";
                if (_terminal)
                {
                    _out.Write("\r" + line.PadRight(100));
                    _lineOpen = true;
                }
                else if (step.Step == step.TotalSteps || step.Step % Math.Max(1, step.TotalSteps / 10) == 0) _out.WriteLine(line);
                break;
            case EvalEvent v:
                WriteLine($"{trial}step {v.Step}: validation loss {v.ValidationLoss:0.0000} (base {v.BaseValidationLoss:0.0000})");
                break;
            case CheckpointEvent c:
                WriteLine($"checkpoint at step {c.Step}: {c.Path}");
                break;
        }
    }

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

/// <summary>
/// The frame `train` and `sweep` run in: Ctrl+C cancels (the trainer checkpoints, then stops), and every
/// failure becomes one diagnostic with its code as a field — an event with `--events json`, a line on stderr
/// otherwise for bad input — and the exit code (1 rule error, 2 bad input, 130 cancelled).
/// </summary>
internal static class TrainingCommandFrame
{
    public const int Cancelled = 130;

    public static int Run(bool json, TextWriter stdout, TextWriter stderr, Func<EventReporter, CancellationToken, int> body)
    {
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
            return body(reporter, cancel.Token);
        }
        catch (OperationCanceledException)
        {
            reporter.Finish();
            return Cancelled;
        }
        catch (Exception e) when (RuleError(e) is { } diagnostic)
        {
            reporter.Finish();
            if (!reporter.Reported(diagnostic.Code)) reporter.Report(diagnostic);
            return ExitCodes.RuleError;
        }
        catch (Exception e) when (BadInput(e) is { } diagnostic)
        {
            reporter.Finish();
            if (json) reporter.Report(diagnostic);
            else stderr.WriteLine($"error {diagnostic.Code}: {diagnostic.Message}");
            return ExitCodes.BadInput;
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    /// <summary>A failure of the run itself (a LORA rule the trainer or the runtime enforces).</summary>
    private static DiagnosticEvent? RuleError(Exception e) => e switch
    {
        TrainingException t => t.ToEvent(),
        AggregateException { InnerException: TrainingException t } => t.ToEvent(),
        LoraException l => DiagnosticEvent.Error(l.Id, l.Detail),
        _ => null,
    };

    /// <summary>Input LoraKit cannot use: LORA3001 (or the model description's LORA2xxx) with the file and line to blame where there is one.</summary>
    internal static DiagnosticEvent? BadInput(Exception e) => e switch
    {
        DataException d => DiagnosticEvent.Error(d.Id, d.Detail) with { File = ExistingFile(d.File), Line = d.Line },
        ModelDescriptionException m => DiagnosticEvent.Error(m.Id, m.Detail) with { File = ExistingFile(m.Source), Line = m.Line > 0 ? m.Line : null },
        ArgumentException or IOException or InvalidDataException or SafeTensorsFormatException or PeftFormatException or HfStateDictException
            or UnauthorizedAccessException or NotSupportedException => DiagnosticEvent.Error(DiagnosticIds.TrainingFailed, e.Message),
        _ => null,
    };

    private static string? ExistingFile(string? path) => path is not null && File.Exists(path) ? Path.GetFullPath(path) : null;
}
