using static TorchSharp.torch;

namespace LoraKit.Lora;

/// <summary>
/// Per-adapter submodules registered under the adapter's name, so parameters read
/// <c>lora_A.&lt;adapter&gt;.weight</c> as in PEFT.
/// </summary>
public sealed class AdapterModules : nn.Module
{
    private readonly Dictionary<string, nn.Module<Tensor, Tensor>> _modules = new(StringComparer.Ordinal);

    public AdapterModules() : base(nameof(AdapterModules)) { }

    public nn.Module<Tensor, Tensor> this[string adapter] => _modules[adapter];

    public void Add(string adapter, nn.Module<Tensor, Tensor> module)
    {
        _modules.Add(adapter, module);
        register_module(adapter, module);
    }
}
