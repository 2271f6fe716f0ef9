using LoraKit.Models;

namespace LoraKit.Rules;

/// <summary>
/// The configuration rules LORA1001–LORA1005, computed from LoraKit.Core's arithmetic. The analyzers,
/// the CLI and the trainer all call this, so they cannot disagree.
/// </summary>
public static class LoraRuleChecker
{
    public static IReadOnlyList<RuleFinding> Check(ModelShape model, LoraConfig config, LoraThresholds thresholds, string adapterName)
    {
        var findings = new List<RuleFinding>();
        var rankFinding = CheckRank(config.Rank, thresholds, adapterName);
        if (rankFinding is not null) findings.Add(rankFinding);
        var rankValid = config.Rank >= 1;

        if (rankValid)
        {
            var alpha = CheckAlphaRatio(config, thresholds, adapterName);
            if (alpha is not null) findings.Add(alpha);
        }

        var match = TargetMatcher.Match(model, config.TargetModules);
        findings.AddRange(CheckTargets(model, match));

        if (rankValid && match.Modules.Count > 0)
        {
            var budget = CheckBudget(model, ParameterCount.Compute(model, config, match), thresholds, adapterName);
            if (budget is not null) findings.Add(budget);
        }

        var dropout = CheckDropout(config.Dropout, thresholds, adapterName);
        if (dropout is not null) findings.Add(dropout);
        return findings;
    }

    /// <summary>LORA1003: rank within [MinRank, MaxRank] and a power of two.</summary>
    public static RuleFinding? CheckRank(int rank, LoraThresholds t, string adapterName)
    {
        if (rank < t.MinRank)
            return new(DiagnosticIds.RankRange, RuleSeverity.Error, nameof(LoraConfig.Rank),
                $"{adapterName}: rank {rank} is below {t.MinRank}; LoRA needs at least one dimension (start with 8)");
        if (rank > t.MaxRank)
            return new(DiagnosticIds.RankRange, RuleSeverity.Warning, nameof(LoraConfig.Rank),
                $"{adapterName}: rank {rank} is above the maximum {t.MaxRank}; past the knee of the rank curve more rank costs memory without benefit (raise lorakit.max_rank if intended)");
        if (t.RequirePowerOfTwoRank && !IsPowerOfTwo(rank))
        {
            var (lower, upper) = PowerOfTwoNeighbours(rank);
            return new(DiagnosticIds.RankRange, RuleSeverity.Warning, nameof(LoraConfig.Rank),
                $"{adapterName}: rank {rank} is not a power of two; use {lower} or {upper} (nearest: {NearestPowerOfTwo(rank)})");
        }
        return null;
    }

    /// <summary>LORA1001: alpha/r equals one of the allowed ratios. Skipped for non-default init (the rank guide: the heuristic assumes default initialisation).</summary>
    public static RuleFinding? CheckAlphaRatio(LoraConfig config, LoraThresholds t, string adapterName)
    {
        if (config.Rank < 1 || config.InitWeights != LoraInitWeights.Default) return null;
        var ratio = config.Alpha / config.Rank;
        if (t.AlphaRatios.Any(r => Math.Abs(r - ratio) <= 1e-9 * Math.Max(1, r))) return null;
        var expected = t.ExpectedAlpha(config.Rank);
        var scaling = config.Scaling;
        var expectedScaling = LoraConfig.ComputeScaling(config.Rank, expected, config.UseRsLora);
        var allowed = string.Join(" or ", t.AlphaRatios.Select(Format.Number));
        return new(DiagnosticIds.AlphaRatio, RuleSeverity.Warning, nameof(LoraConfig.Alpha),
            $"{adapterName}: alpha/r = {Format.Number(config.Alpha)}/{config.Rank} = {Format.Number(ratio)}, expected {allowed}; " +
            $"the update is scaled by {Format.Number(scaling)} instead of {Format.Number(expectedScaling)} (set Alpha = {Format.Number(expected)})");
    }

    /// <summary>LORA1002: trainable parameters within [BudgetMin, BudgetMax] % of the base.</summary>
    public static RuleFinding? CheckBudget(ModelShape model, ParameterCount count, LoraThresholds t, string adapterName)
    {
        var p = count.BudgetPercent;
        if (p >= t.BudgetMinPercent && p <= t.BudgetMaxPercent) return null;
        var advice = p < t.BudgetMinPercent
            ? "raise the rank or add target modules"
            : "lower the rank or target fewer modules";
        return new(DiagnosticIds.ParameterBudget, RuleSeverity.Warning, nameof(LoraConfig.Rank),
            $"{adapterName} trains {Format.Count(count.TrainableParameters)} parameters = {Format.Percent(p)} of {model.Name}'s {Format.Count(count.BaseParameters)}; " +
            $"the budget is {Format.Number(t.BudgetMinPercent)} %–{Format.Number(t.BudgetMaxPercent)} % ({advice})");
    }

    /// <summary>LORA1004: one finding per target that matches no module.</summary>
    public static IEnumerable<RuleFinding> CheckTargets(ModelShape model, TargetMatch match)
    {
        var names = string.Join(", ", model.LinearLeafNames);
        foreach (var target in match.Unmatched)
        {
            var closest = TargetMatcher.SuggestClosest(model, target);
            var hint = closest is null ? "" : $"; did you mean '{closest}'?";
            yield return new(DiagnosticIds.TargetNotFound, RuleSeverity.Error, nameof(LoraConfig.TargetModules),
                $"target module '{target}' matches nothing in {model.Name}; its linear modules are {names}{hint}", target);
        }
    }

    /// <summary>LORA1005: dropout within [0, DropoutMaxExclusive).</summary>
    public static RuleFinding? CheckDropout(double dropout, LoraThresholds t, string adapterName)
    {
        if (dropout >= 0 && dropout < t.DropoutMaxExclusive) return null;
        return new(DiagnosticIds.DropoutRange, RuleSeverity.Warning, nameof(LoraConfig.Dropout),
            $"{adapterName}: dropout {Format.Number(dropout)} is outside [0, {Format.Number(t.DropoutMaxExclusive)}); " +
            $"typical LoRA dropout is {Format.Number(t.DropoutAdviceMin)}–{Format.Number(t.DropoutAdviceMax)}");
    }

    /// <summary>
    /// LORA1006 with its fit plan: the estimate of <paramref name="options"/> against the GPU's memory, and when it does not
    /// fit, the cheapest change that does (<see cref="Memory.FitPlan.Cheapest"/>), named in the message; when that change is
    /// checkpointing alone, <see cref="RuleFinding.Argument"/> carries the mode it asks for (on or offload) for LORA1006's code fix.
    /// </summary>
    public static RuleFinding? CheckMemory(ModelShape model, LoraConfig config, Memory.MemoryOptions options, double gpuMemoryGiB, string adapterName)
    {
        var estimate = Memory.MemoryEstimator.Estimate(model, config, options);
        if (gpuMemoryGiB <= 0 || estimate.TotalGiB <= gpuMemoryGiB) return null;
        var plan = Memory.FitPlan.Cheapest(model, config, options, gpuMemoryGiB);
        var finding = CheckMemory(estimate, gpuMemoryGiB, adapterName, options.BasePrecision, plan);
        // Only a plan that is checkpointing alone travels: a fix that sets it then resolves the warning.
        return plan is not null && plan.Options.GradientCheckpointing != options.GradientCheckpointing &&
               plan.Options == options with { GradientCheckpointing = plan.Options.GradientCheckpointing }
            ? finding! with { Argument = LoraGradientCheckpointingNames.Of(plan.Options.GradientCheckpointing) }
            : finding;
    }

    /// <summary>LORA1006: the estimated peak training memory exceeds the GPU's memory; <paramref name="plan"/>, when known, is the advice.</summary>
    public static RuleFinding? CheckMemory(Memory.MemoryEstimate estimate, double gpuMemoryGiB, string adapterName,
        Memory.WeightPrecision basePrecision = Memory.WeightPrecision.BFloat16, Memory.FitChange? plan = null)
    {
        if (gpuMemoryGiB <= 0 || estimate.TotalGiB <= gpuMemoryGiB) return null;
        // A base already in 4 or 8 bits says so, and "quantise the base" is no longer advice that helps.
        var quantized = basePrecision is Memory.WeightPrecision.NF4 or Memory.WeightPrecision.Int8;
        var advice = plan is not null
            ? $"the cheapest change that fits: {plan.Description} (≈ {Format.GiB(plan.Estimate.Total)})"
            : "no single change fits; reduce the batch size or sequence length, " + (quantized ? "" : "quantise the base, ") + "lower the rank or target fewer modules";
        return new(DiagnosticIds.GpuMemory, RuleSeverity.Warning, nameof(LoraConfig.Rank),
            $"{adapterName}: estimated peak training memory {Format.GiB(estimate.Total)} exceeds the GPU's {Format.Number(gpuMemoryGiB)} GiB " +
            $"(base weights {Format.GiB(estimate.BaseWeights)}{(quantized ? " in " + basePrecision : "")}, " +
            $"LoRA state {Format.GiB(estimate.LoraWeights + estimate.LoraGradients + estimate.OptimizerState)}, " +
            $"activations {Format.GiB(estimate.Activations + estimate.Logits)}); {advice}");
    }

    /// <summary>LORA1007: the rank differs from the one the last sweep locked (the rank guide: "Lock that rank and run full training").</summary>
    public static RuleFinding? CheckLock(int rank, LockedAdapter? locked, string adapterName)
    {
        if (locked is null || locked.Rank == rank) return null;
        var alpha = locked.Alpha is { } a ? $" (alpha {Format.Number(a)})" : "";
        return new(DiagnosticIds.RankDiffersFromLock, RuleSeverity.Warning, nameof(LoraConfig.Rank),
            $"{adapterName}: rank {rank} differs from rank {locked.Rank}{alpha} chosen by the last sweep in {locked.Source}; " +
            $"use Rank = {locked.Rank}, or run the sweep again to lock a new rank");
    }

    public static bool IsPowerOfTwo(int n) => n > 0 && (n & (n - 1)) == 0;

    public static (int Lower, int Upper) PowerOfTwoNeighbours(int n)
    {
        var lower = 1;
        while (lower * 2 <= n) lower *= 2;
        return (lower, lower * 2);
    }

    /// <summary>The nearest power of two; ties round up (12 → 16), matching the LORA1003 code fix.</summary>
    public static int NearestPowerOfTwo(int n)
    {
        if (n <= 1) return 1;
        var (lower, upper) = PowerOfTwoNeighbours(n);
        return n - lower < upper - n ? lower : upper;
    }
}
