using System;
using System.IO;
using System.Linq;
using System.Text.Json;
using LoraKit.Lora;
using LoraKit.Models;
using LoraKit.Modeling;
using LoraKit.Rules;
using LoraKit.Sweep;
using LoraKit.Tests.Training;
using LoraKit.Training;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace LoraKit.Tests.Sweep;

/// <summary>
/// The sweep finds the knee for the right reason: data sampled from a teacher that is the base plus a
/// random rank-4 delta on the targeted module; a sweep over ranks 1…16 must choose within one power of
/// two of 4, because lower ranks cannot represent the delta and higher ones add nothing.
/// </summary>
public class PlantedRankTests
{
    private const int PlantedRank = 4;

    private static readonly LlamaDimensions Dims = new()
    {
        ModelType = "llama", HiddenSize = 32, IntermediateSize = 64, Layers = 1, AttentionHeads = 4, VocabSize = 48,
    };

    private static readonly string[] Targets = { "lm_head" };

    private static long[][] SampleFromTeacher(int sequences, int length, long seed)
    {
        var teacher = LlamaForCausalLM.Create(Dims, seed: 1);
        teacher.eval();
        LoraInjector.Inject(teacher, new LoraConfig { Rank = PlantedRank, Alpha = PlantedRank, TargetModules = Targets });
        using var g = new Generator((ulong)seed, CPU);
        var layer = (LoraLinear)teacher.lm_head;
        using (no_grad())
        {
            // ΔW = B·A of rank 4, scaled so the delta moves the logits by a few nats.
            layer.A("default").copy_(torch.randn(layer.A("default").shape, generator: g) / Math.Sqrt(Dims.HiddenSize));
            layer.B("default").copy_(torch.randn(layer.B("default").shape, generator: g) * 1.5);
        }
        var tokens = torch.randint(0, Dims.VocabSize, new long[] { sequences, 1 }, generator: g);
        using (no_grad())
        {
            for (var t = 1; t < length; t++)
            {
                var logits = teacher.forward(tokens).select(1, -1);
                var next = torch.multinomial(torch.softmax(logits, -1), 1, generator: g);
                tokens = torch.cat(new[] { tokens, next }, 1);
            }
        }
        var flat = tokens.data<long>().ToArray();
        return Enumerable.Range(0, sequences).Select(i => flat.Skip(i * length).Take(length).ToArray()).ToArray();
    }

    [Fact]
    public void Sweep_over_ranks_1_to_16_chooses_near_the_planted_rank_and_writes_its_files()
    {
        var all = SampleFromTeacher(320, 24, seed: 7);
        var data = new SyntheticData(all.Take(256).ToArray(), all.Skip(256).ToArray(), batchSize: 32);
        var dir = Path.Combine(Path.GetTempPath(), "lorakit-sweep-tests", Guid.NewGuid().ToString("N"));
        var options = new TrainingOptions { MaxSteps = 150, LearningRate = 2e-2, EvalEvery = 0, CheckpointEvery = 0, WarmupRatio = 0.05, Device = "cpu", Seed = 3 };
        var executor = new InProcessTrialExecutor((device, dtype) => LlamaForCausalLM.Create(Dims, device, dtype, 1), data);
        var lockPath = Path.Combine(dir, "lora.lock.json");
        // At this size a trial takes well under a second and its wall time is scheduling noise, so the time
        // bar is opened (every trial passes it) and the choice rests on the quality bar alone — which is
        // what must see the planted rank. The time bar itself is tested in LoraKit.Core's RankSweepTests.
        var thresholds = LoraThresholds.Default with { SweepTimeFraction = 1.01 };
        var outcome = SweepRunner.Run(new[] { 1, 2, 4, 8, 16 }, new LoraConfig { TargetModules = Targets }, options, executor, dir, lockPath,
            new SweepProvenance("PlantedAdapter", "tiny-random", "abc123", "teacher-samples", 1.0), thresholds);

        var loss = outcome.Trials.ToDictionary(t => t.Rank, t => t.ValidationLoss);
        Assert.True(loss[1] > loss[4] * 1.05, $"rank 1 {loss[1]} vs rank 4 {loss[4]}: the planted structure must show");
        Assert.InRange(outcome.Decision.Chosen.Rank, PlantedRank / 2, PlantedRank * 2);
        Assert.InRange(outcome.Decision.KneeRank!.Value, PlantedRank / 2, PlantedRank * 2);
        Assert.All(outcome.Trials, t => Assert.Equal(2.0 * t.Rank, t.Alpha)); // alpha kept at the configured ratio

        Assert.True(File.Exists(outcome.ReportPath));
        Assert.Contains("**Choice: rank " + outcome.Decision.Chosen.Rank + "**", File.ReadAllText(outcome.ReportPath));
        Assert.True(new FileInfo(outcome.PlotPath).Length > 1000);
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, File.ReadAllBytes(outcome.PlotPath).Take(4));
        using var doc = JsonDocument.Parse(File.ReadAllText(lockPath));
        var entry = doc.RootElement.GetProperty("adapters").GetProperty("PlantedAdapter");
        Assert.Equal(outcome.Decision.Chosen.Rank, entry.GetProperty("rank").GetInt32());
        Assert.Equal(5, entry.GetProperty("trials").GetArrayLength());
        Assert.Equal("abc123", entry.GetProperty("dataset_sha256").GetString());
        Assert.Equal(0.95, entry.GetProperty("rule").GetProperty("quality_fraction").GetDouble());
        // The analyzers' reader (LORA1007) sees the same choice, alpha and metric (the chosen trial's validation loss).
        var locked = LoraLock.Parse(File.ReadAllText(lockPath), lockPath).Find("PlantedAdapter")!;
        var chosen = outcome.Trials.Single(t => t.Rank == outcome.Decision.Chosen.Rank);
        Assert.Equal(outcome.Decision.Chosen.Rank, locked.Rank);
        Assert.Equal(entry.GetProperty("alpha").GetDouble(), locked.Alpha);
        Assert.Equal(chosen.ValidationLoss, locked.Metric);
    }

    [Fact]
    public void Lock_file_keeps_other_adapters_and_refuses_a_file_it_cannot_read()
    {
        var dir = Path.Combine(Path.GetTempPath(), "lorakit-sweep-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, "lora.lock.json");
        var trials = new[] { new TrialResult(4, 8, 1.0, 2.0, 1, 1, 10, 1, dir, null), new TrialResult(8, 16, 0.99, 2.0, 2, 1, 20, 1, dir, null) };
        var decision = RankSweep.Select(trials.Select(t => new SweepRun(t.Rank, t.ValidationLoss, t.Seconds, t.TrainableParameters)).ToList(), MetricDirection.LowerIsBetter);
        LoraLockFile.Write(path, new SweepProvenance("A", "m", "h", "d", 0.1), decision, trials, LoraThresholds.Default, 8);
        LoraLockFile.Write(path, new SweepProvenance("B", "m", "h", "d", 0.1), decision, trials, LoraThresholds.Default, 8);
        Assert.Equal(4, LoraLockFile.LockedRank(path, "A"));
        Assert.Equal(4, LoraLockFile.LockedRank(path, "B"));

        File.WriteAllText(path, "{ not json");
        var e = Assert.Throws<InvalidDataException>(() => LoraLockFile.Write(path, new SweepProvenance("A", "m", "h", "d", 0.1), decision, trials, LoraThresholds.Default, 8));
        Assert.Contains("never overwrites", e.Message);
        Assert.Equal("{ not json", File.ReadAllText(path));
    }
}
