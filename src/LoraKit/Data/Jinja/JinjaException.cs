namespace LoraKit.Data.Jinja;

/// <summary>
/// A chat template that cannot be parsed or rendered: the message starts with <c>file:line:</c>. When the template
/// ran into one of the sandbox's limits (<see cref="JinjaLimits"/>), <see cref="Limit"/> names it.
/// </summary>
public sealed class JinjaException(string source, int line, string problem, string? limit = null) : Exception($"{source}:{line}: {problem}")
{
    /// <summary>The template's name (its file, and the key inside it).</summary>
    public string TemplateName { get; } = source;

    /// <summary>The 1-based line of the template where the problem is.</summary>
    public int Line { get; } = line;

    /// <summary>The problem without the location.</summary>
    public string Problem { get; } = problem;

    /// <summary>The sandbox limit the template exceeded (one of the <see cref="JinjaLimits"/> names), or null.</summary>
    public string? Limit { get; } = limit;
}

/// <summary>The template called <c>raise_exception(message)</c>: the conversation is not one the template accepts.</summary>
public sealed class JinjaRaisedException(string message) : Exception(message);
