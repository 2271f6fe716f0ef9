using TorchSharp;
using static TorchSharp.torch;

namespace LoraKit.Modeling;

/// <summary>
/// The keys and values every layer has computed so far, for incremental decoding: a forward pass with a cache
/// runs only the new tokens, at positions <see cref="Length"/> … <see cref="Length"/> + new − 1 (the positions
/// transformers gives them: a prompt of n tokens takes 0 … n−1, the next tokens n, n+1, …), and attends to
/// every cached token plus the new ones causally. Keys are stored after the rotary embedding and before GQA's
/// repeat (<c>[batch, kvHeads, length, headDim]</c>), in buffers that grow by doubling so appending costs the
/// new tokens only. A layer with a sliding window W keeps only the keys the next tokens can still see: once it holds
/// W − 1 + max(1, W/8) positions it drops all but the last W − 1 (a copy of W − 1 keys every W/8 tokens), so its
/// memory stays about W keys however long the generation runs. Not thread-safe; one cache per sequence (batch)
/// being decoded.
/// </summary>
public sealed class KvCache : IDisposable
{
    private readonly LayerKvCache[] _layers;
    private readonly int _window;

    /// <param name="layers">The model's decoder layers (all attending fully).</param>
    /// <param name="capacity">Tokens to reserve up front (prompt + new tokens); the buffers grow past it when needed.</param>
    public KvCache(int layers, int capacity = 0) : this(new int[Math.Max(0, layers)], capacity)
    {
    }

    /// <param name="windows">Each decoder layer's sliding window (0 = full attention); the windowed layers share one W.</param>
    /// <param name="capacity">Tokens to reserve up front (prompt + new tokens); the buffers grow past it when needed.</param>
    public KvCache(IReadOnlyList<int> windows, int capacity = 0)
    {
        if (windows is null || windows.Count < 1) throw new ArgumentOutOfRangeException(nameof(windows), windows?.Count ?? 0, "a model has at least one layer");
        if (capacity < 0) throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "must be ≥ 0");
        if (windows.Any(w => w < 0) || windows.Where(w => w > 0).Distinct().Count() > 1)
            throw new ArgumentException("windows are 0 (full attention) or one shared positive W", nameof(windows));
        _window = windows.Max();
        _layers = windows.Select(w => new LayerKvCache(this, w > 0 ? Math.Min(capacity, w + TrimEvery(w)) : capacity, w > 0)).ToArray();
    }

    /// <summary>Tokens cached: the position the next token takes.</summary>
    public long Length { get; private set; }

    /// <summary>The first position the windowed layers still hold (0 until they drop keys).</summary>
    public long WindowStart { get; private set; }

    /// <summary>How many positions past W − 1 a windowed layer gathers before it drops the old ones.</summary>
    private static int TrimEvery(int window) => Math.Max(1, window / 8);

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
        if (_window > 0 && Length - WindowStart >= _window - 1 + TrimEvery(_window))
        {
            // The next query (position Length) sees positions Length − W + 1 … Length: keep the last W − 1.
            WindowStart = Length - (_window - 1);
            foreach (var layer in _layers)
                if (layer.Windowed) layer.DropBefore(WindowStart);
        }
    }

    /// <summary>
    /// Boolean <c>[1, 1, queries, keys]</c>: new token i (at position Length + i) may attend to key j when
    /// j ≤ Length + i, and with a sliding <paramref name="window"/> W &gt; 0 also j &gt; Length + i − W (the W keys up
    /// to itself, transformers' sliding mask). The keys are those a layer of that kind holds: positions 0 … Length +
    /// queries − 1, or from <see cref="WindowStart"/> on for a windowed layer of this cache. Null when the cache is
    /// empty and no window cuts the new tokens' keys (plain causal attention applies).
    /// </summary>
    public Tensor? AttendMask(long queries, Device device, int window = 0)
    {
        if (window < 0) throw new ArgumentOutOfRangeException(nameof(window), window, "a window is 0 (none) or positive");
        var keys = Length + queries;
        if (Length == 0 && (window == 0 || keys <= window)) return null;
        using var scope = torch.NewDisposeScope();
        var first = window > 0 && window == _window ? WindowStart : 0;
        var q = torch.arange(Length, keys, dtype: ScalarType.Int64, device: device).view(queries, 1);
        var k = torch.arange(first, keys, dtype: ScalarType.Int64, device: device).view(1, keys - first);
        var allowed = k.le(q);
        if (window > 0) allowed = allowed.logical_and(k.gt(q - window));
        return allowed.view(1, 1, queries, keys - first).MoveToOuterDisposeScope();
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

    internal LayerKvCache(KvCache owner, long initialCapacity, bool windowed)
    {
        _owner = owner;
        _initialCapacity = initialCapacity;
        Windowed = windowed;
    }

    /// <summary>Positions this layer has seen (the model's <see cref="KvCache.Length"/> plus what the current forward appended).</summary>
    public long Length { get; private set; }

    /// <summary>The first position it still holds (a windowed layer drops older keys; see <see cref="KvCache"/>).</summary>
    public long Start { get; private set; }

    /// <summary>Whether the layer attends through a sliding window (and so may drop old keys).</summary>
    public bool Windowed { get; }

    /// <summary>
    /// Appends keys and values <c>[batch, kvHeads, new, headDim]</c> at positions <see cref="KvCache.Length"/> …
    /// and returns every key and value held, <c>[batch, kvHeads, Length − Start, headDim]</c> (views of the buffers).
    /// </summary>
    public (Tensor Keys, Tensor Values) Append(Tensor keys, Tensor values)
    {
        var past = _owner.Length;
        if (Length != past)
            throw new InvalidOperationException($"this layer's cache already holds {Length} tokens but the model is at {past}; call each layer once per forward");
        var added = keys.shape[2];
        var held = past - Start;
        Reserve(keys, held + added);
        using (torch.no_grad())
        {
            _keys!.narrow(2, held, added).copy_(keys);
            _values!.narrow(2, held, added).copy_(values);
        }
        Length = past + added;
        return (_keys.narrow(2, 0, held + added), _values!.narrow(2, 0, held + added));
    }

    /// <summary>Drops the keys and values of positions before <paramref name="start"/> (moving the rest to the buffer's front).</summary>
    internal void DropBefore(long start)
    {
        if (start <= Start || _keys is null) return;
        var keep = Length - start;
        using (torch.no_grad())
        {
            using var k = _keys.narrow(2, start - Start, keep).clone();
            using var v = _values!.narrow(2, start - Start, keep).clone();
            _keys.narrow(2, 0, keep).copy_(k);
            _values.narrow(2, 0, keep).copy_(v);
        }
        Start = start;
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
        var held = Length - Start;
        if (_keys is not null && held > 0)
        {
            using (torch.no_grad())
            {
                keys.narrow(2, 0, held).copy_(_keys.narrow(2, 0, held));
                values.narrow(2, 0, held).copy_(_values!.narrow(2, 0, held));
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
