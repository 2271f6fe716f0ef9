using LoraKit.Rules;
using LoraKit.Run;

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
        if (e is StepEvent step)
        {
            Progress(step);
            return;
        }
        var trial = e.TrialRank is { } rank ? $"[rank {rank} trial] " : "";
        var text = e switch
        {
            InfoEvent i => trial + i.Message,
            SchedulerEvent c => trial + c.Message,
            DiagnosticEvent d => $"{trial}{TrainingEventJson.SeverityName(d.Severity)} {d.Code}: {d.Message}",
            StartEvent s => $"{trial}training r={s.Rank}, alpha={Format.Number(s.Alpha)}, targets {string.Join(", ", s.Targets)}: " +
                            $"{Format.Count(s.TrainableParameters)} trainable parameters, {s.TotalSteps} steps on {s.Device}; base validation loss {s.BaseValidationLoss:0.0000}",
            DoneEvent done when e.TrialRank is not null => $"{trial}done: validation loss {done.ValidationLoss:0.0000} in {done.Seconds:0.0} s",
            EvalEvent v => $"{trial}step {v.Step}: validation loss {v.ValidationLoss:0.0000} (base {v.BaseValidationLoss:0.0000})",
            CheckpointEvent c => $"checkpoint at step {c.Step}: {c.Path}",
            _ => null,
        };
        if (text is not null) WriteLine(text);
    }

    // A progress bar redrawn in place on a terminal; elsewhere every tenth step (and the last) as a line.
    private void Progress(StepEvent step)
    {
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
