using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LoraKit.Modeling;

/// <summary>
/// The output head of a model with tied word embeddings: logits = x · Eᵀ with E the embedding's current
/// weight. It owns no parameter (so named_parameters yields the shared weight once, as
/// <c>model.embed_tokens.weight</c>) and reads the embedding's weight at every call, so the tie survives
/// <c>.to(device/dtype)</c>, which in TorchSharp replaces each module's Parameter objects.
/// </summary>
public sealed class TiedLinear : nn.Module<Tensor, Tensor>
{
    private readonly Func<Parameter> _weight;

    public TiedLinear(Func<Parameter> weight) : base(nameof(TiedLinear))
    {
        _weight = weight ?? throw new ArgumentNullException(nameof(weight));
    }

    /// <summary>The shared weight [vocab, hidden] — the embedding's own Parameter, not a copy.</summary>
    public Parameter weight => _weight();

    public override Tensor forward(Tensor input) => nn.functional.linear(input, weight);
}
