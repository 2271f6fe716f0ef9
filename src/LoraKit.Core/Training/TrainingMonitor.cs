using LoraKit.Rules;

namespace LoraKit.Training;

/// <summary>What the monitor concluded at an evaluation.</summary>
public enum TrainingVerdict { Continue, Plateau, Overfitting }

/// <summary>One evaluation point: the step, the share of training done, the losses.</summary>
public sealed record EvalPoint(long Step, double Progress, double TrainLoss, double ValidationLoss);

/// <summary>
/// The rank guide's debug symptoms as rules over the evaluation history:
/// plateau — "validation loss doesn't improve meaningfully after 20 % of training" (relative
/// improvement of the best validation loss over the first evaluation below
/// <see cref="LoraThresholds.PlateauMinRelativeImprovement"/> once <see cref="LoraThresholds.PlateauCheckFraction"/>
/// of training and at least <see cref="LoraThresholds.PlateauMinSteps"/> steps are done) ⇒ the rank is too low; overfitting — "training loss → 0 but validation loss
/// increases" (validation loss above its best for <see cref="OverfitPatience"/> evaluations in a row
/// while training loss kept falling) ⇒ the rank is too high for the data.
/// </summary>
public sealed class TrainingMonitor
{
    private readonly LoraThresholds _t;
    private readonly List<EvalPoint> _points = new();
    private bool _plateauChecked;

    public TrainingMonitor(LoraThresholds? thresholds = null, int overfitPatience = 2)
    {
        _t = thresholds ?? LoraThresholds.Default;
        if (overfitPatience < 1) throw new ArgumentOutOfRangeException(nameof(overfitPatience));
        OverfitPatience = overfitPatience;
    }

    /// <summary>Evaluations in a row with validation loss above its best (and training loss falling) that make overfitting.</summary>
    public int OverfitPatience { get; }

    public IReadOnlyList<EvalPoint> Points => _points;

    /// <summary>The lowest validation loss so far.</summary>
    public double BestValidationLoss => _points.Count == 0 ? double.NaN : _points.Min(p => p.ValidationLoss);

    public TrainingVerdict Observe(EvalPoint point)
    {
        _points.Add(point);
        if (_points.Count < 2) return TrainingVerdict.Continue;

        // A run too short to judge (fewer than PlateauMinSteps optimizer steps at the check, e.g. a 1-step smoke run)
        // is not a plateau: the adapter has not had the steps to move the loss, whatever its rank.
        if (!_plateauChecked && point.Progress >= _t.PlateauCheckFraction && point.Step >= _t.PlateauMinSteps)
        {
            _plateauChecked = true;
            var first = _points[0].ValidationLoss;
            var improvement = (first - BestValidationLoss) / first;
            if (improvement < _t.PlateauMinRelativeImprovement) return TrainingVerdict.Plateau;
        }

        if (_points.Count > OverfitPatience)
        {
            var recent = _points.Skip(_points.Count - OverfitPatience - 1).ToArray();
            var bestBefore = _points.Take(_points.Count - OverfitPatience).Min(p => p.ValidationLoss);
            var valRising = recent.Skip(1).All(p => p.ValidationLoss > bestBefore) &&
                            recent.Zip(recent.Skip(1), (a, b) => b.ValidationLoss > a.ValidationLoss).All(x => x);
            var trainFalling = recent.Zip(recent.Skip(1), (a, b) => b.TrainLoss < a.TrainLoss).All(x => x);
            if (valRising && trainFalling) return TrainingVerdict.Overfitting;
        }
        return TrainingVerdict.Continue;
    }

    /// <summary>The rank guide's rollback advice for a plateau, with the escalated rank and alpha.</summary>
    public static string PlateauAdvice(LoraConfig config, LoraThresholds t, double improvement) =>
        $"validation loss improved only {Format.Number(improvement * 100)} % after {Format.Number(t.PlateauCheckFraction * 100)} % of training " +
        $"(less than {Format.Number(t.PlateauMinRelativeImprovement * 100)} %): rank {config.Rank} is likely too low for the task. " +
        $"Stop, reload the base model fresh and retrain from scratch at r={config.Rank * t.RankEscalationFactor}, alpha={Format.Number(config.Alpha * t.RankEscalationFactor)} " +
        "(do not resume the old checkpoint with a new rank: adapter shapes are fixed at initialisation)";

    /// <summary>The rank guide's advice for overfitting.</summary>
    public static string OverfitAdvice(LoraConfig config, LoraThresholds t) =>
        $"training loss keeps falling while validation loss rises: rank {config.Rank} is likely too high for the dataset. " +
        $"Lower the rank to {Math.Min(config.Rank, t.OverfitRankMax) / 2}–{Math.Min(config.Rank, t.OverfitRankMax)} " +
        $"and raise dropout to {Format.Number(t.OverfitDropoutMin)}–{Format.Number(t.OverfitDropoutMax)}, with weight decay > 0";

    /// <summary>The rank guide's advice when memory runs out.</summary>
    public static string OutOfMemoryAdvice(LoraConfig config) =>
        $"rank {config.Rank} on {string.Join(", ", config.TargetModules)} does not fit: reduce the rank (e.g. {Math.Max(1, config.Rank / 2)}) " +
        "or target fewer modules (e.g. only q_proj and v_proj), and re-test with a small batch size first";
}
