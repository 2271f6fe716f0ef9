namespace LoraKit.Data.Jinja;

/// <summary>A chat template that cannot be parsed or rendered: the message starts with <c>file:line:</c>.</summary>
public sealed class JinjaException : Exception
{
    public JinjaException(string source, int line, string problem)
        : base($"{source}:{line}: {problem}")
    {
        TemplateName = source;
        Line = line;
        Problem = problem;
    }

    /// <summary>The template's name (its file, and the key inside it).</summary>
    public string TemplateName { get; }

    /// <summary>The 1-based line of the template where the problem is.</summary>
    public int Line { get; }

    /// <summary>The problem without the location.</summary>
    public string Problem { get; }
}

/// <summary>The template called <c>raise_exception(message)</c>: the conversation is not one the template accepts.</summary>
public sealed class JinjaRaisedException : Exception
{
    public JinjaRaisedException(string message) : base(message)
    {
    }
}
