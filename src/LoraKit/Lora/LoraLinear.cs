using LoraKit.Modeling;
using LoraKit.Quantization;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LoraKit.Lora;

/// <summary>
/// A frozen linear layer plus named low-rank adapters: y = W·x + b + Σ scaling·B(A(dropout(x))).
/// A is [r, in] and B is [out, r], kept in float32 whatever the base precision (so a 4-bit or bf16
/// base still trains full-precision LoRA state). Submodule names follow PEFT's in-memory layout:
/// <c>base_layer</c>, <c>lora_A.&lt;adapter&gt;</c>, <c>lora_B.&lt;adapter&gt;</c>, <c>lora_dropout.&lt;adapter&gt;</c>.
/// </summary>
public sealed class LoraLinear : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // PEFT's names, so parameter paths read as PEFT's do.
    public nn.Module<Tensor, Tensor> base_layer;
    public AdapterModules lora_A;
    public AdapterModules lora_B;
    public AdapterModules lora_dropout;
#pragma warning restore IDE1006

    private readonly Dictionary<string, AdapterState> _adapters = new(StringComparer.Ordinal);
    private readonly List<string> _merged = new();
    private List<string> _active = new();

    private sealed record AdapterState(LoraConfig Config, double Scaling);

    public LoraLinear(nn.Module<Tensor, Tensor> baseLayer, bool fanInFanOut = false) : base(nameof(LoraLinear))
    {
        base_layer = baseLayer ?? throw new ArgumentNullException(nameof(baseLayer));
        FanInFanOut = fanInFanOut;
        var (shape, _) = LinearWeights.StoredShape(baseLayer);
        if (shape.Length != 2) throw new ArgumentException($"LoRA wraps 2-D weights; this layer's weight is [{string.Join(", ", shape)}].", nameof(baseLayer));
        // Conv1D (GPT-2) stores [in, out]; nn.Linear stores [out, in].
        InFeatures = fanInFanOut ? shape[0] : shape[1];
        OutFeatures = fanInFanOut ? shape[1] : shape[0];
        lora_A = new AdapterModules();
        lora_B = new AdapterModules();
        lora_dropout = new AdapterModules();
        RegisterComponents();
    }

    public long InFeatures { get; }
    public long OutFeatures { get; }

    /// <summary>The base weight is stored [in, out] (GPT-2 Conv1D), PEFT's fan_in_fan_out.</summary>
    public bool FanInFanOut { get; }

    public IReadOnlyCollection<string> Adapters => _adapters.Keys;
    public IReadOnlyList<string> ActiveAdapters => _active;
    public IReadOnlyList<string> MergedAdapters => _merged;

    public LoraConfig ConfigOf(string adapter) => State(adapter).Config;
    public double ScalingOf(string adapter) => State(adapter).Scaling;

    /// <summary>A of an adapter: [r, in].</summary>
    public Tensor A(string adapter) => ((Linear)lora_A[adapter]).weight!;

    /// <summary>B of an adapter: [out, r].</summary>
    public Tensor B(string adapter) => ((Linear)lora_B[adapter]).weight!;

    /// <summary>Adds an adapter and makes it active. A starts as PEFT does (Kaiming-uniform a=√5 or gaussian), B at zero.</summary>
    /// <param name="generator">Draws A's (and for <see cref="LoraInitWeights.Random"/> B's) initial values.</param>
    /// <param name="dropoutGenerator">Draws the dropout masks; runs are reproducible whatever else uses torch's global generator. Null: the global one.</param>
    public void AddAdapter(string name, LoraConfig config, Generator? generator = null, Generator? dropoutGenerator = null)
    {
        if (string.IsNullOrWhiteSpace(name) || name.Contains('.'))
            throw new ArgumentException($"Adapter name '{name}' must be non-empty and contain no '.'.", nameof(name));
        if (_adapters.ContainsKey(name)) throw new ArgumentException($"This layer already has an adapter named '{name}'.", nameof(name));
        if (config.Rank < 1) throw new ArgumentOutOfRangeException(nameof(config), $"LoRA rank must be at least 1, not {config.Rank}.");
        var (_, device) = LinearWeights.StoredShape(base_layer);
        var a = nn.Linear(InFeatures, config.Rank, hasBias: false, device: device, dtype: ScalarType.Float32);
        var b = nn.Linear(config.Rank, OutFeatures, hasBias: false, device: device, dtype: ScalarType.Float32);
        using (no_grad())
        {
            switch (config.InitWeights)
            {
                case LoraInitWeights.Default:
                    Uniform(a.weight!, 1.0 / Math.Sqrt(InFeatures), generator); // kaiming_uniform(a=√5) bound = 1/√fan_in
                    b.weight!.zero_();
                    break;
                case LoraInitWeights.Gaussian:
                    Normal(a.weight!, 1.0 / config.Rank, generator);
                    b.weight!.zero_();
                    break;
                case LoraInitWeights.Random:
                    // PEFT init_lora_weights=False: both keep nn.Linear's default init; not an identity at start.
                    Uniform(a.weight!, 1.0 / Math.Sqrt(InFeatures), generator);
                    Uniform(b.weight!, 1.0 / Math.Sqrt(config.Rank), generator);
                    break;
            }
        }
        lora_A.Add(name, a);
        lora_B.Add(name, b);
        nn.Module<Tensor, Tensor> dropout = config.Dropout > 0 ? new LoraDropout(config.Dropout, dropoutGenerator) : nn.Identity();
        lora_dropout.Add(name, dropout);
        // A module added after model.eval() must not come in training mode (dropout would stay on).
        var training = base_layer.training;
        a.train(training);
        b.train(training);
        dropout.train(training);
        _adapters[name] = new AdapterState(config.Clone(), config.Scaling);
        _active.Add(name);
    }

    /// <summary>Chooses which adapters apply in forward (the others stay, inert).</summary>
    public void SetActiveAdapters(IEnumerable<string> names)
    {
        var list = names.ToList();
        foreach (var n in list) State(n);
        _active = list;
    }

    public override Tensor forward(Tensor x)
    {
        var result = base_layer.forward(x);
        foreach (var name in _active)
        {
            if (_merged.Contains(name)) continue;
            using var scope = NewDisposeScope();
            var h = x.dtype == ScalarType.Float32 ? x : x.to_type(ScalarType.Float32);
            var delta = lora_B[name].forward(lora_A[name].forward(lora_dropout[name].forward(h))).mul(_adapters[name].Scaling);
            result = result.add(delta.to_type(result.dtype)).MoveToOuterDisposeScope();
        }
        return result;
    }

    /// <summary>ΔW = scaling·B·A in the base weight's layout ([out, in], or [in, out] under fan_in_fan_out).</summary>
    public Tensor DeltaWeight(string adapter)
    {
        var s = State(adapter);
        using var _ = no_grad();
        var delta = B(adapter).matmul(A(adapter)).mul(s.Scaling);
        return FanInFanOut ? delta.t().contiguous() : delta;
    }

    /// <summary>Folds the active adapters into the base weight (W += ΔW); forward then costs nothing extra.</summary>
    public void Merge(IEnumerable<string>? adapters = null)
    {
        if (base_layer is Nf4Linear)
            throw new InvalidOperationException("This layer's base is 4-bit (NF4); merging would have to re-quantize it. Dequantize the base first " +
                                                "(Nf4Model.Dequantize(model, ScalarType.BFloat16 or Float32)) and merge into the 16/32-bit weights.");
        var (weight, _) = LinearWeights.Of(base_layer);
        if (base_layer is TiedLinear)
            throw new InvalidOperationException("This layer's weight is tied to the embeddings; merging would change them too. Merge an untied model or keep the adapter separate.");
        foreach (var name in (adapters ?? _active).ToList())
        {
            if (_merged.Contains(name)) continue;
            using (no_grad())
                weight.add_(DeltaWeight(name).to(weight.dtype, weight.device));
            _merged.Add(name);
        }
    }

    /// <summary>Takes merged adapters back out of the base weight (W −= ΔW).</summary>
    public void Unmerge()
    {
        if (_merged.Count == 0) return;
        var (weight, _) = LinearWeights.Of(base_layer);
        for (var i = _merged.Count - 1; i >= 0; i--)
        {
            using (no_grad())
                weight.sub_(DeltaWeight(_merged[i]).to(weight.dtype, weight.device));
        }
        _merged.Clear();
    }

    private AdapterState State(string adapter) =>
        _adapters.TryGetValue(adapter, out var s) ? s : throw new KeyNotFoundException($"This layer has no adapter '{adapter}'; it has {string.Join(", ", _adapters.Keys)}.");

    private static void Uniform(Tensor t, double bound, Generator? g)
    {
        using var sample = torch.rand(t.shape, dtype: ScalarType.Float32, device: CPU, generator: g);
        t.copy_(sample.mul(2 * bound).sub(bound));
    }

    private static void Normal(Tensor t, double std, Generator? g)
    {
        using var sample = torch.empty(t.shape, dtype: ScalarType.Float32, device: CPU).normal_(0.0, std, g);
        t.copy_(sample);
    }
}
