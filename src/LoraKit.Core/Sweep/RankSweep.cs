using LoraKit.Rules;

namespace LoraKit.Sweep;

public enum MetricDirection
{
    /// <summary>Validation loss, perplexity: smaller is better.</summary>
    LowerIsBetter,

    /// <summary>Accuracy, F1: larger is better.</summary>
    HigherIsBetter,
}

/// <summary>One run of a rank sweep: its validation metric and wall-clock training time.</summary>
/// <param name="TrainableParameters">Cost of the rank; 0 means "order by rank".</param>
public sealed record SweepRun(int Rank, double Metric, double TrainingSeconds, long TrainableParameters = 0);

/// <summary>How one run fares against the two bars.</summary>
/// <param name="Quality">Fraction of the best metric reached (1 for the best run).</param>
/// <param name="TimeShare">Training time as a fraction of the slowest run's.</param>
public sealed record SweepAssessment(SweepRun Run, double Quality, double TimeShare, bool MeetsQuality, bool MeetsTime);

/// <summary>The sweep's choice and why.</summary>
/// <param name="KneeRank">The rank after which doubling gains less than the knee threshold; null with fewer than two runs.</param>
public sealed record SweepDecision(SweepRun Chosen, bool MeetsBothRules, int? KneeRank, string Reason, IReadOnlyList<SweepAssessment> Runs);

/// <summary>
/// The rank guide's selection rule: "Pick the rank that gives 95% of max accuracy with &lt;70% of max training
/// time" — the cheapest rank reaching ≥ QualityFraction of the best metric in &lt; TimeFraction of the
/// slowest run's time — plus AIQ Labs' knee of the rank/metric curve.
/// </summary>
public static class RankSweep
{
    public static SweepDecision Select(IReadOnlyList<SweepRun> runs, MetricDirection direction, LoraThresholds? thresholds = null)
    {
        var t = thresholds ?? LoraThresholds.Default;
        if (runs.Count == 0) throw new ArgumentException("A rank sweep needs at least one run.", nameof(runs));
        foreach (var r in runs)
        {
            if (double.IsNaN(r.Metric) || double.IsInfinity(r.Metric) || r.Metric <= 0)
                throw new ArgumentException($"Sweep run at rank {r.Rank} has metric {r.Metric}; the 95 % rule compares positive finite metrics (a loss or an accuracy).", nameof(runs));
            if (double.IsNaN(r.TrainingSeconds) || r.TrainingSeconds <= 0)
                throw new ArgumentException($"Sweep run at rank {r.Rank} has training time {r.TrainingSeconds} s; it must be positive.", nameof(runs));
        }
        if (runs.Select(r => r.Rank).Distinct().Count() != runs.Count)
            throw new ArgumentException("A rank sweep has each rank once.", nameof(runs));

        var best = direction == MetricDirection.LowerIsBetter ? runs.Min(r => r.Metric) : runs.Max(r => r.Metric);
        var slowest = runs.Max(r => r.TrainingSeconds);
        var assessed = runs
            .OrderBy(r => Cost(r))
            .ThenBy(r => r.Rank)
            .Select(r =>
            {
                var quality = Quality(r.Metric, best, direction);
                var share = r.TrainingSeconds / slowest;
                return new SweepAssessment(r, quality, share, quality >= t.SweepQualityFraction - 1e-12, share < t.SweepTimeFraction);
            })
            .ToArray();

        var knee = Knee(assessed, t.KneeMinRelativeGain);
        var q = Format.Number(t.SweepQualityFraction * 100);
        var time = Format.Number(t.SweepTimeFraction * 100);
        var both = assessed.FirstOrDefault(a => a.MeetsQuality && a.MeetsTime);
        if (both is not null)
            return new SweepDecision(both.Run, true, knee,
                $"rank {both.Run.Rank} is the cheapest run reaching ≥ {q} % of the best metric ({Format.Number(both.Quality * 100)} %) in < {time} % of the slowest run's time ({Format.Number(Math.Round(both.TimeShare * 100, 1))} %)",
                assessed);
        var quality = assessed.First(a => a.MeetsQuality); // the best run always qualifies
        return new SweepDecision(quality.Run, false, knee,
            $"no run reached ≥ {q} % of the best metric in < {time} % of the slowest run's time; rank {quality.Run.Rank} is the cheapest reaching {q} %",
            assessed);
    }

    private static long Cost(SweepRun r) => r.TrainableParameters > 0 ? r.TrainableParameters : r.Rank;

    /// <summary>Fraction of the best: metric/best when higher is better, best/metric for a loss.</summary>
    public static double Quality(double metric, double best, MetricDirection direction) =>
        direction == MetricDirection.HigherIsBetter ? metric / best : best / metric;

    /// <summary>
    /// The first rank (ascending) whose next step up improves quality by less than
    /// <paramref name="minRelativeGain"/>; the largest rank when every step still pays off.
    /// </summary>
    public static int? Knee(IReadOnlyList<SweepAssessment> byCost, double minRelativeGain)
    {
        var ordered = byCost.OrderBy(a => a.Run.Rank).ToArray();
        if (ordered.Length < 2) return null;
        for (var i = 0; i + 1 < ordered.Length; i++)
        {
            var gain = ordered[i + 1].Quality / ordered[i].Quality - 1;
            if (gain < minRelativeGain) return ordered[i].Run.Rank;
        }
        return ordered[ordered.Length - 1].Run.Rank;
    }
}
