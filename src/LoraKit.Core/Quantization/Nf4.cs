namespace LoraKit.Quantization;

/// <summary>Plain NF4 quantization of one tensor: two 4-bit codes per byte and one float32 absmax per block.</summary>
/// <param name="Packed">(n + 1) / 2 bytes; the even element in the high nibble, an odd count padded with <see cref="Nf4.PaddingCode"/>.</param>
/// <param name="Absmax">One float32 per block: the largest |value| of the block.</param>
public sealed record Nf4Blocks(byte[] Packed, float[] Absmax, int BlockSize, long Count);

/// <summary>
/// Double quantization of the absmax values (bitsandbytes' <c>compress_statistics</c>): absmax − offset in
/// blocks of <see cref="Nf4.NestedBlockSize"/>, each scaled by its own float32 absmax and coded with the signed
/// 8-bit dynamic map.
/// </summary>
public sealed record Nf4NestedAbsmax(byte[] Codes, float[] NestedAbsmax, float Offset, int NestedBlockSize);

/// <summary>
/// NF4 exactly as bitsandbytes (0.50.1, pure-torch backend) computes it, in float32: per block of
/// <see cref="DefaultBlockSize"/> values the absmax, the values times the float32 reciprocal of absmax clamped to
/// [−1, 1], each coded by the 15 midpoints of the code book (a value exactly on a midpoint takes the lower code),
/// two codes per byte with the even element in the high nibble. The tables are bitsandbytes' own
/// (functional.py: the NF4 table and <c>create_dynamic_map(signed=True)</c>).
/// </summary>
public static class Nf4
{
    /// <summary>bitsandbytes' quant_type name.</summary>
    public const string QuantType = "nf4";

    /// <summary>Block size of the 4-bit codes: bitsandbytes' and QLoRA's default.</summary>
    public const int DefaultBlockSize = 64;

    /// <summary>Smallest and largest block size bitsandbytes accepts (powers of two).</summary>
    public const int MinBlockSize = 32;
    public const int MaxBlockSize = 4096;

    /// <summary>Block size of the double quantization of the absmax values.</summary>
    public const int NestedBlockSize = 256;

    /// <summary>The code that pads an odd element count to whole bytes.</summary>
    public const byte PaddingCode = 7;

    /// <summary>Bytes per block absmax kept in memory (float32), whatever the storage format.</summary>
    public const int AbsmaxBytes = 4;

    private static readonly float[] s_codeBook =
    {
        -1.0f, -0.696192801f, -0.525073051f, -0.394917488f, -0.284441382f, -0.18477343f, -0.0910500363f, 0.0f,
        0.0795802996f, 0.160930201f, 0.246112302f, 0.337915242f, 0.440709829f, 0.562617004f, 0.722956836f, 1.0f,
    };

    private static readonly float[] s_midpoints = Midpoints15(s_codeBook);

    private static readonly float[] s_dynamicMap =
    {
        -0.992968738f, -0.978906214f, -0.96484375f, -0.950781226f, -0.936718702f, -0.922656238f, -0.908593774f, -0.89453125f,
        -0.880468726f, -0.866406202f, -0.852343738f, -0.838281214f, -0.82421875f, -0.810156226f, -0.796093702f, -0.782031238f,
        -0.767968774f, -0.75390625f, -0.739843786f, -0.725781262f, -0.711718798f, -0.697656274f, -0.68359375f, -0.669531286f,
        -0.655468762f, -0.641406238f, -0.627343774f, -0.61328125f, -0.599218726f, -0.585156262f, -0.571093798f, -0.557031274f,
        -0.54296875f, -0.528906226f, -0.514843762f, -0.500781238f, -0.486718774f, -0.47265625f, -0.458593726f, -0.444531262f,
        -0.430468738f, -0.416406214f, -0.40234375f, -0.388281226f, -0.374218762f, -0.360156238f, -0.346093714f, -0.33203125f,
        -0.317968726f, -0.303906262f, -0.289843738f, -0.275781274f, -0.26171875f, -0.247656256f, -0.233593762f, -0.219531253f,
        -0.205468744f, -0.19140625f, -0.177343741f, -0.163281247f, -0.149218753f, -0.135156244f, -0.12109375f, -0.107031256f,
        -0.0985937491f, -0.0957812443f, -0.0929687545f, -0.0901562497f, -0.0873437524f, -0.0845312476f, -0.0817187428f, -0.078906253f,
        -0.0760937482f, -0.0732812509f, -0.0704687461f, -0.0676562563f, -0.0648437515f, -0.0620312467f, -0.0592187531f, -0.0564062484f,
        -0.053593751f, -0.05078125f, -0.047968749f, -0.0451562516f, -0.0423437469f, -0.0395312496f, -0.0367187522f, -0.0339062475f,
        -0.0310937501f, -0.0282812472f, -0.0254687499f, -0.0226562507f, -0.0198437497f, -0.0170312505f, -0.0142187504f, -0.0114062503f,
        -0.00971874967f, -0.00915624946f, -0.00859375019f, -0.00803124998f, -0.00746874977f, -0.00690625003f, -0.00634374982f, -0.00578125007f,
        -0.00521875033f, -0.00465624966f, -0.00409374991f, -0.00353124971f, -0.00296874996f, -0.00240624999f, -0.00184375001f, -0.00128124992f,
        -0.000943750085f, -0.000831249985f, -0.00071875006f, -0.000606250076f, -0.000493750034f, -0.000381250022f, -0.000268750038f, -0.000156250011f,
        -8.87499991e-05f, -6.62500024e-05f, -4.37499984e-05f, -2.12499981e-05f, -7.7499999e-06f, -3.25000019e-06f, -5.50000038e-07f, 0.0f,
        5.50000038e-07f, 3.25000019e-06f, 7.7499999e-06f, 2.12499981e-05f, 4.37499984e-05f, 6.62500024e-05f, 8.87499991e-05f, 0.000156250011f,
        0.000268750038f, 0.000381250022f, 0.000493750034f, 0.000606250076f, 0.00071875006f, 0.000831249985f, 0.000943750085f, 0.00128124992f,
        0.00184375001f, 0.00240624999f, 0.00296874996f, 0.00353124971f, 0.00409374991f, 0.00465624966f, 0.00521875033f, 0.00578125007f,
        0.00634374982f, 0.00690625003f, 0.00746874977f, 0.00803124998f, 0.00859375019f, 0.00915624946f, 0.00971874967f, 0.0114062503f,
        0.0142187504f, 0.0170312505f, 0.0198437497f, 0.0226562507f, 0.0254687499f, 0.0282812472f, 0.0310937501f, 0.0339062475f,
        0.0367187522f, 0.0395312496f, 0.0423437469f, 0.0451562516f, 0.047968749f, 0.05078125f, 0.053593751f, 0.0564062484f,
        0.0592187531f, 0.0620312467f, 0.0648437515f, 0.0676562563f, 0.0704687461f, 0.0732812509f, 0.0760937482f, 0.078906253f,
        0.0817187428f, 0.0845312476f, 0.0873437524f, 0.0901562497f, 0.0929687545f, 0.0957812443f, 0.0985937491f, 0.107031256f,
        0.12109375f, 0.135156244f, 0.149218753f, 0.163281247f, 0.177343741f, 0.19140625f, 0.205468744f, 0.219531253f,
        0.233593762f, 0.247656256f, 0.26171875f, 0.275781274f, 0.289843738f, 0.303906262f, 0.317968726f, 0.33203125f,
        0.346093714f, 0.360156238f, 0.374218762f, 0.388281226f, 0.40234375f, 0.416406214f, 0.430468738f, 0.444531262f,
        0.458593726f, 0.47265625f, 0.486718774f, 0.500781238f, 0.514843762f, 0.528906226f, 0.54296875f, 0.557031274f,
        0.571093798f, 0.585156262f, 0.599218726f, 0.61328125f, 0.627343774f, 0.641406238f, 0.655468762f, 0.669531286f,
        0.68359375f, 0.697656274f, 0.711718798f, 0.725781262f, 0.739843786f, 0.75390625f, 0.767968774f, 0.782031238f,
        0.796093702f, 0.810156226f, 0.82421875f, 0.838281214f, 0.852343738f, 0.866406202f, 0.880468726f, 0.89453125f,
        0.908593774f, 0.922656238f, 0.936718702f, 0.950781226f, 0.96484375f, 0.978906214f, 0.992968738f, 1.0f,
    };

    /// <summary>The 16 NF4 values (bitsandbytes' table, equal to its create_normal_map()).</summary>
    public static IReadOnlyList<float> CodeBook => s_codeBook;

    /// <summary>The 15 decision thresholds: float32 (c[i] + c[i+1]) / 2.</summary>
    public static IReadOnlyList<float> Midpoints => s_midpoints;

    /// <summary>bitsandbytes' signed 8-bit dynamic map (256 sorted values), used for the nested absmax.</summary>
    public static IReadOnlyList<float> DynamicMap => s_dynamicMap;

    public static bool IsValidBlockSize(int blockSize) =>
        blockSize >= MinBlockSize && blockSize <= MaxBlockSize && (blockSize & (blockSize - 1)) == 0;

    public static long PackedBytes(long count) => (count + 1) / 2;

    public static long Blocks(long count, int blockSize) => (count + blockSize - 1) / blockSize;

    /// <summary>Bytes of one quantized tensor in memory: packed codes plus a float32 absmax per block.</summary>
    public static long MemoryBytes(long count, int blockSize = DefaultBlockSize) => PackedBytes(count) + Blocks(count, blockSize) * AbsmaxBytes;

    /// <summary>The code of one scaled value: the number of midpoints strictly below it (NaN, from an all-zero block, gives 0).</summary>
    public static byte Encode(float scaled)
    {
        int lo = 0, hi = s_midpoints.Length;
        while (lo < hi)
        {
            var mid = (lo + hi) >> 1;
            if (s_midpoints[mid] < scaled) lo = mid + 1;
            else hi = mid;
        }
        return (byte)lo;
    }

    /// <summary>Quantizes <paramref name="values"/> (row-major, any shape) as bitsandbytes' quantize_4bit does.</summary>
    public static Nf4Blocks Quantize(float[] values, int blockSize = DefaultBlockSize)
    {
        if (values is null) throw new ArgumentNullException(nameof(values));
        CheckBlockSize(blockSize);
        var n = values.Length;
        var codes = new byte[n + (n & 1)];
        var absmax = EncodeBlocks(values, blockSize, codes, Encode);
        if ((n & 1) == 1) codes[n] = PaddingCode;
        var packed = new byte[codes.Length / 2];
        for (var i = 0; i < packed.Length; i++) packed[i] = (byte)((codes[2 * i] << 4) | codes[2 * i + 1]);
        return new Nf4Blocks(packed, absmax, blockSize, n);
    }

    /// <summary>The codes of a packed tensor, one per element (the padding nibble dropped).</summary>
    public static byte[] Unpack(byte[] packed, long count)
    {
        if (PackedBytes(count) != packed.Length)
            throw new ArgumentException($"{count} elements pack into {PackedBytes(count)} bytes, not {packed.Length}", nameof(packed));
        var codes = new byte[count];
        for (long i = 0; i < count; i++)
        {
            var b = packed[i >> 1];
            codes[i] = (i & 1) == 0 ? (byte)(b >> 4) : (byte)(b & 0xF);
        }
        return codes;
    }

    /// <summary>code[q] × absmax[block] in float32, as bitsandbytes' dequantize_4bit into float32.</summary>
    public static float[] Dequantize(byte[] packed, float[] absmax, long count, int blockSize)
    {
        CheckBlockSize(blockSize);
        if (absmax.Length != Blocks(count, blockSize))
            throw new ArgumentException($"{count} elements in blocks of {blockSize} need {Blocks(count, blockSize)} absmax values, not {absmax.Length}", nameof(absmax));
        var codes = Unpack(packed, count);
        var result = new float[count];
        for (long i = 0; i < count; i++) result[i] = s_codeBook[codes[i]] * absmax[i / blockSize];
        return result;
    }

    /// <summary>
    /// Double quantization (bitsandbytes quantize_4bit with compress_statistics): absmax − offset coded blockwise
    /// with the dynamic map by quantize_blockwise's rule — the float32 |scaled − map[j]| nearest, the lowest j on a tie.
    /// <paramref name="offset"/> is the float32 mean of the absmax values (the caller computes it as torch does).
    /// </summary>
    public static Nf4NestedAbsmax QuantizeAbsmax(float[] absmax, float offset, int nestedBlockSize = NestedBlockSize)
    {
        if (absmax is null) throw new ArgumentNullException(nameof(absmax));
        var centred = new float[absmax.Length];
        for (var i = 0; i < centred.Length; i++) centred[i] = absmax[i] - offset;
        var codes = new byte[centred.Length];
        var nested = EncodeBlocks(centred, nestedBlockSize, codes, NearestDynamic);
        return new Nf4NestedAbsmax(codes, nested, offset, nestedBlockSize);
    }

    /// <summary>The absmax values back from their double quantization: map[code] × nested absmax + offset, in float32.</summary>
    public static float[] DequantizeAbsmax(Nf4NestedAbsmax nested) => DequantizeAbsmax(nested.Codes, nested.NestedAbsmax, nested.Offset, nested.NestedBlockSize, s_dynamicMap);

    /// <summary>As <see cref="DequantizeAbsmax(Nf4NestedAbsmax)"/> with a given code map (a checkpoint stores its own).</summary>
    public static float[] DequantizeAbsmax(byte[] codes, float[] nestedAbsmax, float offset, int nestedBlockSize, IReadOnlyList<float> map)
    {
        if (nestedAbsmax.Length != Blocks(codes.Length, nestedBlockSize))
            throw new ArgumentException($"{codes.Length} absmax codes in blocks of {nestedBlockSize} need {Blocks(codes.Length, nestedBlockSize)} nested absmax values, not {nestedAbsmax.Length}", nameof(nestedAbsmax));
        var result = new float[codes.Length];
        for (var i = 0; i < codes.Length; i++)
        {
            var value = map[codes[i]] * nestedAbsmax[i / nestedBlockSize];
            result[i] = value + offset;
        }
        return result;
    }

    /// <summary>
    /// bitsandbytes' blockwise scaling, shared by the 4-bit codes and the nested absmax: per block the largest |value|
    /// (NaN propagates, as torch's max does), then each value times the float32 reciprocal of it, clamped to [−1, 1], coded.
    /// </summary>
    private static float[] EncodeBlocks(float[] values, int blockSize, byte[] codes, Func<float, byte> encode)
    {
        var n = values.Length;
        var absmax = new float[(int)Blocks(n, blockSize)];
        for (var b = 0; b < absmax.Length; b++)
        {
            var start = b * blockSize;
            var end = Math.Min(n, start + blockSize);
            var max = 0f;
            for (var i = start; i < end; i++)
            {
                var a = Math.Abs(values[i]);
                if (a > max || float.IsNaN(a)) max = a;
            }
            absmax[b] = max;
            var reciprocal = 1f / max;
            for (var i = start; i < end; i++)
            {
                var scaled = values[i] * reciprocal;
                codes[i] = encode(scaled < -1f ? -1f : scaled > 1f ? 1f : scaled);
            }
        }
        return absmax;
    }

    private static byte NearestDynamic(float scaled)
    {
        if (float.IsNaN(scaled)) return 0; // argmin over NaN differences: the first index
        var map = s_dynamicMap;
        int lo = 0, hi = map.Length;
        while (lo < hi)
        {
            var mid = (lo + hi) >> 1;
            if (map[mid] < scaled) lo = mid + 1;
            else hi = mid;
        }
        // The float32 distances fall then rise along the sorted map, so the first minimum lies next to the
        // insertion point; walk left over equal distances to keep argmin's lowest index.
        var best = Math.Max(0, lo - 1);
        var bestDistance = Math.Abs(scaled - map[best]);
        for (var j = best + 1; j <= Math.Min(map.Length - 1, lo + 1); j++)
        {
            var d = Math.Abs(scaled - map[j]);
            if (d < bestDistance)
            {
                best = j;
                bestDistance = d;
            }
        }
        while (best > 0 && Math.Abs(scaled - map[best - 1]) == bestDistance) best--;
        return (byte)best;
    }

    private static float[] Midpoints15(float[] code)
    {
        var result = new float[code.Length - 1];
        for (var i = 0; i < result.Length; i++) result[i] = (code[i] + code[i + 1]) / 2f;
        return result;
    }

    private static void CheckBlockSize(int blockSize)
    {
        if (!IsValidBlockSize(blockSize))
            throw new ArgumentOutOfRangeException(nameof(blockSize), $"NF4 block size {blockSize} is not a power of two from {MinBlockSize} to {MaxBlockSize}; bitsandbytes' default is {DefaultBlockSize}");
    }
}
