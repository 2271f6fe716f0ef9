namespace LoraKit.Models;

/// <summary>One adapted module instance: its full path and sizes.</summary>
public sealed record MatchedModule(string Path, int InFeatures, int OutFeatures, bool HasBias, LinearLayer Layer);

/// <summary>The outcome of matching target names against a model's linear layers.</summary>
public sealed class TargetMatch
{
    internal TargetMatch(IReadOnlyList<MatchedModule> modules, IReadOnlyDictionary<string, int> hitsPerTarget)
    {
        Modules = modules;
        HitsPerTarget = hitsPerTarget;
    }

    /// <summary>Every module instance that at least one target matched, in model order.</summary>
    public IReadOnlyList<MatchedModule> Modules { get; }

    /// <summary>How many module instances each target matched.</summary>
    public IReadOnlyDictionary<string, int> HitsPerTarget { get; }

    /// <summary>Targets that matched nothing. PEFT itself only complains when every target misses.</summary>
    public IReadOnlyList<string> Unmatched => UnmatchedOf(HitsPerTarget);

    internal static IReadOnlyList<string> UnmatchedOf(IReadOnlyDictionary<string, int> hitsPerTarget) =>
        hitsPerTarget.Where(kv => kv.Value == 0).Select(kv => kv.Key).ToArray();
}

/// <summary>The outcome of matching target names against the linear module paths of a loaded model.</summary>
/// <param name="Paths">Every path that at least one target selected, in the order given.</param>
/// <param name="HitsPerTarget">How many paths each target selected.</param>
public sealed record PathMatch(IReadOnlyList<string> Paths, IReadOnlyDictionary<string, int> HitsPerTarget)
{
    /// <summary>Targets that matched nothing.</summary>
    public IReadOnlyList<string> Unmatched => TargetMatch.UnmatchedOf(HitsPerTarget);
}

/// <summary>
/// PEFT's target semantics for a list of names: a module matches a target when its full path equals
/// the target or ends with "." + target; <c>all-linear</c> matches every linear layer but the output head.
/// </summary>
public static class TargetMatcher
{
    public static bool Matches(string modulePath, string target) =>
        string.Equals(modulePath, target, StringComparison.Ordinal) ||
        (modulePath.Length > target.Length + 1 &&
         modulePath.EndsWith(target, StringComparison.Ordinal) &&
         modulePath[modulePath.Length - target.Length - 1] == '.');

    /// <summary>The one rule of which module a target selects: <c>all-linear</c> every linear but the output head, any other name by <see cref="Matches"/>.</summary>
    public static bool Selects(string target, string modulePath, bool isOutputHead) =>
        target == LoraConfig.AllLinear ? !isOutputHead : Matches(modulePath, target);

    /// <summary>The targets against a loaded model's linear module paths (what the injector adapts).</summary>
    public static PathMatch Match(IReadOnlyList<string> linearPaths, IReadOnlyList<string> targets, string outputHeadPath)
    {
        var hits = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var t in targets) hits[t] = 0;
        var chosen = new List<string>();
        foreach (var path in linearPaths)
        {
            var matched = false;
            foreach (var t in targets)
            {
                if (!Selects(t, path, path == outputHeadPath)) continue;
                hits[t]++;
                matched = true;
            }
            if (matched) chosen.Add(path);
        }
        return new PathMatch(chosen, hits);
    }

    public static TargetMatch Match(ModelShape model, IReadOnlyList<string> targets)
    {
        var hits = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var t in targets) hits[t] = 0;
        // A target without digits matches every instance of a layer family or none: instance paths differ
        // only in the block index, and a digit-free suffix cannot reach into it. So one instance path per
        // family decides, and paths are only spelt out for the families that match (the analyzers run this
        // for every [LoraAdapter] on each compile).
        var uniform = true;
        foreach (var t in targets)
            if (t != LoraConfig.AllLinear && HasDigit(t)) uniform = false;
        var modules = new List<MatchedModule>();
        foreach (var layer in model.Linears)
        {
            // For a uniform list, the targets this family's first instance matches are those of every instance.
            string[]? familyHits = null;
            if (uniform)
            {
                var first = layer.InstancePaths().FirstOrDefault();
                familyHits = first is null ? Array.Empty<string>() : targets.Where(t => Hit(layer, first, t)).ToArray();
                if (familyHits.Length == 0) continue;
            }
            foreach (var path in layer.InstancePaths())
            {
                var matched = false;
                foreach (var t in familyHits ?? targets)
                {
                    if (familyHits is null && !Hit(layer, path, t)) continue;
                    hits[t]++;
                    matched = true;
                }
                if (matched) modules.Add(new MatchedModule(path, layer.InFeatures, layer.OutFeatures, layer.HasBias, layer));
            }
        }
        return new TargetMatch(modules, hits);
    }

    /// <summary>
    /// <c>target_modules</c> as PEFT saves them in adapter_config.json: <c>all-linear</c> is replaced by the leaf
    /// names (last path component) of the modules it adapted, as PEFT's <c>_maybe_include_all_linear_layers</c>
    /// expands it before saving; other names stay as given. Distinct and sorted ordinally (PEFT writes a Python
    /// set, whose order is not fixed), so a saved adapter never holds the literal <c>all-linear</c>.
    /// </summary>
    /// <param name="adaptedPaths">The full paths of the modules the targets adapted.</param>
    public static IReadOnlyList<string> SavedTargetNames(IEnumerable<string> targets, IEnumerable<string> adaptedPaths)
    {
        if (targets is null) throw new ArgumentNullException(nameof(targets));
        if (adaptedPaths is null) throw new ArgumentNullException(nameof(adaptedPaths));
        var names = new SortedSet<string>(StringComparer.Ordinal);
        var allLinear = false;
        foreach (var t in targets)
        {
            if (t == LoraConfig.AllLinear) allLinear = true;
            else names.Add(t);
        }
        if (allLinear)
            foreach (var path in adaptedPaths)
                names.Add(path.Substring(path.LastIndexOf('.') + 1));
        return names.ToArray();
    }

    private static bool Hit(LinearLayer layer, string path, string target) => Selects(target, path, layer.IsOutputHead);

    private static bool HasDigit(string s)
    {
        foreach (var c in s)
            if (c >= '0' && c <= '9') return true;
        return false;
    }

    /// <summary>The existing module leaf name closest to a misspelt target (edit distance), or null.</summary>
    public static string? SuggestClosest(ModelShape model, string target) => SuggestClosest(model.LinearLeafNames, target);

    /// <summary>The name among <paramref name="leafNames"/> closest to a misspelt target, or null.</summary>
    public static string? SuggestClosest(IReadOnlyList<string> leafNames, string target)
    {
        var leaf = target.Substring(target.LastIndexOf('.') + 1);
        if (leaf.Length == 0) return null;
        // Phi-3 fuses q/k/v and gate/up: "q_proj" means qkv_proj there, not the one-letter-off o_proj.
        if (ModelFamily.FusedNameOf(leaf) is { } fused && leafNames.Contains(fused)) return fused;
        // "gate" → "gate_proj": a truncated name is a prefix of the real one.
        foreach (var name in leafNames)
            if (name.StartsWith(leaf, StringComparison.Ordinal) && name != leaf) return name;
        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var name in leafNames)
        {
            var d = EditDistance(leaf, name);
            if (d < bestDistance)
            {
                bestDistance = d;
                best = name;
            }
        }
        // Farther than half the name is a different word, not a typo.
        return best is not null && bestDistance <= Math.Max(2, leaf.Length / 2) ? best : null;
    }

    internal static int EditDistance(string a, string b)
    {
        var prev = new int[b.Length + 1];
        var cur = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++) prev[j] = j;
        for (var i = 1; i <= a.Length; i++)
        {
            cur[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                cur[j] = Math.Min(Math.Min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + cost);
            }
            (prev, cur) = (cur, prev);
        }
        return prev[b.Length];
    }
}
