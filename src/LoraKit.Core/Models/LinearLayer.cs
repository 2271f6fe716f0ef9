namespace LoraKit.Models;

/// <summary>
/// A linear layer, or a family of identical layers repeated over blocks. The path uses
/// Hugging Face module names; <c>{i}</c> stands for the block index when <see cref="Count"/> &gt; 1.
/// </summary>
public sealed record LinearLayer(string PathTemplate, int InFeatures, int OutFeatures, int Count = 1, bool HasBias = false)
{
    /// <summary>The model's output head: excluded by <c>all-linear</c>, as PEFT does.</summary>
    public bool IsOutputHead { get; init; }

    /// <summary>The weight is shared with another parameter (a tied head) and is not counted again.</summary>
    public bool SharesWeight { get; init; }

    /// <summary>Last dotted segment of the path, e.g. <c>q_proj</c>.</summary>
    public string LeafName
    {
        get
        {
            var dot = PathTemplate.LastIndexOf('.');
            return dot < 0 ? PathTemplate : PathTemplate.Substring(dot + 1);
        }
    }

    /// <summary>Weight (unless shared) plus bias parameters of one instance.</summary>
    public long ParametersPerInstance => (SharesWeight ? 0L : (long)InFeatures * OutFeatures) + (HasBias ? OutFeatures : 0);

    public long TotalParameters => ParametersPerInstance * Count;

    /// <summary>The module path of each instance, e.g. model.layers.0.self_attn.q_proj … .31.</summary>
    public IEnumerable<string> InstancePaths()
    {
        var indexed = PathTemplate.IndexOf("{i}", StringComparison.Ordinal) >= 0;
        for (var i = 0; i < Count; i++)
            yield return indexed ? PathTemplate.Replace("{i}", i.ToString(System.Globalization.CultureInfo.InvariantCulture)) : PathTemplate;
    }
}
