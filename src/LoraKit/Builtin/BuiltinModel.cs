using System.Diagnostics;
using System.Security.Cryptography;
using LoraKit.Data;
using LoraKit.Models;
using LoraKit.Modeling;
using LoraKit.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace LoraKit.Builtin;

/// <summary>
/// LoraKit's embedded default base model: the <c>builtin</c> preset (a tiny byte-level Llama), created
/// by LoraKit itself — random init from a fixed seed, then a short full-parameter pretraining on the
/// built-in English corpus — and cached as a Hugging Face folder, so nothing is downloaded. The cache key
/// covers everything that shapes the weights; the folder appears atomically (built aside, then renamed).
/// </summary>
public static class BuiltinModel
{
    public const string Spec = ModelPresets.Builtin;

    /// <summary>Marks a model folder whose tokenizer is LoraKit's byte tokenizer.</summary>
    public const string MarkerFileName = "lorakit-builtin.json";

    public const int PretrainSteps = 200;
    public const int PretrainBatchSize = 16;
    public const int PretrainSequenceLength = 64;
    public const double PretrainLearningRate = 3e-3;
    public const long Seed = 20251123;

    /// <summary>
    /// The pretraining's optimizer settings and learning-rate schedule, the LoRA trainer's own
    /// (<see cref="TrainingOptions.LearningRateAt"/>): 10 % linear warmup, then cosine to 0.
    /// </summary>
    public static TrainingOptions PretrainSchedule { get; } = new()
    {
        MaxSteps = PretrainSteps,
        LearningRate = PretrainLearningRate,
        WarmupRatio = 0.1,
        Schedule = LearningRateSchedule.Cosine,
        WeightDecay = 0.01,
        MaxGradNorm = 1.0,
    };

    /// <summary>Where built-in models are cached: $LORAKIT_CACHE, else $XDG_CACHE_HOME/lorakit, else ~/.cache/lorakit.</summary>
    public static string CacheRoot
    {
        get
        {
            var explicitRoot = Environment.GetEnvironmentVariable("LORAKIT_CACHE");
            if (!string.IsNullOrEmpty(explicitRoot)) return explicitRoot;
            var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
            var root = !string.IsNullOrEmpty(xdg) ? xdg : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
            return Path.Combine(root, "lorakit");
        }
    }

    public static LlamaDimensions Dimensions => ModelPresets.TryGet(Spec, out var d) ? d : throw new InvalidOperationException("the builtin preset is missing");

    /// <summary>The cached folder's name: a hash of the recipe, so a changed recipe never reuses stale weights.</summary>
    public static string CacheKey
    {
        get
        {
            var schedule = PretrainSchedule;
            var recipe = string.Join("|", Dimensions, PretrainSteps, PretrainBatchSize, PretrainSequenceLength, PretrainLearningRate, Seed,
                BuiltinData.DefaultPretrainExamples, BuiltinData.DefaultSeed, schedule.WarmupRatio, schedule.Schedule, schedule.WeightDecay,
                schedule.MaxGradNorm, "v2");
            var hash = SHA256.HashData(Encoding.UTF8.GetBytes(recipe));
            return "builtin-" + Convert.ToHexString(hash, 0, 6).ToLowerInvariant();
        }
    }

    /// <summary>The pretrained builtin model's folder, creating it on first use (about a minute on a CPU).</summary>
    public static string EnsurePretrained(Action<string>? log = null, string? cacheRoot = null)
    {
        var root = cacheRoot ?? CacheRoot;
        var folder = Path.Combine(root, CacheKey);
        if (File.Exists(Path.Combine(folder, MarkerFileName))) return folder;

        log?.Invoke($"creating the builtin base model (one time, cached in {folder}) …");
        Directory.CreateDirectory(root);
        var temp = Path.Combine(root, $".{CacheKey}.{Guid.NewGuid():N}.tmp");
        try
        {
            var clock = Stopwatch.StartNew();
            var (model, loss) = Pretrain(log);
            HfCheckpoint.Save(model, temp);
            model.Dispose();
            File.WriteAllText(Path.Combine(temp, MarkerFileName),
                $"{{\"tokenizer\": \"byte\", \"pretrain_steps\": {PretrainSteps}, \"final_train_loss\": {loss.ToString("0.0000", System.Globalization.CultureInfo.InvariantCulture)}}}\n");
            try
            {
                Directory.Move(temp, folder);
            }
            catch (IOException) when (File.Exists(Path.Combine(folder, MarkerFileName)))
            {
                // Another process finished first: its folder is equally good.
            }
            log?.Invoke($"builtin base model ready in {clock.Elapsed.TotalSeconds:0} s (pretraining loss {loss:0.000})");
            return folder;
        }
        finally
        {
            if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
        }
    }

    /// <summary>Random init from <see cref="Seed"/>, then full-parameter AdamW on the builtin corpus.</summary>
    public static (LlamaForCausalLM Model, double FinalLoss) Pretrain(Action<string>? log = null, int steps = PretrainSteps)
    {
        torch.manual_seed(Seed);
        var model = LlamaForCausalLM.Create(Dimensions, seed: Seed);
        var corpus = BuiltinData.PretrainCorpus();
        var data = TokenizedDataset.Create(corpus, ByteTokenizer.Instance, PretrainSequenceLength, SequenceMode.Pack);
        var schedule = PretrainSchedule;
        using var optimizer = optim.AdamW(model.parameters(), lr: schedule.LearningRate, weight_decay: schedule.WeightDecay);
        model.train();
        var step = 0;
        var recent = new Queue<double>();
        for (var epoch = 0; step < steps; epoch++)
        {
            foreach (var b in data.Batches(PretrainBatchSize, shuffle: true, seed: Seed + epoch))
            {
                using var batch = b;
                using var scope = NewDisposeScope();
                var lr = schedule.LearningRateAt(step, steps);
                foreach (var g in optimizer.ParamGroups) g.LearningRate = lr;
                var loss = model.Loss(batch.InputIds, batch.Labels, batch.AttentionMask);
                loss.backward();
                nn.utils.clip_grad_norm_(model.parameters(), schedule.MaxGradNorm);
                optimizer.step();
                optimizer.zero_grad();
                recent.Enqueue(loss.item<float>());
                if (recent.Count > 20) recent.Dequeue();
                step++;
                if (step % 50 == 0) log?.Invoke($"  pretraining step {step}/{steps}, loss {recent.Average():0.000}");
                if (step >= steps) break;
            }
        }
        model.eval();
        return (model, recent.Average());
    }

    /// <summary>The folder holds a builtin model (byte tokenizer).</summary>
    public static bool IsBuiltinFolder(string folder) => File.Exists(Path.Combine(folder, MarkerFileName));
}
