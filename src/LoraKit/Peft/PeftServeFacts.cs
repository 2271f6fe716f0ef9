using LoraKit.Models;
using LoraKit.Serving;

namespace LoraKit.Peft;

/// <summary>A saved PEFT adapter as the serving rules (LORA40xx) see it: its adapter_config.json and what its weights hold.</summary>
public static class PeftServeFacts
{
    /// <summary>The name PEFT gives DoRA's magnitude vector (one per adapted module, saved as <c>….lora_magnitude_vector</c>).</summary>
    public const string DoraMagnitudeSegment = "lora_magnitude_vector";

    /// <summary>
    /// The serving facts of <paramref name="adapter"/>. <paramref name="model"/>, when known, tells whether an adapted output
    /// head is tied to the embeddings. The config and the tensors both count: DoRA is <c>use_dora</c> or magnitude tensors,
    /// modules to save are <c>modules_to_save</c> or whole tensors (PEFT saves a SEQ_CLS head without listing it).
    /// </summary>
    public static AdapterServeFacts Of(PeftAdapter adapter, ModelShape? model = null)
    {
        ArgumentNullException.ThrowIfNull(adapter);
        var c = adapter.Config;
        var magnitude = new List<string>();
        var biases = new List<string>();
        var whole = new List<string>();
        foreach (var t in adapter.ModulesToSave)
        {
            var path = PeftAdapter.ModulePath(t.Name);
            if (path.EndsWith("." + DoraMagnitudeSegment, StringComparison.Ordinal) || path.Contains("." + DoraMagnitudeSegment + ".", StringComparison.Ordinal)) magnitude.Add(path);
            else if (path.EndsWith(".bias", StringComparison.Ordinal)) biases.Add(path);
            else whole.Add(path.EndsWith(".weight", StringComparison.Ordinal) ? path[..^".weight".Length] : path);
        }
        // modules_to_save names a module by name or dotted suffix; list those with no whole tensor too (PEFT saves them all).
        var listed = (c.ModulesToSave ?? Array.Empty<string>()).Where(name => !whole.Any(p => TargetMatcher.Matches(p, name)));
        var modules = adapter.Modules.Select(m => m.Path).ToArray();
        var head = model?.Linears.FirstOrDefault(l => l.IsOutputHead && l.SharesWeight)?.PathTemplate;
        return new AdapterServeFacts
        {
            Rank = adapter.Modules.Select(m => m.Rank).Concat(c.RankPattern.Values).Append(c.R).Max(),
            Alpha = c.LoraAlpha,
            UseRsLora = c.UseRsLora,
            UseDora = c.UseDora || magnitude.Count > 0,
            Bias = c.Bias,
            BiasTensors = biases,
            ModulesToSave = whole.Concat(listed).Distinct(StringComparer.Ordinal).ToArray(),
            HasRankPattern = c.RankPattern.Count > 0,
            HasAlphaPattern = c.AlphaPattern.Count > 0,
            AdaptedModules = modules,
            TiedOutputHead = head is not null && modules.Contains(head, StringComparer.Ordinal) ? head : null,
        };
    }
}
