using LoraKit.Rules;

namespace LoraKit.Data;

/// <summary>
/// A dataset or tokenizer that cannot be used: the message names the file (and line when one is to
/// blame), what is wrong, and how to fix it. <see cref="Id"/> is LORA3001 (a training run's bad input).
/// </summary>
public sealed class DataException : Exception
{
    public DataException(string message, string? file = null, int? line = null, Exception? inner = null)
        : base($"{DiagnosticIds.TrainingFailed}: {message}", inner)
    {
        Problem = message;
        File = file;
        Line = line;
        Detail = message;
    }

    /// <summary>The message without its ID.</summary>
    public string Detail { get; }

    /// <summary>The diagnostic ID: <see cref="DiagnosticIds.TrainingFailed"/>.</summary>
    public string Id => DiagnosticIds.TrainingFailed;

    /// <summary>The message without the diagnostic ID.</summary>
    public string Problem { get; }

    /// <summary>The file to blame, when one is.</summary>
    public string? File { get; }

    /// <summary>The 1-based line to blame, when one is.</summary>
    public int? Line { get; }
}
