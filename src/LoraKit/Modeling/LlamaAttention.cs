using LoraKit.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace LoraKit.Modeling;

/// <summary>
/// Grouped-query self-attention of a Llama-family decoder layer (HF LlamaAttention / Qwen2Attention /
/// Qwen3Attention / Gemma2Attention / Phi3Attention). The projections are held in fields typed
/// <c>Module&lt;Tensor, Tensor&gt;</c> named as their registered modules (q_proj, k_proj, v_proj, o_proj, or Phi-3's
/// fused qkv_proj) and always called through those fields, so a LoRA wrapper can replace them
/// (<see cref="ModuleSurgery.ReplaceChild"/>).
/// </summary>
public sealed class LlamaAttention : nn.Module
{
    /// <summary>Null when the model fuses it into <see cref="qkv_proj"/>.</summary>
    public nn.Module<Tensor, Tensor>? q_proj;

    /// <summary>Null when the model fuses it into <see cref="qkv_proj"/>.</summary>
    public nn.Module<Tensor, Tensor>? k_proj;

    /// <summary>Null when the model fuses it into <see cref="qkv_proj"/>.</summary>
    public nn.Module<Tensor, Tensor>? v_proj;

    /// <summary>Phi-3's fused projection [q + 2·kv, hidden] (output rows: queries, keys, values); null otherwise.</summary>
    public nn.Module<Tensor, Tensor>? qkv_proj;

    public nn.Module<Tensor, Tensor> o_proj;

    /// <summary>Per-head RMSNorm on queries (Qwen3); null otherwise.</summary>
    public LlamaRMSNorm? q_norm;

    /// <summary>Per-head RMSNorm on keys (Qwen3); null otherwise.</summary>
    public LlamaRMSNorm? k_norm;

    private readonly int _heads;
    private readonly int _kvHeads;
    private readonly int _headDim;
    private readonly double _scale;
    private readonly double _softcap;
    private readonly bool _eager;

    public LlamaAttention(LlamaDimensions dims, Device? device = null, ScalarType dtype = ScalarType.Float32)
        : base(nameof(LlamaAttention))
    {
        _heads = dims.AttentionHeads;
        _kvHeads = dims.EffectiveKeyValueHeads;
        _headDim = dims.EffectiveHeadDim;
        _scale = dims.AttentionScale;
        _softcap = dims.AttentionLogitSoftcap;
        // Gemma 2 runs transformers' eager attention: soft-capped scores and masks of the dtype's minimum.
        _eager = dims.Family.SandwichNorms;
        if (dims.Family.FusedProjections)
            qkv_proj = nn.Linear(dims.HiddenSize, dims.QueryDim + 2L * dims.KeyValueDim, hasBias: dims.QkvBias, device: device, dtype: dtype);
        else
        {
            q_proj = nn.Linear(dims.HiddenSize, dims.QueryDim, hasBias: dims.QkvBias, device: device, dtype: dtype);
            k_proj = nn.Linear(dims.HiddenSize, dims.KeyValueDim, hasBias: dims.QkvBias, device: device, dtype: dtype);
            v_proj = nn.Linear(dims.HiddenSize, dims.KeyValueDim, hasBias: dims.QkvBias, device: device, dtype: dtype);
        }
        o_proj = nn.Linear(dims.QueryDim, dims.HiddenSize, hasBias: dims.OutputProjectionBias, device: device, dtype: dtype);
        if (dims.QkNorm)
        {
            q_norm = new LlamaRMSNorm(_headDim, dims.RmsNormEps, device, dtype);
            k_norm = new LlamaRMSNorm(_headDim, dims.RmsNormEps, device, dtype);
        }
        RegisterComponents();
    }

    /// <summary>
    /// hidden [batch, seq, hidden] → [batch, seq, hidden]. <paramref name="cos"/>/<paramref name="sin"/> come
    /// from <see cref="LlamaRotary.CosSin"/>. <paramref name="attendMask"/> is null for plain causal attention,
    /// else a boolean [batch, 1, seq, seq] mask, true where a query may attend to a key (causality included).
    /// With a <paramref name="cache"/>, the new keys and values are appended to it and the queries attend to all
    /// of its keys; the mask is then [batch, 1, seq, cached + seq] (see <see cref="KvCache.AttendMask"/>).
    /// </summary>
    public Tensor forward(Tensor hidden, Tensor cos, Tensor sin, Tensor? attendMask, LayerKvCache? cache = null)
    {
        using var scope = torch.NewDisposeScope();
        var batch = hidden.shape[0];
        var seq = hidden.shape[1];

        Tensor q, k, v;
        if (qkv_proj is not null)
        {
            // transformers' Phi3Attention: queries, then keys, then values along the output features.
            var qkv = qkv_proj.call(hidden);
            long queryDim = _heads * _headDim, kvDim = _kvHeads * _headDim;
            q = qkv.narrow(-1, 0, queryDim).view(batch, seq, _heads, _headDim);
            k = qkv.narrow(-1, queryDim, kvDim).view(batch, seq, _kvHeads, _headDim);
            v = qkv.narrow(-1, queryDim + kvDim, kvDim).view(batch, seq, _kvHeads, _headDim);
        }
        else
        {
            q = q_proj!.call(hidden).view(batch, seq, _heads, _headDim);
            k = k_proj!.call(hidden).view(batch, seq, _kvHeads, _headDim);
            v = v_proj!.call(hidden).view(batch, seq, _kvHeads, _headDim);
        }
        if (q_norm is not null) q = q_norm.call(q);
        if (k_norm is not null) k = k_norm.call(k);
        q = q.transpose(1, 2);
        k = k.transpose(1, 2);
        v = v.transpose(1, 2);

        q = LlamaRotary.Apply(q, cos, sin);
        k = LlamaRotary.Apply(k, cos, sin);
        if (cache is not null) (k, v) = cache.Append(k, v);
        k = RepeatKv(k, _heads / _kvHeads);
        v = RepeatKv(v, _heads / _kvHeads);

        // The SDPA kernels (flash / memory-efficient / CPU flash) accumulate the softmax in float32 for
        // reduced-precision inputs; the scale is 1/sqrt(headDim) as in HF.
        var attn = _eager ? EagerAttention(q, k, v, attendMask) : attendMask is null
            ? nn.functional.scaled_dot_product_attention(q, k, v, is_casual: true)
            : nn.functional.scaled_dot_product_attention(q, k, v, attn_mask: attendMask);

        var merged = attn.transpose(1, 2).reshape(batch, seq, _heads * _headDim);
        return o_proj.call(merged).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// transformers' eager attention as Gemma 2 runs it: scores = q·kᵀ · scale, soft-capped to c·tanh(scores / c), then
    /// every disallowed key set to the dtype's minimum (transformers adds a mask of 0 / minimum, and score + minimum
    /// rounds to the minimum), softmax in float32, cast back, times v. A query whose keys are all disallowed (a padding
    /// query whose window holds only padding) gets a uniform softmax over every key instead of NaN, as in transformers.
    /// <paramref name="attendMask"/> null = causal over the keys, the queries being the last ones.
    /// </summary>
    private Tensor EagerAttention(Tensor q, Tensor k, Tensor v, Tensor? attendMask)
    {
        using var scope = torch.NewDisposeScope();
        var scores = torch.matmul(q, k.transpose(2, 3)) * _scale;
        if (_softcap > 0) scores = (scores / _softcap).tanh() * _softcap;
        var allowed = attendMask ?? CausalMask(q.shape[2], k.shape[2], q.device);
        scores = scores.masked_fill(allowed.logical_not(), MinimumOf(scores.dtype));
        var probabilities = nn.functional.softmax(scores, -1, ScalarType.Float32).to(q.dtype);
        return torch.matmul(probabilities, v).MoveToOuterDisposeScope();
    }

    /// <summary>Boolean [1, 1, queries, keys]: query i (the (keys − queries + i)-th token) sees keys up to itself.</summary>
    private static Tensor CausalMask(long queries, long keys, Device device) =>
        torch.ones(queries, keys, dtype: ScalarType.Bool, device: device).tril(keys - queries).view(1, 1, queries, keys);

    /// <summary>torch.finfo(dtype).min.</summary>
    internal static double MinimumOf(ScalarType dtype) => dtype switch
    {
        ScalarType.Float32 => float.MinValue,
        ScalarType.Float64 => double.MinValue,
        ScalarType.Float16 => -65504.0,
        ScalarType.BFloat16 => -3.3895313892515355e38,
        _ => throw new ArgumentException($"{dtype} is not a floating-point type", nameof(dtype)),
    };

    /// <summary>
    /// HF repeat_kv: [batch, kvHeads, seq, d] → [batch, kvHeads·nRep, seq, d], each key/value head repeated
    /// nRep times consecutively (query head h uses kv head h / nRep).
    /// </summary>
    public static Tensor RepeatKv(Tensor x, int nRep)
    {
        if (nRep < 1) throw new ArgumentOutOfRangeException(nameof(nRep), nRep, "must be at least 1");
        return nRep == 1 ? x.alias() : x.repeat_interleave(nRep, dim: 1);
    }
}
