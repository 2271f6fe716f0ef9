namespace LoraKit.Data.Jinja;

/// <summary>
/// The sandbox a chat template — a program written by a stranger — runs in, after jinja2's
/// <c>SandboxedEnvironment</c> that Hugging Face renders chat templates with. Each limit stops the template with a
/// <see cref="JinjaException"/> whose <see cref="JinjaException.Limit"/> is the limit's name, at the template's
/// file:line, long before .NET's stack, memory or the user's patience run out. Real chat templates stay far below
/// every limit (docs/hardening.md).
/// </summary>
public static class JinjaLimits
{
    /// <summary>Nesting of parentheses, brackets, blocks, unary operators and conditional expressions in the source
    /// (jinja2's recursive parser, under Python's recursion limit of 1000, stops near 70 nested parentheses).</summary>
    public const int MaxNesting = 128;

    /// <summary>Depth of an expression (operator, filter and attribute chains included) and of rendering, macro calls
    /// included — a recursive macro stops after about 200 calls, as Python's recursion limit stops jinja2.</summary>
    public const int MaxDepth = 1024;

    /// <summary>Items of one <c>range()</c>: jinja2's <c>MAX_RANGE</c>.</summary>
    public const int MaxRange = 100_000;

    /// <summary>Characters of any string the template builds, and of its output.</summary>
    public const int MaxStringLength = 1 << 22;

    /// <summary>Items of any list the template builds.</summary>
    public const int MaxListLength = 1 << 20;

    /// <summary>Work per render: one step per statement, expression and loop iteration, plus one per 64 characters
    /// or 16 list items a step copies. At this budget a template stops in well under a second.</summary>
    public const long MaxSteps = 2_000_000;

    /// <summary>The names <see cref="JinjaException.Limit"/> carries.</summary>
    public const string Nesting = "nesting", Depth = "depth", Range = "range", StringLength = "string length",
        ListLength = "list length", Steps = "steps", Integer = "integer";
}

/// <summary>Thrown by the interpreter's helpers when a value would pass a limit; the renderer adds the template's line.</summary>
internal sealed class SandboxLimitException(string limit, string problem) : Exception(problem)
{
    public string Limit { get; } = limit;

    public static SandboxLimitException IntegerRange() => new(JinjaLimits.Integer,
        "an integer result does not fit in 64 bits (Python's integers are unbounded; LoraKit's template integers are 64-bit, and refuse rather than wrap)");

    public static SandboxLimitException TooDeep() => new(JinjaLimits.Depth,
        $"a value nests deeper than {JinjaLimits.MaxDepth} levels (a list or dict inside itself, built in a loop?)");

    public static SandboxLimitException StringTooLong(long length) => new(JinjaLimits.StringLength,
        $"a string of {length:N0} characters, more than {JinjaLimits.MaxStringLength:N0}");

    public static SandboxLimitException ListTooLong(long count) => new(JinjaLimits.ListLength,
        $"a list of {count:N0} items, more than {JinjaLimits.MaxListLength:N0}");
}
