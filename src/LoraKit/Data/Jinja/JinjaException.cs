namespace LoraKit.Data.Jinja;

/// <summary>A chat template that cannot be parsed or rendered: the message starts with <c>file:line:</c>.</summary>
public sealed class JinjaException(string source, int line, string problem) : Exception($"{source}:{line}: {problem}")
{
    /// <summary>The template's name (its file, and the key inside it).</summary>
    public string TemplateName { get; } = source;

    /// <summary>The 1-based line of the template where the problem is.</summary>
    public int Line { get; } = line;

    /// <summary>The problem without the location.</summary>
    public string Problem { get; } = problem;
}

/// <summary>The template called <c>raise_exception(message)</c>: the conversation is not one the template accepts.</summary>
public sealed class JinjaRaisedException(string message) : Exception(message);
