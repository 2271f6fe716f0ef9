using LoraKit.Rules;

namespace LoraKit.Data;

/// <summary>
/// A dataset or tokenizer that cannot be used: the message names the file (and line when one is to
/// blame), what is wrong, and how to fix it. <see cref="Id"/> is LORA3001 (a training run's bad input).
/// </summary>
public sealed class DataException(string message, string? file = null, int? line = null, Exception? inner = null)
    : Exception($"{DiagnosticIds.TrainingFailed}: {message}", inner)
{
    /// <summary>The message without its ID.</summary>
    public string Detail => Problem;

    /// <summary>The diagnostic ID: <see cref="DiagnosticIds.TrainingFailed"/>.</summary>
    public string Id => DiagnosticIds.TrainingFailed;

    /// <summary>The message without the diagnostic ID.</summary>
    public string Problem { get; } = message;

    /// <summary>The file to blame, when one is.</summary>
    public string? File { get; } = file;

    /// <summary>The 1-based line to blame, when one is.</summary>
    public int? Line { get; } = line;
}
