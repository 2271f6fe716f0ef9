using LoraKit.Roslyn;
using Microsoft.CodeAnalysis;

namespace LoraKit.Analyzers;

/// <summary>LoraKit's public types as the compilation sees them, resolved once per compilation.</summary>
internal sealed class LoraTypes
{
    private LoraTypes(INamedTypeSymbol adapter, INamedTypeSymbol? model, INamedTypeSymbol? linear, INamedTypeSymbol? config)
    {
        AdapterAttribute = adapter;
        ModelAttribute = model;
        LinearAttribute = linear;
        LoraConfig = config;
    }

    public INamedTypeSymbol AdapterAttribute { get; }
    public INamedTypeSymbol? ModelAttribute { get; }
    public INamedTypeSymbol? LinearAttribute { get; }
    public INamedTypeSymbol? LoraConfig { get; }

    /// <summary>Null when the compilation does not reference LoraKit (no <c>LoraKit.LoraAdapterAttribute</c>).</summary>
    public static LoraTypes? Resolve(Compilation compilation)
    {
        var adapter = compilation.GetTypeByMetadataName(LoraAttributeReader.AdapterAttribute);
        if (adapter is null) return null;
        return new LoraTypes(adapter,
            compilation.GetTypeByMetadataName(LoraAttributeReader.ModelAttribute),
            compilation.GetTypeByMetadataName(LoraAttributeReader.LinearAttribute),
            compilation.GetTypeByMetadataName(LoraAttributeReader.LoraConfigType));
    }
}
