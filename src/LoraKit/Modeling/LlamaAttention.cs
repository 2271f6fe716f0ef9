using LoraKit.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace LoraKit.Modeling;

/// <summary>
/// Grouped-query self-attention of a Llama-family decoder layer (HF LlamaAttention / Qwen2Attention /
/// Qwen3Attention). The projections are held in fields typed <c>Module&lt;Tensor, Tensor&gt;</c> named as
/// their registered modules (q_proj, k_proj, v_proj, o_proj) and always called through those fields, so a
/// LoRA wrapper can replace them (<see cref="ModuleSurgery.ReplaceChild"/>).
/// </summary>
public sealed class LlamaAttention : nn.Module
{
    public nn.Module<Tensor, Tensor> q_proj;
    public nn.Module<Tensor, Tensor> k_proj;
    public nn.Module<Tensor, Tensor> v_proj;
    public nn.Module<Tensor, Tensor> o_proj;

    /// <summary>Per-head RMSNorm on queries (Qwen3); null otherwise.</summary>
    public LlamaRMSNorm? q_norm;

    /// <summary>Per-head RMSNorm on keys (Qwen3); null otherwise.</summary>
    public LlamaRMSNorm? k_norm;

    private readonly int _heads;
    private readonly int _kvHeads;
    private readonly int _headDim;

    public LlamaAttention(LlamaDimensions dims, Device? device = null, ScalarType dtype = ScalarType.Float32)
        : base(nameof(LlamaAttention))
    {
        _heads = dims.AttentionHeads;
        _kvHeads = dims.EffectiveKeyValueHeads;
        _headDim = dims.EffectiveHeadDim;
        q_proj = nn.Linear(dims.HiddenSize, dims.QueryDim, hasBias: dims.QkvBias, device: device, dtype: dtype);
        k_proj = nn.Linear(dims.HiddenSize, dims.KeyValueDim, hasBias: dims.QkvBias, device: device, dtype: dtype);
        v_proj = nn.Linear(dims.HiddenSize, dims.KeyValueDim, hasBias: dims.QkvBias, device: device, dtype: dtype);
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

        var q = q_proj.call(hidden).view(batch, seq, _heads, _headDim);
        var k = k_proj.call(hidden).view(batch, seq, _kvHeads, _headDim);
        var v = v_proj.call(hidden).view(batch, seq, _kvHeads, _headDim);
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
        var attn = attendMask is null
            ? nn.functional.scaled_dot_product_attention(q, k, v, is_casual: true)
            : nn.functional.scaled_dot_product_attention(q, k, v, attn_mask: attendMask);

        var merged = attn.transpose(1, 2).reshape(batch, seq, _heads * _headDim);
        return o_proj.call(merged).MoveToOuterDisposeScope();
    }

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
