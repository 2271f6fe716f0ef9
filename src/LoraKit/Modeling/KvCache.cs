using TorchSharp;
using static TorchSharp.torch;

namespace LoraKit.Modeling;

/// <summary>
/// The keys and values every layer has computed so far, for incremental decoding: a forward pass with a cache
/// runs only the new tokens, at positions <see cref="Length"/> … <see cref="Length"/> + new − 1 (the positions
/// transformers gives them: a prompt of n tokens takes 0 … n−1, the next tokens n, n+1, …), and attends to
/// every cached token plus the new ones causally. Keys are stored after the rotary embedding and before GQA's
/// repeat (<c>[batch, kvHeads, length, headDim]</c>), in buffers that grow by doubling so appending costs the
/// new tokens only. Not thread-safe; one cache per sequence (batch) being decoded.
/// </summary>
public sealed class KvCache : IDisposable
{
    private readonly LayerKvCache[] _layers;

    /// <param name="layers">The model's decoder layers.</param>
    /// <param name="capacity">Tokens to reserve up front (prompt + new tokens); the buffers grow past it when needed.</param>
    public KvCache(int layers, int capacity = 0)
    {
        if (layers < 1) throw new ArgumentOutOfRangeException(nameof(layers), layers, "a model has at least one layer");
        if (capacity < 0) throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "must be ≥ 0");
        _layers = Enumerable.Range(0, layers).Select(_ => new LayerKvCache(this, capacity)).ToArray();
    }

    /// <summary>Tokens cached: the position the next token takes.</summary>
    public long Length { get; private set; }

    /// <summary>Layer <paramref name="index"/>'s keys and values.</summary>
    public LayerKvCache Layer(int index) => _layers[index];

    public int LayerCount => _layers.Length;

    /// <summary>Called by the model after every layer appended <paramref name="tokens"/> new keys and values.</summary>
    internal void Advance(long tokens)
    {
        foreach (var layer in _layers)
            if (layer.Length != Length + tokens)
                throw new InvalidOperationException($"a layer's cache holds {layer.Length} tokens, expected {Length + tokens}: every layer must run once per forward");
        Length += tokens;
    }

    /// <summary>
    /// Boolean <c>[1, 1, queries, Length + queries]</c>: new token i (at position Length + i) may attend to key j
    /// when j ≤ Length + i, and with a sliding <paramref name="window"/> W &gt; 0 also j &gt; Length + i − W (the W
    /// keys up to itself, transformers' sliding mask). Null when the cache is empty and no window cuts the new
    /// tokens' keys (plain causal attention applies).
    /// </summary>
    public Tensor? AttendMask(long queries, Device device, int window = 0)
    {
        if (window < 0) throw new ArgumentOutOfRangeException(nameof(window), window, "a window is 0 (none) or positive");
        var keys = Length + queries;
        if (Length == 0 && (window == 0 || keys <= window)) return null;
        using var scope = torch.NewDisposeScope();
        var q = torch.arange(Length, keys, dtype: ScalarType.Int64, device: device).view(queries, 1);
        var k = torch.arange(keys, dtype: ScalarType.Int64, device: device).view(1, keys);
        var allowed = k.le(q);
        if (window > 0) allowed = allowed.logical_and(k.gt(q - window));
        return allowed.view(1, 1, queries, keys).MoveToOuterDisposeScope();
    }

    public void Dispose()
    {
        foreach (var layer in _layers) layer.Dispose();
    }
}

/// <summary>One layer's cached keys and values (see <see cref="KvCache"/>).</summary>
public sealed class LayerKvCache : IDisposable
{
    private readonly KvCache _owner;
    private readonly long _initialCapacity;
    private Tensor? _keys;
    private Tensor? _values;

    internal LayerKvCache(KvCache owner, long initialCapacity)
    {
        _owner = owner;
        _initialCapacity = initialCapacity;
    }

    /// <summary>Tokens this layer holds (the model's <see cref="KvCache.Length"/> plus what the current forward appended).</summary>
    public long Length { get; private set; }

    /// <summary>
    /// Appends keys and values <c>[batch, kvHeads, new, headDim]</c> at positions <see cref="KvCache.Length"/> …
    /// and returns every cached key and value, <c>[batch, kvHeads, Length, headDim]</c> (views of the buffers).
    /// </summary>
    public (Tensor Keys, Tensor Values) Append(Tensor keys, Tensor values)
    {
        var past = _owner.Length;
        if (Length != past)
            throw new InvalidOperationException($"this layer's cache already holds {Length} tokens but the model is at {past}; call each layer once per forward");
        var added = keys.shape[2];
        Reserve(keys, past + added);
        using (torch.no_grad())
        {
            _keys!.narrow(2, past, added).copy_(keys);
            _values!.narrow(2, past, added).copy_(values);
        }
        Length = past + added;
        return (_keys.narrow(2, 0, Length), _values!.narrow(2, 0, Length));
    }

    private void Reserve(Tensor like, long needed)
    {
        if (_keys is not null && _keys.shape[2] >= needed)
        {
            if (_keys.shape[0] != like.shape[0] || _keys.shape[1] != like.shape[1] || _keys.shape[3] != like.shape[3] || _keys.dtype != like.dtype)
                throw new InvalidOperationException("keys of another shape or type than the cached ones; use one cache per sequence");
            return;
        }
        var capacity = Math.Max(Math.Max(needed, _initialCapacity), (_keys?.shape[2] ?? 0) * 2);
        var shape = new[] { like.shape[0], like.shape[1], capacity, like.shape[3] };
        var keys = torch.empty(shape, like.dtype, like.device).DetachFromDisposeScope();
        var values = torch.empty(shape, like.dtype, like.device).DetachFromDisposeScope();
        if (_keys is not null && Length > 0)
        {
            using (torch.no_grad())
            {
                keys.narrow(2, 0, Length).copy_(_keys.narrow(2, 0, Length));
                values.narrow(2, 0, Length).copy_(_values!.narrow(2, 0, Length));
            }
        }
        _keys?.Dispose();
        _values?.Dispose();
        _keys = keys;
        _values = values;
    }

    public void Dispose()
    {
        _keys?.Dispose();
        _values?.Dispose();
        _keys = _values = null;
    }
}
