namespace LoraKit.Rules;

/// <summary>
/// Every heuristic threshold LoraKit applies, in one place, each with the source it comes from.
/// Sources are cited by short name, defined once in docs/sources.md: "the rank guide" is the tutorial
/// "Rank r: the key parameter"; "AIQ Labs" is AIQ Labs' article "What rank is good for LoRA?" (2025).
/// The analyzers read overrides from .editorconfig (<see cref="FromOptions"/>), the CLI from flags.
/// </summary>
public sealed record LoraThresholds
{
    public static LoraThresholds Default { get; } = new();

    /// <summary>Allowed alpha/r ratios. The rank guide: "alpha=2*r (the common heuristic) keeps the effective learning rate stable across ranks". Key lorakit.alpha_ratio.</summary>
    public IReadOnlyList<double> AlphaRatios { get; init; } = new[] { 2.0 };

    /// <summary>Lower bound of the trainable-parameter budget, % of base. The rank guide, validation step (1): "in the range 0.05–1%". Key lorakit.budget_min_percent.</summary>
    public double BudgetMinPercent { get; init; } = 0.05;

    /// <summary>Upper bound of the budget, % of base. The rank guide, validation step (1). Key lorakit.budget_max_percent.</summary>
    public double BudgetMaxPercent { get; init; } = 1.0;

    /// <summary>The looser "rule of thumb" range shown as advice. The rank guide: "total LoRA params should be 0.1–1% of the model's full parameter count".</summary>
    public double RuleOfThumbMinPercent { get; init; } = 0.1;

    /// <summary>Upper end of the rule-of-thumb range. The rank guide.</summary>
    public double RuleOfThumbMaxPercent { get; init; } = 1.0;

    /// <summary>Smallest rank. AIQ Labs: "rank practically ranges from 1 to values like 128 or 256".</summary>
    public int MinRank { get; init; } = 1;

    /// <summary>Largest rank. AIQ Labs. Key lorakit.max_rank.</summary>
    public int MaxRank { get; init; } = 256;

    /// <summary>Ranks should be powers of two. AIQ Labs: "often powers of two (e.g. 4, 8, 16, 32, 64)".</summary>
    public bool RequirePowerOfTwoRank { get; init; } = true;

    /// <summary>Dropout must be below this. LoraKit design: dropout outside [0, 0.5) is a mistake.</summary>
    public double DropoutMaxExclusive { get; init; } = 0.5;

    /// <summary>Usual dropout, shown as advice. The rank guide uses 0.05; AIQ Labs: "e.g. 0.05-0.1"; the rank guide's overfitting fix: 0.1–0.2.</summary>
    public double DropoutAdviceMin { get; init; } = 0.05;

    /// <summary>Upper end of the usual dropout. The rank guide.</summary>
    public double DropoutAdviceMax { get; init; } = 0.2;

    /// <summary>Dropout advised against overfitting. The rank guide, debug symptoms: "increase lora_dropout to 0.1–0.2".</summary>
    public double OverfitDropoutMin { get; init; } = 0.1;

    /// <summary>Upper end of the overfitting dropout. The rank guide.</summary>
    public double OverfitDropoutMax { get; init; } = 0.2;

    /// <summary>Rank advised against overfitting. The rank guide: "Reduce rank to 4–8".</summary>
    public int OverfitRankMax { get; init; } = 8;

    /// <summary>Fraction of training after which a flat validation loss is a plateau. The rank guide: "after 10–20% of training".</summary>
    public double PlateauCheckFraction { get; init; } = 0.2;

    /// <summary>
    /// Optimizer steps that must be done before a flat validation loss can count as a plateau. LoraKit's own guard on
    /// the rule above: LoRA's B starts at zero and warmup keeps the first steps small, so after a handful of steps the
    /// loss has not had the chance to move whatever the rank (a 1-step smoke run would otherwise be told its rank is too
    /// low). With the default 20 % the rule still applies to every run of 25 steps or more.
    /// </summary>
    public int PlateauMinSteps { get; init; } = 5;

    /// <summary>Relative validation-loss improvement below which training counts as flat. The rank guide: "doesn't improve meaningfully".</summary>
    public double PlateauMinRelativeImprovement { get; init; } = 0.01;

    /// <summary>Rank multiplier on a plateau. The rank guide: "Increase rank by 2x (e.g. 8→16) and restart from epoch 0", alpha scaled too.</summary>
    public int RankEscalationFactor { get; init; } = 2;

    /// <summary>How many times automatic rank escalation may restart a run.</summary>
    public int MaxRankEscalations { get; init; } = 2;

    /// <summary>Ranks of the sweep. The rank guide, production path: "Run a rank sweep [4, 8, 16]".</summary>
    public IReadOnlyList<int> SweepRanks { get; init; } = new[] { 4, 8, 16 };

    /// <summary>Share of the training data each sweep run sees. The rank guide: "on 10% of your training data".</summary>
    public double SweepDataFraction { get; init; } = 0.1;

    /// <summary>Sweep quality bar. The rank guide: "the rank that gives 95% of max accuracy".</summary>
    public double SweepQualityFraction { get; init; } = 0.95;

    /// <summary>Sweep time bar (strictly below). The rank guide: "with &lt;70% of max training time".</summary>
    public double SweepTimeFraction { get; init; } = 0.70;

    /// <summary>Relative gain of a rank doubling below which the curve has passed its knee. AIQ Labs: "finding the knee of this curve"; the rank guide's 92→94→94.1 example.</summary>
    public double KneeMinRelativeGain { get; init; } = 0.01;

    public const string AlphaRatioKey = "lorakit.alpha_ratio";
    public const string BudgetMinKey = "lorakit.budget_min_percent";
    public const string BudgetMaxKey = "lorakit.budget_max_percent";
    public const string MaxRankKey = "lorakit.max_rank";

    /// <summary>
    /// Applies the .editorconfig keys found through <paramref name="lookup"/> to the defaults.
    /// Invalid values are listed in <paramref name="errors"/> (key, value, fix) and leave the default.
    /// </summary>
    public static LoraThresholds FromOptions(Func<string, string?> lookup, out IReadOnlyList<string> errors)
    {
        var problems = new List<string>();
        var t = Default;

        var ratios = lookup(AlphaRatioKey);
        if (ratios is not null)
        {
            var parsed = new List<double>();
            foreach (var part in ratios.Split(new[] { ',', ';', ' ' }, StringSplitOptions.RemoveEmptyEntries))
            {
                if (double.TryParse(part, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v > 0 && !double.IsInfinity(v)) parsed.Add(v);
                else
                {
                    problems.Add($"{AlphaRatioKey} = {ratios}: '{part}' is not a positive number; write one or more ratios, e.g. 2 or 1, 2");
                    parsed.Clear();
                    break;
                }
            }
            if (parsed.Count > 0) t = t with { AlphaRatios = parsed };
        }

        var min = ReadPercent(lookup, BudgetMinKey, problems);
        var max = ReadPercent(lookup, BudgetMaxKey, problems);
        var newMin = min ?? t.BudgetMinPercent;
        var newMax = max ?? t.BudgetMaxPercent;
        if (newMin > newMax)
            problems.Add($"{BudgetMinKey} ({newMin.ToString(CultureInfo.InvariantCulture)}) is above {BudgetMaxKey} ({newMax.ToString(CultureInfo.InvariantCulture)}); make the minimum the smaller");
        else
            t = t with { BudgetMinPercent = newMin, BudgetMaxPercent = newMax };

        var maxRank = lookup(MaxRankKey);
        if (maxRank is not null)
        {
            if (int.TryParse(maxRank.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var r) && r >= 1)
                t = t with { MaxRank = r };
            else
                problems.Add($"{MaxRankKey} = {maxRank}: not a whole number of at least 1; write e.g. 256");
        }

        errors = problems;
        return t;
    }

    private static double? ReadPercent(Func<string, string?> lookup, string key, List<string> problems)
    {
        var raw = lookup(key);
        if (raw is null) return null;
        var text = raw.Trim().TrimEnd('%').Trim();
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v >= 0 && v <= 100)
            return v;
        problems.Add($"{key} = {raw}: not a percentage between 0 and 100; write e.g. 0.05");
        return null;
    }

    /// <summary>The alpha the first allowed ratio gives for <paramref name="rank"/>.</summary>
    public double ExpectedAlpha(int rank) => AlphaRatios.First() * rank;
}
