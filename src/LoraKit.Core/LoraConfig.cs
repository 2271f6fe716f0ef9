namespace LoraKit;

/// <summary>
/// A LoRA adapter's hyper-parameters, with PEFT's meanings: rank r, alpha, dropout, target modules
/// (exact name, dotted suffix, or <c>all-linear</c>), bias mode, rsLoRA scaling and initialisation.
/// </summary>
public sealed class LoraConfig
{
    public const int DefaultRank = 8;
    public const double DefaultAlpha = 16;

    /// <summary>PEFT's special target meaning every linear layer except the output head.</summary>
    public const string AllLinear = "all-linear";

    /// <summary>The targets when none are given: the query and value projections (PEFT's default for Llama models, and the LoRA paper's choice).</summary>
    public static readonly IReadOnlyList<string> DefaultTargetModules = new[] { "q_proj", "v_proj" };

    public int Rank { get; set; } = DefaultRank;
    public double Alpha { get; set; } = DefaultAlpha;
    public double Dropout { get; set; }
    public IReadOnlyList<string> TargetModules { get; set; } = DefaultTargetModules;
    public LoraBias Bias { get; set; }
    public bool UseRsLora { get; set; }
    public LoraInitWeights InitWeights { get; set; }

    /// <summary>The multiplier of B·A: α/r, or α/√r under rsLoRA.</summary>
    public double Scaling => ComputeScaling(Rank, Alpha, UseRsLora);

    /// <summary>α/r (or α/√r): the factor applied to the low-rank update. Rank must be positive.</summary>
    public static double ComputeScaling(int rank, double alpha, bool useRsLora)
    {
        if (rank <= 0) throw new ArgumentOutOfRangeException(nameof(rank), rank, "LoRA rank must be at least 1.");
        return useRsLora ? alpha / Math.Sqrt(rank) : alpha / rank;
    }

    public LoraConfig Clone() => new()
    {
        Rank = Rank,
        Alpha = Alpha,
        Dropout = Dropout,
        TargetModules = TargetModules.ToArray(),
        Bias = Bias,
        UseRsLora = UseRsLora,
        InitWeights = InitWeights,
    };

    public override string ToString() =>
        $"LoraConfig(r={Rank}, alpha={Alpha}, dropout={Dropout}, targets=[{string.Join(", ", TargetModules)}], bias={Bias}, rslora={UseRsLora}, init={InitWeights})";
}
