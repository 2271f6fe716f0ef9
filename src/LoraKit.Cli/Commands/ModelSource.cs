using LoraKit.Models;

namespace LoraKit.Cli.Commands;

/// <summary>The base model's shape from `--config &lt;config.json&gt;` or `--model &lt;preset&gt;`, with one-line errors.</summary>
internal static class ModelSource
{
    /// <summary>The shape, or null after writing the error (file, key, fix) to <paramref name="stderr"/>.</summary>
    public static ModelShape? TryResolve(string? configPath, string? preset, TextWriter stderr)
    {
        try
        {
            if (configPath is not null) return HfConfig.LoadShape(configPath);
            if (preset is not null && ModelPresets.TryGet(preset, out var dims)) return ModelShape.FromLlama(preset, dims);
            stderr.WriteLine($"error: --model {preset} is not a known model; known: {string.Join(", ", ModelPresets.Names)}; or pass --config <config.json>");
        }
        catch (ModelDescriptionException e)
        {
            stderr.WriteLine($"error {e.Message}");
        }
        return null;
    }
}
