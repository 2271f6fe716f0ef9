using LoraKit.Data;
using LoraKit.IO;
using LoraKit.Lora;
using LoraKit.Modeling;
using LoraKit.Models;
using LoraKit.Rules;
using LoraKit.Run;
using LoraKit.Training;

namespace LoraKit.Cli.Commands;

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
        ArgumentException or IOException or InvalidDataException or InvalidFileException or HfStateDictException
            or UnauthorizedAccessException or NotSupportedException or System.Text.Json.JsonException or LoraLockException
            => DiagnosticEvent.Error(DiagnosticIds.TrainingFailed, e.Message),
        _ => null,
    };

    private static string? ExistingFile(string? path) => path is not null && File.Exists(path) ? Path.GetFullPath(path) : null;
}
