using TorchSharp;
using static TorchSharp.torch;

namespace LoraKit.Lora;

/// <summary>
/// Inverted dropout drawing its masks from a given generator (shared by all layers of one injection), so
/// a training run is reproducible — and resumable bit for bit — even when other code in the process uses
/// torch's global generator.
/// </summary>
public sealed class LoraDropout : nn.Module<Tensor, Tensor>
{
    private readonly Generator? _generator;

    public LoraDropout(double p, Generator? generator) : base(nameof(LoraDropout))
    {
        if (p < 0 || p >= 1) throw new ArgumentOutOfRangeException(nameof(p), $"dropout must be in [0, 1), not {p}");
        P = p;
        _generator = generator;
    }

    public double P { get; }

    /// <summary>The generator the masks come from (null: torch's global one); gradient checkpointing replays it.</summary>
    internal Generator? Generator => _generator;

    public override Tensor forward(Tensor x)
    {
        if (!training || P == 0) return x.alias();
        using var scope = NewDisposeScope();
        // The mask stays bool: backward keeps it (1 byte per element) instead of a float copy (4).
        var keep = torch.rand(x.shape, dtype: ScalarType.Float32, device: CPU, generator: _generator).ge(P).to(x.device);
        return x.mul(keep).div_(1 - P).MoveToOuterDisposeScope();
    }
}
