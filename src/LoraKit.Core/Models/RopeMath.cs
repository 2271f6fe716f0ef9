namespace LoraKit.Models;

/// <summary>
/// Rotary inverse frequencies and the cos/sin attention factor of every rope_type, as transformers'
/// <c>modeling_rope_utils.py</c> computes them (the <c>_compute_*_parameters</c> functions and the
/// <c>dynamic_rope_update</c> decorator the Llama, Mistral and Qwen2 rotary embeddings wear).
/// <para>
/// Precision: transformers computes inv_freq with float32 torch ops — <c>base ** (arange(0, dim, 2).float() / dim)</c>,
/// the llama3/yarn blends and dynamic NTK's grown base (its sequence length is a tensor) all in float32 — and
/// the angles as float32 <c>inv_freq · position</c>. An inverse frequency computed in double instead differs by up
/// to ~6e-8 relative, which at position 100,000 moves an angle by ~1e-2 rad; so every step here is done in float
/// (C# float arithmetic is IEEE single precision), each Python scalar rounded to float where torch would. pow is
/// evaluated in double and rounded once, i.e. correctly rounded, where torch's vectorised powf may differ by 1 ulp.
/// The attention factor stays a double, as in Python; the runtime multiplies float32 cos/sin by it.
/// </para>
/// </summary>
public static class RopeMath
{
    /// <summary>The rotary dimension: head_dim (transformers reads config.head_dim, else hidden/heads) × partial_rotary_factor.</summary>
    public static int RotaryDim(LlamaDimensions d) => d.RotaryDim;

    /// <summary>
    /// The longest sequence the configured model runs, which <c>lorakit eval</c> cuts lines to by default: the context
    /// its RoPE scaling is made for. Linear and dynamic scaling keep max_position_embeddings as the pre-training context
    /// and run factor × it; yarn runs factor × its original context (original_max_position_embeddings, else
    /// max_position_embeddings), and llama3 factor × its original context, never less than max_position_embeddings;
    /// plain RoPE and longrope (whose max_position_embeddings is already the extended context) run
    /// max_position_embeddings. transformers itself cuts nothing, so a cut below this would score less than it does.
    /// </summary>
    public static int LongestSequence(LlamaDimensions d)
    {
        var max = d.MaxPositionEmbeddings;
        if (d.RopeScaling is not { } s) return max;
        double longest = s.Type switch
        {
            RopeType.Linear or RopeType.Dynamic => s.Factor * max,
            RopeType.Yarn or RopeType.Llama3 => s.Factor * OriginalContext(d),
            _ => max,
        };
        return (int)Math.Min(int.MaxValue, Math.Max(max, Math.Floor(longest)));
    }

    /// <summary>
    /// Whether the frequencies depend on the sequence (dynamic NTK, longrope's short/long choice), so the
    /// runtime must ask again for each forward.
    /// </summary>
    public static bool DependsOnSequence(LlamaDimensions d) => d.RopeScaling?.Type is RopeType.Dynamic or RopeType.LongRope;

    /// <summary>
    /// inv_freq for a forward whose largest position is <paramref name="sequenceLength"/> − 1 (transformers'
    /// <c>seq_len = max(position_ids) + 1</c>); types that do not depend on it ignore it.
    /// <para>
    /// dynamic: transformers keeps the grown frequencies while later sequences stay above
    /// max_position_embeddings and resets below it (a history the module carries between calls); LoraKit
    /// computes each forward from its own length, which is transformers' result on a fresh model and on every
    /// call at least as long as the longest before it.
    /// </para>
    /// </summary>
    public static float[] InverseFrequencies(LlamaDimensions d, long sequenceLength)
    {
        var dim = RotaryDim(d);
        var s = d.RopeScaling;
        if (s is null) return Default(dim, d.RopeTheta);
        switch (s.Type)
        {
            case RopeType.Default:
                return Default(dim, d.RopeTheta);
            case RopeType.Linear:
                {
                    var inv = Default(dim, d.RopeTheta);
                    var f = (float)s.Factor;
                    for (var i = 0; i < inv.Length; i++) inv[i] /= f;
                    return inv;
                }
            case RopeType.Dynamic:
                return Dynamic(dim, d.RopeTheta, s.Factor, d.MaxPositionEmbeddings, sequenceLength);
            case RopeType.Llama3:
                return Llama3(Default(dim, d.RopeTheta), s);
            case RopeType.Yarn:
                return Yarn(dim, d.RopeTheta, s, OriginalContext(d));
            case RopeType.LongRope:
                {
                    var factors = sequenceLength > OriginalContext(d) ? s.LongFactor! : s.ShortFactor!;
                    var inv = new float[dim / 2];
                    var b = (float)d.RopeTheta;
                    for (var i = 0; i < inv.Length; i++)
                        inv[i] = 1f / ((float)factors[i] * Pow(b, Exponent(i, dim)));
                    return inv;
                }
            default:
                throw new ArgumentOutOfRangeException(nameof(d), s.Type, "unknown rope type");
        }
    }

    /// <summary>
    /// The factor transformers multiplies cos and sin by (<c>attention_scaling</c>): 1 except for yarn
    /// (attention_factor, else 0.1·ln(factor)+1, or the mscale/mscale_all_dim ratio) and longrope
    /// (attention_factor, else √(1 + ln(factor)/ln(original context)) when factor &gt; 1).
    /// </summary>
    public static double AttentionFactor(LlamaDimensions d)
    {
        var s = d.RopeScaling;
        if (s is null) return 1.0;
        if (s.AttentionFactor is { } given && s.Type is RopeType.Yarn or RopeType.LongRope) return given;
        switch (s.Type)
        {
            case RopeType.Yarn:
                // get_mscale(scale, m) = 0.1·m·ln(scale) + 1 for scale > 1, else 1; the ratio only when both are set (non-zero).
                return s.Mscale != 0 && s.MscaleAllDim != 0
                    ? YarnMscale(s.Factor, s.Mscale) / YarnMscale(s.Factor, s.MscaleAllDim)
                    : YarnMscale(s.Factor, 1.0);
            case RopeType.LongRope:
                return s.Factor <= 1.0 ? 1.0 : Math.Sqrt(1 + Math.Log(s.Factor) / Math.Log(OriginalContext(d)));
            default:
                return 1.0;
        }
    }

    /// <summary>The pre-training context the scaled types measure against (0 in the description = max_position_embeddings).</summary>
    public static int OriginalContext(LlamaDimensions d) =>
        d.RopeScaling is { OriginalMaxPositionEmbeddings: > 0 } s ? s.OriginalMaxPositionEmbeddings : d.MaxPositionEmbeddings;

    /// <summary>1 / theta^(2i/dim) in float32: transformers' <c>_compute_default_rope_parameters</c>.</summary>
    public static float[] Default(int dim, double theta)
    {
        if (dim <= 0 || dim % 2 != 0)
            throw new ArgumentOutOfRangeException(nameof(dim), dim, "rotary embeddings need a positive, even head dimension");
        if (!(theta > 0) || double.IsInfinity(theta))
            throw new ArgumentOutOfRangeException(nameof(theta), theta, "rope theta must be positive and finite");
        var b = (float)theta;
        var inv = new float[dim / 2];
        for (var i = 0; i < inv.Length; i++) inv[i] = 1f / Pow(b, Exponent(i, dim));
        return inv;
    }

    private static float[] Dynamic(int dim, double theta, double factor, int maxPositions, long sequenceLength)
    {
        if (sequenceLength <= maxPositions) return Default(dim, theta);
        // base · ((factor·seq / max) − (factor − 1))^(dim / (dim − 2)), in float32 since seq is a 0-d tensor there.
        var grown = (float)factor * (float)sequenceLength / maxPositions - (float)(factor - 1);
        // torch's tensor ** python-float keeps the exponent in double (checked against torch: a float32 exponent
        // moves the grown base by 2 ulp and inv_freq by up to 2 ulp).
        var b = (float)theta * (float)Math.Pow(grown, (double)dim / (dim - 2));
        var inv = new float[dim / 2];
        for (var i = 0; i < inv.Length; i++) inv[i] = 1f / Pow(b, Exponent(i, dim));
        return inv;
    }

    private static float[] Llama3(float[] inv, RopeScaling s)
    {
        var factor = (float)s.Factor;
        var oldContext = s.OriginalMaxPositionEmbeddings;
        var lowWavelen = (float)(oldContext / s.LowFrequencyFactor);
        var highWavelen = (float)(oldContext / s.HighFrequencyFactor);
        var low = (float)s.LowFrequencyFactor;
        var band = (float)(s.HighFrequencyFactor - s.LowFrequencyFactor);
        var twoPi = (float)(2 * Math.PI);
        var result = new float[inv.Length];
        for (var i = 0; i < inv.Length; i++)
        {
            var wavelen = twoPi / inv[i];
            // wavelen > low_freq_wavelen: divide by factor; < high_freq_wavelen: keep; otherwise smooth.
            var scaled = wavelen > lowWavelen ? inv[i] / factor : inv[i];
            var medium = !(wavelen < highWavelen) && !(wavelen > lowWavelen);
            if (medium)
            {
                var smooth = ((float)oldContext / wavelen - low) / band;
                scaled = (1f - smooth) * scaled / factor + smooth * scaled;
            }
            result[i] = scaled;
        }
        return result;
    }

    private static float[] Yarn(int dim, double theta, RopeScaling s, int originalContext)
    {
        var b = (float)theta;
        var factor = (float)s.Factor;
        // find_correction_dim(rot) = dim·ln(ctx / (rot·2π)) / (2·ln(base)), in double; floor/ceil when truncating.
        double CorrectionDim(double rotations) => dim * Math.Log(originalContext / (rotations * 2 * Math.PI)) / (2 * Math.Log(theta));
        double low = CorrectionDim(s.BetaFast), high = CorrectionDim(s.BetaSlow);
        if (s.Truncate)
        {
            low = Math.Floor(low);
            high = Math.Ceiling(high);
        }
        low = Math.Max(low, 0);
        high = Math.Min(high, dim - 1);
        if (low == high) high += 0.001; // transformers' guard against a zero-width ramp
        var lowF = (float)low;
        var width = (float)(high - low);
        var inv = new float[dim / 2];
        for (var i = 0; i < inv.Length; i++)
        {
            var pos = Pow(b, Exponent(i, dim));
            var extrapolation = 1f / pos;
            var interpolation = 1f / (factor * pos);
            var ramp = Math.Min(Math.Max((i - lowF) / width, 0f), 1f);
            var extrapolationFactor = 1f - ramp;
            inv[i] = interpolation * (1f - extrapolationFactor) + extrapolation * extrapolationFactor;
        }
        return inv;
    }

    private static double YarnMscale(double scale, double mscale) => scale <= 1 ? 1.0 : 0.1 * mscale * Math.Log(scale) + 1.0;

    /// <summary>arange(0, dim, 2).float() / dim, element i, in float32.</summary>
    private static float Exponent(int i, int dim) => (float)(2 * i) / dim;

    private static float Pow(float b, float e) => (float)Math.Pow(b, e);
}
