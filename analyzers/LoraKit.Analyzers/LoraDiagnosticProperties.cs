namespace LoraKit.Analyzers;

/// <summary>Keys of <see cref="Microsoft.CodeAnalysis.Diagnostic.Properties"/> that the code fixes read.</summary>
public static class LoraDiagnosticProperties
{
    /// <summary>LORA1001: the alpha the first allowed ratio gives for the rank (round-trip invariant text).</summary>
    public const string ExpectedAlpha = "ExpectedAlpha";

    /// <summary>LORA1001: "true" when Alpha is not written (the diagnostic is on Rank) and the fix must add it.</summary>
    public const string AlphaMissing = "AlphaMissing";

    /// <summary>LORA1003: the nearest power of two, when the rank is in range but not a power of two.</summary>
    public const string SuggestedRank = "SuggestedRank";

    /// <summary>LORA1004: the closest existing module name, when one is close enough to be a typo.</summary>
    public const string SuggestedTarget = "SuggestedTarget";

    /// <summary>LORA1006: the <see cref="LoraGradientCheckpointing"/> member the fit plan turns on (On or Offload), when its plan is checkpointing.</summary>
    public const string GradientCheckpointing = "GradientCheckpointing";
}
