using LoraKit.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LoraKit.Modeling;

/// <summary>The decoder stack (HF LlamaModel): embed_tokens, layers.{i}, norm.</summary>
public sealed class LlamaModel : nn.Module
{
    public Embedding embed_tokens;
    public ModuleList<LlamaDecoderLayer> layers;
    public LlamaRMSNorm norm;

    private readonly LlamaDimensions _dims;

    /// <summary>Recompute each decoder layer in backward while training (<see cref="Modeling.GradientCheckpoint"/>); off by default.</summary>
    public LoraGradientCheckpointing GradientCheckpointing { get; set; }
    private readonly float[] _inverseFrequencies;
    private readonly double _attentionFactor;

    public LlamaModel(LlamaDimensions dims, Device? device = null, ScalarType dtype = ScalarType.Float32)
        : base(nameof(LlamaModel))
    {
        embed_tokens = nn.Embedding(dims.VocabSize, dims.HiddenSize, device: device, dtype: dtype);
        layers = nn.ModuleList(Enumerable.Range(0, dims.Layers).Select(_ => new LlamaDecoderLayer(dims, device, dtype)).ToArray());
        norm = new LlamaRMSNorm(dims.HiddenSize, dims.RmsNormEps, device, dtype, dims.Family.UnitOffsetNorm);
        _dims = dims;
        // transformers builds inv_freq at init with seq_len = None (the short/plain frequencies); dynamic and
        // longrope recompute per forward from the positions (RopeMath.InverseFrequencies).
        _inverseFrequencies = RopeMath.InverseFrequencies(dims, 0);
        _attentionFactor = RopeMath.AttentionFactor(dims);
        RegisterComponents();
    }

    /// <summary>
    /// input_ids [batch, seq] → final hidden states [batch, seq, hidden] (after the final norm).
    /// <paramref name="attentionMask"/> [batch, seq] of 1 (token) / 0 (padding) or null; padding keys are
    /// never attended to. <paramref name="positionIds"/> [batch, seq] or [seq], default 0 … seq−1.
    /// Layers with a sliding window (<see cref="LlamaDimensions.AttentionWindow"/>) see only the last W keys.
    /// With a <paramref name="cache"/>, <paramref name="inputIds"/> are the tokens after the cached ones: they
    /// take positions cache.Length …, attend to every cached token and causally to each other, and their keys
    /// and values are appended to the cache (no attention mask then).
    /// </summary>
    /// <summary>An id outside [0, vocab) would fail inside libtorch's embedding; this names it (and an empty input) instead.</summary>
    private void RequireIdsInVocabulary(Tensor inputIds)
    {
        if (inputIds.numel() == 0)
            throw new ArgumentException("input_ids holds no token: there is nothing to run the model on (an empty prompt or an empty rendered template?)", nameof(inputIds));
        var vocab = embed_tokens.weight!.shape[0];
        var lowest = inputIds.min().item<long>();
        var highest = inputIds.max().item<long>();
        if (lowest < 0 || highest >= vocab)
            throw new ArgumentException(
                $"token id {(lowest < 0 ? lowest : highest)} is outside the model's vocabulary (0 … {vocab - 1}, config.json's vocab_size); the tokenizer and the model come from different checkpoints", nameof(inputIds));
    }

    public Tensor forward(Tensor inputIds, Tensor? attentionMask = null, Tensor? positionIds = null, KvCache? cache = null)
    {
        if (inputIds.dim() != 2)
            throw new ArgumentException($"input_ids must be [batch, seq], got [{string.Join(", ", inputIds.shape)}]", nameof(inputIds));
        using var scope = torch.NewDisposeScope();
        var seq = inputIds.shape[1];
        RequireIdsInVocabulary(inputIds);
        var hidden = embed_tokens.call(inputIds);
        // Gemma: embeddings × √hidden, the factor rounded to the model dtype first (transformers' normalizer tensor).
        if (_dims.Family.ScalesEmbeddings)
            hidden = hidden * torch.tensor(Math.Sqrt(_dims.HiddenSize), dtype: ScalarType.Float64).to(hidden.dtype);
        if (cache is not null && attentionMask is not null)
            throw new ArgumentException("a forward with a KV cache takes no attention mask (one unpadded sequence per cache)", nameof(attentionMask));
        var past = cache?.Length ?? 0;
        var positions = positionIds ?? torch.arange(past, past + seq, dtype: ScalarType.Int64, device: inputIds.device).unsqueeze(0);
        var (cos, sin) = LlamaRotary.CosSin(positions, RowInverseFrequencies(positions, attentionMask), hidden.dtype, _attentionFactor);
        var window = _dims.SlidingWindow;
        // Gemma 2 masks as transformers' eager attention does, without letting a padding query see itself (see
        // LlamaAttention.EagerAttention); the SDPA families keep the diagonal so no row is fully masked.
        var keepDiagonal = !_dims.Family.SandwichNorms;
        Tensor? full, sliding;
        if (cache is not null)
        {
            full = cache.AttendMask(seq, inputIds.device);
            sliding = window > 0 ? cache.AttendMask(seq, inputIds.device, window) : full;
        }
        else
        {
            full = attentionMask is null ? null : AttendMask(attentionMask, seq, 0, inputIds.device, keepDiagonal);
            // A window only changes the mask when some query has more than W keys before it; otherwise the full
            // mask (or SDPA's is_causal without padding) is the same attention.
            sliding = window > 0 && seq > window ? AttendMask(attentionMask, seq, window, inputIds.device, keepDiagonal) : full;
        }
        var checkpoint = GradientCheckpointing != LoraGradientCheckpointing.None && training && cache is null && torch.is_grad_enabled();
        for (var i = 0; i < layers.Count; i++)
        {
            var layer = layers[i];
            var mask = _dims.AttentionWindow(i) > 0 ? sliding : full;
            hidden = checkpoint
                ? GradientCheckpoint.Apply(layer, (x, c) => layer.forward(x, c[0]!, c[1]!, c[2]), hidden, new[] { cos, sin, mask },
                    GradientCheckpointing == LoraGradientCheckpointing.Offload)
                : layer.forward(hidden, cos, sin, mask, cache?.Layer(i));
        }
        cache?.Advance(seq);
        return norm.call(hidden).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The rotary inverse frequencies, [1 or batch, rotaryDim/2]. Dynamic NTK and longrope depend on the sequence length
    /// (transformers' dynamic_rope_update: seq_len = max(position_ids) + 1; with a cache the cached tokens count, as its
    /// growing max_seq_len_cached does while generating). transformers takes one length for the whole padded batch, so
    /// a row's result would depend on its neighbours; LoraKit gives each row of a masked batch its own length (the
    /// largest position of its real tokens + 1), which is what transformers computes for that row alone.
    /// </summary>
    private Tensor RowInverseFrequencies(Tensor positions, Tensor? attentionMask)
    {
        var device = positions.device;
        if (!RopeMath.DependsOnSequence(_dims))
            return torch.tensor(_inverseFrequencies, device: device).view(1, -1);
        if (attentionMask is null)
            return torch.tensor(RopeMath.InverseFrequencies(_dims, positions.max().item<long>() + 1), device: device).view(1, -1);
        var rows = attentionMask.shape[0];
        using var lengths = positions.expand(rows, positions.shape[^1]).masked_fill(attentionMask.eq(0), -1).amax(new long[] { 1 }).cpu();
        var perRow = lengths.data<long>().Select(last => RopeMath.InverseFrequencies(_dims, last + 1)).SelectMany(f => f).ToArray();
        return torch.tensor(perRow, device: device).view(rows, -1);
    }

    /// <summary>
    /// Boolean [batch, 1, seq, seq]: query i may attend to key j when j ≤ i, key j is not padding and both belong to the
    /// same example (the mask's value: 1/0, or example numbers 1, 2, … with 0 for padding). Every
    /// query may also attend to itself, so rows of padding queries (left padding) are never fully masked,
    /// which would give NaN; their outputs are meaningless and must be ignored by the loss (labels −100).
    /// </summary>
    public static Tensor AttendMask(Tensor attentionMask, long seq) => AttendMask(attentionMask, seq, 0, attentionMask.device);

    /// <summary>
    /// As <see cref="AttendMask(Tensor, long)"/>, with a sliding window when <paramref name="window"/> &gt; 0:
    /// query i attends to keys i−W+1 … i (W keys; transformers' sliding mask kv_idx &gt; q_idx − W, on indices in
    /// the sequence). <paramref name="attentionMask"/> may be null (no padding): [1, 1, seq, seq].
    /// </summary>
    /// <param name="keepDiagonal">Whether every query may attend to itself even when it is padding (false for
    /// Gemma 2, which masks exactly as transformers' eager attention).</param>
    public static Tensor AttendMask(Tensor? attentionMask, long seq, int window, Device device, bool keepDiagonal = true)
    {
        if (attentionMask is not null && (attentionMask.dim() != 2 || attentionMask.shape[1] != seq))
            throw new ArgumentException($"attention_mask must be [batch, {seq}], got [{string.Join(", ", attentionMask.shape)}]", nameof(attentionMask));
        if (window < 0) throw new ArgumentOutOfRangeException(nameof(window), window, "a window is 0 (none) or positive");
        using var scope = torch.NewDisposeScope();
        var allowed = torch.ones(seq, seq, dtype: ScalarType.Bool, device: device).tril();
        if (window > 0) allowed = allowed.triu(-(window - 1));
        allowed = allowed.view(1, 1, seq, seq);
        if (attentionMask is not null)
        {
            var b = attentionMask.shape[0];
            allowed = allowed.logical_and(attentionMask.to(ScalarType.Bool).view(b, 1, 1, seq));
            // Several examples in a row (a mask of example numbers, TokenizedDataset's Documents packing): a token sees
            // only its own example's. A 1/0 mask is unchanged by this (every real token is example 1), and padding
            // queries (0) keep the keys they had, as transformers masks them.
            var query = attentionMask.view(b, 1, seq, 1);
            allowed = allowed.logical_and(query.eq(attentionMask.view(b, 1, 1, seq)).logical_or(query.eq(0)));
        }
        if (!keepDiagonal) return allowed.MoveToOuterDisposeScope();
        var diagonal = torch.eye(seq, dtype: ScalarType.Bool, device: device).view(1, 1, seq, seq);
        return allowed.logical_or(diagonal).MoveToOuterDisposeScope();
    }
}
