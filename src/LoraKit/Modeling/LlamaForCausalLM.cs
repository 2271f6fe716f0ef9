using System.Text.Json;
using LoraKit.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LoraKit.Modeling;

/// <summary>
/// A Llama-family causal language model (Llama, Mistral, Qwen2, Qwen3, Gemma 2, Phi-3) with Hugging Face module and
/// parameter names: <c>model.embed_tokens.weight</c>, <c>model.layers.{i}.self_attn.q_proj.weight</c>, …,
/// <c>model.norm.weight</c>, <c>lm_head.weight</c> (absent when the embeddings are tied).
/// input_ids [batch, seq] (int64) → logits [batch, seq, vocab].
/// </summary>
public sealed class LlamaForCausalLM : nn.Module<Tensor, Tensor>
{
    /// <summary>The decoder stack; registered as <c>model</c>.</summary>
    public LlamaModel model;

    /// <summary>
    /// The output head; an nn.Linear [vocab, hidden] without bias, or a <see cref="TiedLinear"/> reading
    /// <c>model.embed_tokens.weight</c> when the embeddings are tied. Replaceable (see <see cref="LinearSlots"/>).
    /// </summary>
    public nn.Module<Tensor, Tensor> lm_head;

    private readonly LlamaDimensions _dims;

    public LlamaForCausalLM(LlamaDimensions dims, Device? device = null, ScalarType dtype = ScalarType.Float32)
        : base(nameof(LlamaForCausalLM))
    {
        if (dims is null) throw new ArgumentNullException(nameof(dims));
        dims.Validate(dims.ModelType, HfConfig.KeyFor);
        if (dims.EffectiveHeadDim % 2 != 0)
            throw new ArgumentException($"rotary embeddings need an even head dimension, got {dims.EffectiveHeadDim}", nameof(dims));
        if (dtype is not (ScalarType.Float32 or ScalarType.BFloat16 or ScalarType.Float16 or ScalarType.Float64))
            throw new ArgumentException($"a model is built in a floating-point type, not {dtype}", nameof(dtype));
        RequireFitsMachine(dims, device, dtype, $"the {dims.ModelType} model description");
        _dims = dims;
        model = new LlamaModel(dims, device, dtype);
        lm_head = dims.TieWordEmbeddings
            ? new TiedLinear(() => model.embed_tokens.weight!)
            : nn.Linear(dims.HiddenSize, dims.VocabSize, hasBias: false, device: device, dtype: dtype);
        RegisterComponents();
    }

    public LlamaDimensions Dimensions => _dims;

    /// <summary>
    /// LORA2006 (naming <paramref name="source"/>, e.g. the config.json) when the weights of <paramref name="dims"/> in
    /// <paramref name="dtype"/> need more than this machine's RAM — checked before anything is allocated, since an
    /// over-committed allocation is not refused but killed later. A CUDA model is left to CUDA's own out-of-memory
    /// error (TorchSharp does not report the GPU's memory).
    /// </summary>
    public static void RequireFitsMachine(LlamaDimensions dims, Device? device, ScalarType dtype, string source)
    {
        if (device is not null && device.type == DeviceType.CUDA) return;
        var ram = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        var bytesPerParameter = dtype is ScalarType.Float64 ? 8 : dtype is ScalarType.Float32 ? 4 : 2;
        ModelSize.RequireFits(ModelShape.FromLlama(dims.ModelType, dims, source), bytesPerParameter, ram, source,
            $"{ModelSize.FormatBytes(ram)} of RAM");
    }

    /// <summary>
    /// A model with Hugging Face's random initialisation, deterministic in <paramref name="seed"/> whatever the
    /// device: linear and embedding weights ~ N(0, 0.02²) drawn from a CPU generator seeded with
    /// <paramref name="seed"/> in named_parameters order, biases 0, norm weights 1.
    /// </summary>
    public static LlamaForCausalLM Create(LlamaDimensions dims, Device? device = null, ScalarType dtype = ScalarType.Float32, long seed = 0)
    {
        var m = new LlamaForCausalLM(dims, device, dtype);
        m.InitializeWeights(seed);
        return m;
    }

    /// <summary>Re-draws every weight as <see cref="Create"/> does.</summary>
    public void InitializeWeights(long seed, double std = 0.02)
    {
        using var generator = new torch.Generator(unchecked((ulong)seed), torch.CPU);
        using var noGrad = torch.no_grad();
        foreach (var (name, p) in named_parameters())
        {
            if (name.EndsWith(".bias", StringComparison.Ordinal))
                p.zero_();
            else if (IsNormWeight(name))
                p.fill_(_dims.Family.UnitOffsetNorm ? 0.0 : 1.0); // Gemma's norms scale by 1 + weight
            else
            {
                using var sample = torch.empty(p.shape, dtype: ScalarType.Float32, device: torch.CPU).normal_(0.0, std, generator);
                p.copy_(sample);
            }
        }
    }

    private static bool IsNormWeight(string name)
    {
        var segments = name.Split('.');
        return segments.Length >= 2 && segments[^1] == "weight" && segments[^2].EndsWith("norm", StringComparison.Ordinal);
    }

    /// <summary>input_ids [batch, seq] → logits [batch, seq, vocab], causal attention.</summary>
    public override Tensor forward(Tensor inputIds) => forward(inputIds, null, null);

    /// <summary>
    /// input_ids [batch, seq] → logits [batch, seq, vocab]. <paramref name="attentionMask"/> [batch, seq]
    /// of 1/0 keeps padding keys out of attention (outputs at padding positions are meaningless);
    /// <paramref name="positionIds"/> [batch, seq] overrides the default positions 0 … seq−1 (e.g. for left padding).
    /// </summary>
    public Tensor forward(Tensor inputIds, Tensor? attentionMask, Tensor? positionIds = null)
    {
        using var scope = torch.NewDisposeScope();
        var hidden = model.forward(inputIds, attentionMask, positionIds);
        return Logits(hidden).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The logits of final hidden states [.., hidden] (after the final norm): lm_head, then Gemma 2's soft-capping
    /// c·tanh(logits / c) when final_logit_softcapping is set. Every path from hidden states to logits or a loss goes
    /// through here.
    /// </summary>
    public Tensor Logits(Tensor hidden)
    {
        var logits = lm_head.call(hidden);
        if (_dims.FinalLogitSoftcap <= 0) return logits;
        using var scope = torch.NewDisposeScope();
        return ((logits / _dims.FinalLogitSoftcap).tanh() * _dims.FinalLogitSoftcap).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Incremental decoding: logits [batch, new, vocab] of <paramref name="inputIds"/> [batch, new], the tokens
    /// after those <paramref name="cache"/> holds (see <see cref="KvCache"/>); their keys and values are appended.
    /// </summary>
    public Tensor forward(Tensor inputIds, KvCache cache)
    {
        if (cache is null) throw new ArgumentNullException(nameof(cache));
        if (cache.LayerCount != model.layers.Count)
            throw new ArgumentException($"the cache has {cache.LayerCount} layers, the model {model.layers.Count}", nameof(cache));
        using var scope = torch.NewDisposeScope();
        var hidden = model.forward(inputIds, null, null, cache);
        return Logits(hidden).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// A cache for this model's layers with room for <paramref name="capacity"/> tokens (see <see cref="KvCache"/>); its
    /// windowed layers (Mistral, Qwen2's upper layers, Gemma 2's even layers) keep only the keys their window still sees.
    /// </summary>
    public KvCache NewCache(int capacity = 0) => new(Enumerable.Range(0, model.layers.Count).Select(_dims.AttentionWindow).ToArray(), capacity);

    /// <summary>
    /// The loss in token chunks (<see cref="ChunkedCausalLmLoss"/>: no [batch, seq, vocab] logits held; the same loss and
    /// gradients). On by default; false computes the whole logits and <see cref="CausalLmLoss"/>.
    /// </summary>
    public bool ChunkedLoss { get; set; } = true;

    /// <summary>Tokens per chunk of the chunked loss; 0 (default): LoraKit.Core's <c>MemoryEstimator.LossChunkTokens</c> of the vocabulary.</summary>
    public long LossChunkTokens { get; set; }

    /// <summary>
    /// Mean next-token cross-entropy of this model on <paramref name="inputIds"/> (see <see cref="CausalLmLoss"/>);
    /// <paramref name="attentionMask"/> and <paramref name="positionIds"/> as in <see cref="LlamaModel.forward"/>.
    /// </summary>
    public Tensor Loss(Tensor inputIds, Tensor labels, Tensor? attentionMask = null, Tensor? positionIds = null)
    {
        using var scope = torch.NewDisposeScope();
        if (!ChunkedLoss) return CausalLmLoss(forward(inputIds, attentionMask, positionIds), labels).MoveToOuterDisposeScope();
        var hidden = model.forward(inputIds, attentionMask, positionIds);
        return ChunkedCausalLmLoss.Loss(lm_head, _dims.VocabSize, hidden, labels, chunkTokens: LossChunkTokens, finalSoftcap: _dims.FinalLogitSoftcap).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Hugging Face's causal-LM loss: logits at position t predict labels[t+1]; labels equal to −100 are
    /// ignored; the mean is over the remaining tokens, computed in float32. logits [batch, seq, vocab], labels [batch, seq].
    /// </summary>
    public static Tensor CausalLmLoss(Tensor logits, Tensor labels, long ignoreIndex = -100)
    {
        if (logits.dim() != 3 || labels.dim() != 2 || logits.shape[0] != labels.shape[0] || logits.shape[1] != labels.shape[1])
            throw new ArgumentException(
                $"logits must be [batch, seq, vocab] and labels [batch, seq]; got [{string.Join(", ", logits.shape)}] and [{string.Join(", ", labels.shape)}]");
        using var scope = torch.NewDisposeScope();
        var vocab = logits.shape[2];
        // The labels shift left (the last position gets ignoreIndex), not the logits: a view of the logits
        // needs no copy of the [batch, seq, vocab] tensor (1.5 GiB in bf16 for SmolLM2 at 16 × 1024), as in
        // transformers 5's ForCausalLMLoss. The same terms are averaged.
        var flatLogits = logits.reshape(-1, vocab).to(ScalarType.Float32);
        var shiftedLabels = NextTokenLabels(labels.to(ScalarType.Int64).to(logits.device), ignoreIndex).reshape(-1);
        return nn.functional.cross_entropy(flatLogits, shiftedLabels, ignore_index: ignoreIndex).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The label each position's logits are scored against: labels [batch, seq] moved one left, the last position
    /// <paramref name="ignoreIndex"/> (nothing follows it). Scoring a view of the logits against these is
    /// Hugging Face's shift without copying the logits.
    /// </summary>
    public static Tensor NextTokenLabels(Tensor labels, long ignoreIndex = -100) =>
        torch.cat(new[] { labels.narrow(1, 1, labels.shape[1] - 1), torch.full(labels.shape[0], 1, ignoreIndex, labels.dtype, labels.device) }, 1);

    /// <summary>
    /// Every linear layer with its HF path: per layer q/k/v/o_proj, gate/up/down_proj (Phi-3: qkv_proj, o_proj,
    /// gate_up_proj, down_proj), then lm_head.
    /// <see cref="LinearSlot.Replace"/> sets the field and re-registers the module under the same name.
    /// </summary>
    public IReadOnlyList<LinearSlot> LinearSlots()
    {
        var slots = new List<LinearSlot>();
        for (var i = 0; i < model.layers.Count; i++)
        {
            var layer = model.layers[i];
            var prefix = $"model.layers.{i}";
            foreach (var n in _dims.Family.AttentionProjections)
                slots.Add(new LinearSlot($"{prefix}.self_attn.{n}", layer.self_attn, n));
            foreach (var n in _dims.Family.MlpProjections)
                slots.Add(new LinearSlot($"{prefix}.mlp.{n}", layer.mlp, n));
        }
        slots.Add(new LinearSlot("lm_head", this, "lm_head"));
        return slots;
    }

    /// <summary>Parameters of the model, each tensor counted once (a tied head adds nothing).</summary>
    public long ParameterCount()
    {
        var seen = new HashSet<IntPtr>();
        var seenObjects = new HashSet<Parameter>(ReferenceEqualityComparer.Instance);
        long total = 0;
        foreach (var (_, p) in named_parameters())
            if (seenObjects.Add(p) && seen.Add(p.Handle))
                total += p.numel();
        return total;
    }

    /// <summary>
    /// The parameters under their Hugging Face names (detached views sharing the parameters' storage), in
    /// model order. A tied model has no lm_head.weight, as in Hugging Face checkpoints.
    /// </summary>
    public IReadOnlyDictionary<string, Tensor> HfStateDict()
    {
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, p) in HfParameters())
            result[name] = p.detach();
        return result;
    }

    /// <summary>
    /// The base model's parameters under Hugging Face names, also once LoRA wraps some layers:
    /// <c>….q_proj.base_layer.weight</c> reads as <c>….q_proj.weight</c> and the adapters' own
    /// parameters are left out (they belong to the adapter file, not the checkpoint).
    /// </summary>
    private IEnumerable<(string name, Parameter parameter)> HfParameters()
    {
        foreach (var (name, p) in named_parameters())
        {
            if (name.Contains(".lora_A.", StringComparison.Ordinal) || name.Contains(".lora_B.", StringComparison.Ordinal)) continue;
            yield return (name.Replace(".base_layer.", ".", StringComparison.Ordinal), p);
        }
    }

    /// <summary>
    /// Copies Hugging Face named tensors into the parameters (converting dtype and device). Throws an
    /// <see cref="HfStateDictException"/> — before copying anything — naming every missing, unexpected or
    /// misshapen tensor. Ignores <c>*.rotary_emb.inv_freq</c> buffers; a tied model accepts an absent (or a
    /// present, ignored) lm_head.weight.
    /// </summary>
    public void LoadHfStateDict(IReadOnlyDictionary<string, Tensor> tensors)
    {
        if (tensors is null) throw new ArgumentNullException(nameof(tensors));
        var parameters = HfParameters().ToList();
        var expected = new HashSet<string>(parameters.Select(p => p.name), StringComparer.Ordinal);
        var missing = new List<string>();
        var mismatched = new List<ShapeMismatch>();
        foreach (var (name, p) in parameters)
        {
            if (!tensors.TryGetValue(name, out var t) || t is null)
                missing.Add(name);
            else if (!t.shape.SequenceEqual(p.shape))
                mismatched.Add(new ShapeMismatch(name, p.shape, t.shape));
        }
        var unexpected = new List<string>();
        foreach (var (name, t) in tensors)
        {
            if (expected.Contains(name) || name.EndsWith("rotary_emb.inv_freq", StringComparison.Ordinal)) continue;
            if (name == "lm_head.weight" && _dims.TieWordEmbeddings)
            {
                var shape = new long[] { _dims.VocabSize, _dims.HiddenSize };
                if (!t.shape.SequenceEqual(shape)) mismatched.Add(new ShapeMismatch(name, shape, t.shape));
                continue;
            }
            unexpected.Add(name);
        }
        if (missing.Count + unexpected.Count + mismatched.Count > 0)
        {
            unexpected.Sort(StringComparer.Ordinal);
            throw new HfStateDictException($"{nameof(LlamaForCausalLM)} ({_dims.ModelType}, {_dims.Layers} layers)", missing, unexpected, mismatched);
        }
        using var noGrad = torch.no_grad();
        foreach (var (name, p) in parameters)
            p.copy_(tensors[name]);
    }

    /// <summary>
    /// A Hugging Face config.json for <paramref name="dims"/>, which <see cref="HfConfig.Parse"/> reads back
    /// equal. num_key_value_heads and head_dim are written when set; when 0 ("derive") they are left out for
    /// llama and phi3 (whose configs derive them the same way) and written as the derived value for mistral, qwen2,
    /// qwen3 and gemma2, whose configs have other defaults (4, 8 or 32 heads, head_dim 128 or 256), so those come back explicit.
    /// Throws when the dims need biases or norms the model type's transformers class cannot express.
    /// </summary>
    public static string ToHfConfigJson(LlamaDimensions dims, ScalarType dtype = ScalarType.Float32)
    {
        if (dims is null) throw new ArgumentNullException(nameof(dims));
        dims.Validate(dims.ModelType, HfConfig.KeyFor);
        var architecture = dims.Family.Architecture;
        CheckExpressible(dims);
        var torchDtype = HfCheckpoint.TorchDtypeName(dtype);
        // Llama and Phi-3 derive num_key_value_heads (and head_dim) when absent, as LoraKit's 0 means.
        var derives = dims.ModelType is "llama" or "phi3";

        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteStartArray("architectures");
            w.WriteStringValue(architecture);
            w.WriteEndArray();
            w.WriteString("model_type", dims.ModelType);
            w.WriteNumber("hidden_size", dims.HiddenSize);
            w.WriteNumber("intermediate_size", dims.IntermediateSize);
            w.WriteNumber("num_hidden_layers", dims.Layers);
            w.WriteNumber("num_attention_heads", dims.AttentionHeads);
            if (dims.KeyValueHeads > 0 || !derives) w.WriteNumber("num_key_value_heads", dims.EffectiveKeyValueHeads);
            if (dims.HeadDim > 0 || !derives) w.WriteNumber("head_dim", dims.EffectiveHeadDim);
            w.WriteNumber("vocab_size", dims.VocabSize);
            w.WriteNumber("rms_norm_eps", dims.RmsNormEps);
            w.WriteNumber("rope_theta", dims.RopeTheta);
            w.WriteNumber("max_position_embeddings", dims.MaxPositionEmbeddings);
            WriteRopeScaling(w, dims.RopeScaling);
            WriteSlidingWindow(w, dims);
            w.WriteBoolean("tie_word_embeddings", dims.TieWordEmbeddings);
            // Qwen2's q/k/v biases are built in; its config has no attention_bias.
            if (dims.ModelType is not ("qwen2" or "phi3")) w.WriteBoolean("attention_bias", dims.QkvBias);
            if (dims.ModelType is not ("gemma2" or "phi3")) w.WriteBoolean("mlp_bias", dims.MlpBias);
            if (dims.ModelType == "gemma2")
            {
                w.WriteString("hidden_activation", dims.HiddenActivation);
                w.WriteNumber("query_pre_attn_scalar", dims.QueryPreAttentionScalar > 0 ? dims.QueryPreAttentionScalar : dims.EffectiveHeadDim);
                WriteOptionalNumber(w, "attn_logit_softcapping", dims.AttentionLogitSoftcap);
                WriteOptionalNumber(w, "final_logit_softcapping", dims.FinalLogitSoftcap);
            }
            else
                w.WriteString("hidden_act", "silu");
            if (dims.ModelType == "phi3" && dims.PartialRotaryFactor != 1) w.WriteNumber("partial_rotary_factor", dims.PartialRotaryFactor);
            w.WriteNumber("initializer_range", 0.02);
            w.WriteNumber("attention_dropout", 0.0);
            w.WriteString("torch_dtype", torchDtype);
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    private static void WriteOptionalNumber(Utf8JsonWriter w, string key, double value)
    {
        if (value > 0) w.WriteNumber(key, value);
        else w.WriteNull(key);
    }

    private static void WriteRopeScaling(Utf8JsonWriter w, RopeScaling? rope)
    {
        if (rope is null || rope.Type == RopeType.Default) return;
        w.WriteStartObject("rope_scaling");
        w.WriteString("rope_type", RopeScaling.NameOf(rope.Type));
        if (rope.Type != RopeType.LongRope) w.WriteNumber("factor", rope.Factor);
        if (rope.Type == RopeType.Llama3)
        {
            w.WriteNumber("low_freq_factor", rope.LowFrequencyFactor);
            w.WriteNumber("high_freq_factor", rope.HighFrequencyFactor);
        }
        if (rope.OriginalMaxPositionEmbeddings > 0 && rope.Type is RopeType.Llama3 or RopeType.Yarn or RopeType.LongRope)
            w.WriteNumber("original_max_position_embeddings", rope.OriginalMaxPositionEmbeddings);
        if (rope.Type == RopeType.Yarn)
        {
            w.WriteNumber("beta_fast", rope.BetaFast);
            w.WriteNumber("beta_slow", rope.BetaSlow);
            if (rope.Mscale != 0) w.WriteNumber("mscale", rope.Mscale);
            if (rope.MscaleAllDim != 0) w.WriteNumber("mscale_all_dim", rope.MscaleAllDim);
            if (!rope.Truncate) w.WriteBoolean("truncate", false);
        }
        if (rope.AttentionFactor is { } a && rope.Type is RopeType.Yarn or RopeType.LongRope) w.WriteNumber("attention_factor", a);
        if (rope.Type == RopeType.LongRope)
        {
            if (rope.OriginalMaxPositionEmbeddings == 0) w.WriteNumber("factor", rope.Factor);
            w.WriteStartArray("short_factor");
            foreach (var f in rope.ShortFactor!) w.WriteNumberValue(f);
            w.WriteEndArray();
            w.WriteStartArray("long_factor");
            foreach (var f in rope.LongFactor!) w.WriteNumberValue(f);
            w.WriteEndArray();
        }
        w.WriteEndObject();
    }

    /// <summary>The window in each family's keys: Mistral sliding_window (null = off); Qwen2/Qwen3 use_sliding_window + max_window_layers.</summary>
    private static void WriteSlidingWindow(Utf8JsonWriter w, LlamaDimensions d)
    {
        switch (d.ModelType)
        {
            case "gemma2":
                w.WriteNumber("sliding_window", d.SlidingWindow);
                break;
            case "phi3":
            case "mistral":
                if (d.SlidingWindow > 0) w.WriteNumber("sliding_window", d.SlidingWindow);
                else w.WriteNull("sliding_window");
                break;
            case "qwen2":
            case "qwen3":
                w.WriteBoolean("use_sliding_window", d.SlidingWindow > 0);
                if (d.SlidingWindow > 0)
                {
                    w.WriteNumber("sliding_window", d.SlidingWindow);
                    w.WriteNumber("max_window_layers", d.FirstSlidingLayer);
                }
                break;
        }
    }

    private static void CheckExpressible(LlamaDimensions d)
    {
        void Require(bool ok, string what)
        {
            if (!ok) throw new ArgumentException($"a {d.ModelType} config.json cannot express {what}", nameof(d));
        }
        if (d.ModelType != "gemma2")
        {
            Require(!d.AlternatingWindow, "a window on every other layer (only gemma2 alternates)");
            Require(d.HiddenActivation == ModelFamily.Silu, $"the activation {d.HiddenActivation} (only gemma2 reads hidden_activation)");
            Require(d.QueryPreAttentionScalar == 0 && d.AttentionLogitSoftcap == 0 && d.FinalLogitSoftcap == 0, "query_pre_attn_scalar or soft-capping (Gemma 2 keys)");
        }
        if (d.ModelType != "phi3") Require(d.PartialRotaryFactor == 1, "partial rotary embeddings (phi3 only)");
        switch (d.ModelType)
        {
            case "llama":
                Require(d.SlidingWindow == 0, "a sliding window (transformers' Llama has none; use mistral or qwen2)");
                Require(d.QkvBias == d.OutputProjectionBias, "q/k/v biases without an o_proj bias or the reverse (attention_bias covers all four)");
                Require(!d.QkNorm, "q/k norms (only qwen3 has them)");
                break;
            case "mistral":
                Require(d.SlidingWindow == 0 || d.FirstSlidingLayer == 0, "a window on only some layers (Mistral windows every layer)");
                Require(!d.QkvBias && !d.OutputProjectionBias && !d.MlpBias, "biases (Mistral's linears have none)");
                Require(!d.QkNorm, "q/k norms (only qwen3 has them)");
                break;
            case "qwen2":
                Require(d.QkvBias && !d.OutputProjectionBias, "attention biases other than on q/k/v (Qwen2 always has exactly those)");
                Require(!d.MlpBias, "MLP biases (Qwen2's MLP has none)");
                Require(!d.QkNorm, "q/k norms (only qwen3 has them)");
                break;
            case "gemma2":
                Require(d.SlidingWindow > 0 && d.AlternatingWindow && d.FirstSlidingLayer == 0, "a window other than Gemma 2's (every even layer)");
                Require(d.QkvBias == d.OutputProjectionBias, "q/k/v biases without an o_proj bias or the reverse (attention_bias covers all four)");
                Require(!d.MlpBias && !d.QkNorm, "MLP biases or q/k norms (Gemma 2 has neither)");
                Require(d.RopeScaling is null, "RoPE scaling (transformers 4.47's Gemma 2 has none)");
                break;
            case "phi3":
                Require(d.SlidingWindow == 0 || (d.FirstSlidingLayer == 0 && !d.AlternatingWindow), "a window on only some layers (Phi-3 windows every layer)");
                Require(!d.QkvBias && !d.OutputProjectionBias && !d.MlpBias && !d.QkNorm, "biases or q/k norms (Phi-3 has none)");
                Require(d.RopeScaling is null || d.RopeScaling.Type == RopeType.LongRope, "RoPE scaling other than longrope");
                break;
            case "qwen3":
                Require(d.QkNorm, "a model without q/k norms (Qwen3 always has them)");
                Require(d.QkvBias == d.OutputProjectionBias, "q/k/v biases without an o_proj bias or the reverse (attention_bias covers all four)");
                Require(!d.MlpBias, "MLP biases (Qwen3's MLP has none)");
                break;
        }
    }
}
