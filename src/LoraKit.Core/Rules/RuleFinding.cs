namespace LoraKit.Rules;

public enum RuleSeverity { Info, Warning, Error }

/// <summary>A rule that a configuration breaks, with the numbers the user needs to fix it.</summary>
/// <param name="Id">The LORA diagnostic ID.</param>
/// <param name="Property">The configuration property at fault (Rank, Alpha, Dropout, TargetModules).</param>
/// <param name="Argument">For per-target findings, the target at fault.</param>
public sealed record RuleFinding(string Id, RuleSeverity Severity, string Property, string Message, string? Argument = null)
{
    public override string ToString() => $"{Severity.ToString().ToLowerInvariant()} {Id}: {Message}";
}
