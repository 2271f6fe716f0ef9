using LoraKit.Rules;

namespace LoraKit.Run;

/// <summary>
/// What `lorakit sweep` takes: the ranks, the lock file, and the training options of every trial
/// (<see cref="Train"/>, whose defaults are <see cref="TrainRequest.SweepDefaultsFor"/>).
/// </summary>
public sealed class SweepRequest
{
    public const string RanksOption = "--ranks";
    public const string LockOption = "--lock";

    public TrainRequest Train { get; set; } = TrainRequest.SweepDefaultsFor(TrainRequest.BuiltinSpec, TrainRequest.BuiltinSpec);

    public IReadOnlyList<int> Ranks { get; set; } = LoraThresholds.Default.SweepRanks;

    public string LockFile { get; set; } = LoraLock.FileName;

    /// <summary>Ranks from text: comma- or semicolon-separated whole numbers ≥ 1 (MSBuild lists use ';').</summary>
    public static IReadOnlyList<int> ParseRanks(string text) =>
        text.Split(new[] { ',', ';' }, StringSplitOptions.RemoveEmptyEntries).Select(r => r.Trim())
            .Select(r => int.TryParse(r, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v >= 1 ? v
                : throw new ArgumentException($"{RanksOption}: '{r}' is not a rank (a whole number ≥ 1); e.g. {RanksOption} 4,8,16")).ToList();

    /// <summary>`sweep` and its options: the ranks and lock file when not the defaults, then the trials' options.</summary>
    public IReadOnlyList<string> ToArguments()
    {
        var args = new List<string> { "sweep" };
        if (!Ranks.SequenceEqual(LoraThresholds.Default.SweepRanks)) args.AddRange(new[] { RanksOption, string.Join(",", Ranks.Select(r => r.ToString(CultureInfo.InvariantCulture))) });
        if (LockFile != LoraLock.FileName) args.AddRange(new[] { LockOption, LockFile });
        Train.AppendOptions(args, sweep: true);
        return args;
    }
}
