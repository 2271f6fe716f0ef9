using LoraKit.IO;
using LoraKit.Rules;
using LoraKit.Run;
using LoraKit.Training;

namespace LoraKit.Sweep;

/// <summary>What a sweep found and where it wrote it.</summary>
public sealed record SweepOutcome(IReadOnlyList<TrialResult> Trials, SweepDecision Decision, string ReportPath, string PlotPath, string LockPath);

/// <summary>Provenance recorded in lora.lock.json (the rank guide: "log rank choice … you have the provenance of your hyperparameter choice").</summary>
public sealed record SweepProvenance(string AdapterName, string BaseModel, string DatasetSha256, string Dataset, double DataFraction);

/// <summary>
/// The rank guide's production path: train each rank (default 4, 8, 16) on a fraction of the data, each from a
/// fresh base with alpha at the configured ratio, measure validation loss and time, pick with
/// LoraKit.Core's rule (≥ 95 % of the best, &lt; 70 % of the slowest time), and write report.md,
/// a plot and lora.lock.json.
/// </summary>
public static class SweepRunner
{
    public const string ReportFileName = "report.md";
    public const string PlotFileName = "sweep.png";

    public static SweepOutcome Run(IReadOnlyList<int> ranks, LoraConfig template, TrainingOptions trialOptions, ITrialExecutor executor,
        string outputDir, string lockPath, SweepProvenance provenance, LoraThresholds thresholds, Action<TrainingEvent>? events = null,
        CancellationToken cancellationToken = default)
    {
        if (ranks.Count == 0) throw new ArgumentException("A sweep needs at least one rank.", nameof(ranks));
        var ratio = thresholds.AlphaRatios.First();
        var trials = ranks.Distinct().OrderBy(r => r).Select((r, i) => new TrialSpec(i, r, ratio * r,
            Path.Combine(outputDir, $"rank-{r}"), template.TargetModules.ToArray(), template.Dropout, trialOptions)).ToList();
        var sink = events ?? (_ => { });
        var results = executor.Run(trials, sink, cancellationToken);
        var runs = results.Select(r => new SweepRun(r.Rank, r.ValidationLoss, r.Seconds, r.TrainableParameters)).ToList();
        var decision = RankSweep.Select(runs, MetricDirection.LowerIsBetter, thresholds);

        Directory.CreateDirectory(outputDir);
        var reportPath = Path.Combine(outputDir, ReportFileName);
        var plotPath = Path.Combine(outputDir, PlotFileName);
        AtomicFile.WriteAllBytes(reportPath, Encoding.UTF8.GetBytes(Report(results, decision, provenance, thresholds)));
        SweepPlot.Write(plotPath, results, decision);
        LoraLockFile.Write(lockPath, provenance, decision, results, thresholds, ratio * decision.Chosen.Rank);
        sink(new SweepEvent(decision.Chosen.Rank, ratio * decision.Chosen.Rank, decision.KneeRank, decision.Reason, reportPath, plotPath, lockPath));
        return new SweepOutcome(results, decision, reportPath, plotPath, lockPath);
    }

    public static string Report(IReadOnlyList<TrialResult> trials, SweepDecision decision, SweepProvenance p, LoraThresholds t)
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.Append("# Rank sweep: ").Append(p.AdapterName).Append("\n\n");
        sb.Append("Base model `").Append(p.BaseModel).Append("`, dataset `").Append(p.Dataset).Append("` (sha256 ").Append(p.DatasetSha256.Substring(0, Math.Min(12, p.DatasetSha256.Length)))
          .Append("…), ").Append(Format.Number(p.DataFraction * 100)).Append(" % of the training data per trial, each trial from a fresh base model with alpha = ")
          .Append(Format.Number(t.AlphaRatios.First())).Append(" × r.\n\n");
        sb.Append("| rank | alpha | trainable params | val loss | base val loss | quality (best/val) | time (s) | time share | tokens/s | peak memory (MiB) |\n");
        sb.Append("|---|---|---|---|---|---|---|---|---|---|\n");
        foreach (var a in decision.Runs.OrderBy(a => a.Run.Rank))
        {
            var r = trials.First(x => x.Rank == a.Run.Rank);
            var mark = a.Run.Rank == decision.Chosen.Rank ? " **(chosen)**" : "";
            sb.Append(inv, $"| {r.Rank}{mark} | {Format.Number(r.Alpha)} | {Format.Count(r.TrainableParameters)} | {r.ValidationLoss:0.0000} | {r.BaseValidationLoss:0.0000} | {a.Quality * 100:0.0} % | {r.Seconds:0.00} | {a.TimeShare * 100:0.0} % | {r.TokensPerSecond:0} | {r.PeakMemoryBytes / (1024.0 * 1024):0} |\n");
        }
        sb.Append('\n');
        sb.Append("**Choice: rank ").Append(decision.Chosen.Rank).Append("** — ").Append(decision.Reason).Append(".\n\n");
        sb.Append("Rule (the rank guide): the smallest-cost rank reaching ≥ ").Append(Format.Number(t.SweepQualityFraction * 100))
          .Append(" % of the best validation metric in < ").Append(Format.Number(t.SweepTimeFraction * 100)).Append(" % of the slowest trial's time; for a loss, quality is best ÷ loss.\n\n");
        if (decision.KneeRank is { } knee)
            sb.Append("Knee (AIQ Labs): rank ").Append(knee).Append(" — past it, doubling the rank improves quality by less than ")
              .Append(Format.Number(t.KneeMinRelativeGain * 100)).Append(" %.\n");
        return sb.ToString();
    }
}
