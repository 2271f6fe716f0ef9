using LoraKit.Run;

namespace LoraKit.Training;

/// <summary>A run that cannot go on, with its LORA3xxx code.</summary>
public sealed class TrainingException : Exception
{
    public TrainingException(string code, string message, Exception? inner = null) : base($"{code}: {message}", inner)
    {
        Code = code;
        Detail = message;
    }

    public string Code { get; }

    /// <summary>The message without its code.</summary>
    public string Detail { get; }

    /// <summary>The failure as a diagnostic event (code and message as separate fields).</summary>
    public DiagnosticEvent ToEvent() => DiagnosticEvent.Error(Code, Detail);
}
