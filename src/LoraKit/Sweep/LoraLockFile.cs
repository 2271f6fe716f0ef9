using System.Text.Json;
using System.Text.Json.Nodes;
using LoraKit.IO;
using LoraKit.Rules;

namespace LoraKit.Sweep;

/// <summary>
/// lora.lock.json: the rank a sweep chose for each adapter, with the rule, thresholds, every trial's
/// figures, the dataset hash, the base model, the toolchain version and the date. Other adapters'
/// entries are kept; the file is the user's and is rewritten atomically, never deleted.
/// Schema: <c>{"version": 1, "adapters": {"&lt;name&gt;": {"rank": 8, "alpha": 16, …}}}</c>.
/// </summary>
public static class LoraLockFile
{
    public const string FileName = LoraLock.FileName;

    public static void Write(string path, SweepProvenance p, SweepDecision decision, IReadOnlyList<TrialResult> trials, LoraThresholds t, double alpha)
    {
        JsonObject root;
        if (File.Exists(path))
        {
            try
            {
                root = StrictJson.ReadNode(path, InputLimits.JsonFileBytes, "lock file") as JsonObject ?? throw new JsonException("not an object");
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"{path} is not a valid lora.lock.json ({e.Message}); fix or move it — LoraKit never overwrites a file it cannot read.", e);
            }
        }
        else root = new JsonObject();
        root[LoraLock.VersionKey] = LoraLock.CurrentVersion;
        var adapters = root[LoraLock.AdaptersKey] as JsonObject ?? new JsonObject();
        root[LoraLock.AdaptersKey] = adapters;

        var entry = new JsonObject
        {
            [LoraLock.RankKey] = decision.Chosen.Rank,
            [LoraLock.AlphaKey] = alpha,
            [LoraLock.MetricKey] = trials.First(r => r.Rank == decision.Chosen.Rank).ValidationLoss,
            ["reason"] = decision.Reason,
            ["meets_both_rules"] = decision.MeetsBothRules,
            ["knee_rank"] = decision.KneeRank,
            ["rule"] = new JsonObject
            {
                ["metric"] = "validation_loss",
                ["direction"] = "lower_is_better",
                ["quality_fraction"] = t.SweepQualityFraction,
                ["time_fraction"] = t.SweepTimeFraction,
                ["knee_min_relative_gain"] = t.KneeMinRelativeGain,
                ["alpha_ratio"] = t.AlphaRatios.First(),
            },
            ["trials"] = new JsonArray(trials.OrderBy(r => r.Rank).Select(r => (JsonNode)new JsonObject
            {
                ["rank"] = r.Rank,
                ["alpha"] = r.Alpha,
                ["val_loss"] = r.ValidationLoss,
                ["base_val_loss"] = r.BaseValidationLoss,
                ["seconds"] = Math.Round(r.Seconds, 3),
                ["tokens_per_s"] = Math.Round(r.TokensPerSecond, 1),
                ["trainable_parameters"] = r.TrainableParameters,
                ["peak_memory_bytes"] = r.PeakMemoryBytes,
            }).ToArray()),
            ["dataset"] = p.Dataset,
            ["dataset_sha256"] = p.DatasetSha256,
            ["data_fraction"] = p.DataFraction,
            ["base_model"] = p.BaseModel,
            ["toolchain"] = "LoraKit " + (typeof(LoraLockFile).Assembly.GetName().Version?.ToString() ?? "0.0.0"),
            ["date"] = DateTimeOffset.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture),
        };
        adapters[p.AdapterName] = entry;
        var sorted = new JsonObject();
        foreach (var kv in adapters.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToList())
        {
            adapters.Remove(kv.Key);
            sorted[kv.Key] = kv.Value;
        }
        root[LoraLock.AdaptersKey] = sorted;
        var json = root.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }) + "\n";
        AtomicFile.WriteAllBytes(path, System.Text.Encoding.UTF8.GetBytes(json));
    }

    /// <summary>The locked rank of an adapter, or null, read with the same reader the analyzers use (LORA1007).</summary>
    public static int? LockedRank(string path, string adapterName) =>
        File.Exists(path) ? LoraLock.Parse(InputFile.ReadAllText(path, InputLimits.JsonFileBytes, "lock file"), path).Find(adapterName)?.Rank : null;
}
