using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Threading;
using LoraKit.Lora;
using LoraKit.Models;
using LoraKit.Modeling;
using LoraKit.SafeTensors;
using LoraKit.Tests.Modeling;
using LoraKit.Data;
using LoraKit.Run;
using LoraKit.Training;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace LoraKit.Tests.Training;

public class LoraTrainerTests
{
    private static readonly LlamaDimensions Dims = TinyLlamas.UntiedGqa;

    private static string Temp() => Path.Combine(Path.GetTempPath(), "lorakit-train-tests", Guid.NewGuid().ToString("N"));

    private static Func<Device, ScalarType, LlamaForCausalLM> Base(long seed = 5) => (device, dtype) => LlamaForCausalLM.Create(Dims, device, dtype, seed);

    private static TrainingOptions Options(string dir, int steps = 20) => new()
    {
        OutputDir = dir, MaxSteps = steps, LearningRate = 1e-2, EvalEvery = 5, CheckpointEvery = 0, WarmupRatio = 0.1, Device = "cpu", Seed = 11,
    };

    // A random base's frozen head (std 0.02) can hardly move the logits; adapting lm_head too lets
    // the tiny model learn the synthetic rule far below the base loss.
    private static readonly LoraConfig Qv = new() { Rank = 4, Alpha = 8, Dropout = 0.1, TargetModules = new[] { "q_proj", "v_proj", "o_proj", "down_proj", "lm_head" } };

    private static (TrainingResult Result, List<TrainingEvent> Events) Train(TrainingOptions options, LoraConfig? config = null, ITrainingData? data = null,
        Func<Device, ScalarType, LlamaForCausalLM>? baseModel = null, CancellationToken ct = default, Action<TrainingEvent>? onEvent = null)
    {
        var events = new List<TrainingEvent>();
        var trainer = new LoraTrainer(baseModel ?? Base(), config ?? Qv, data ?? new SyntheticData(4, 32, 8, 16, 4), options,
            e => { events.Add(e); onEvent?.Invoke(e); }, ct);
        return (trainer.Run(), events);
    }

    private static string[] MetricLosses(string dir) =>
        File.ReadAllLines(Path.Combine(dir, LoraTrainer.MetricsFileName)).Skip(1).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("loss").GetRawText()).ToArray();

    [Fact]
    public void Training_lowers_validation_loss_and_writes_the_adapter_and_metrics()
    {
        var dir = Temp();
        var (result, events) = Train(Options(dir, steps: 40));
        Assert.True(result.FinalValidationLoss < result.BaseValidationLoss * 0.7, $"base {result.BaseValidationLoss}, final {result.FinalValidationLoss}");
        Assert.Equal(40, result.Steps);
        Assert.Null(result.StoppedBecause);
        Assert.True(File.Exists(Path.Combine(dir, "adapter_config.json")));
        using (var file = SafeTensorsFile.Open(Path.Combine(dir, "adapter_model.safetensors")))
            Assert.Equal((2 * 4 + 1) * 2, file.Tensors.Count); // (2 layers × 4 modules + lm_head) × (A, B)
        var lines = File.ReadAllLines(Path.Combine(dir, LoraTrainer.MetricsFileName));
        Assert.Equal(41, lines.Length); // step 0 (the base model) and the 40 steps
        using (var baseline = JsonDocument.Parse(lines[0]))
        {
            Assert.Equal(0, baseline.RootElement.GetProperty("step").GetInt64());
            Assert.Equal(result.BaseValidationLoss, baseline.RootElement.GetProperty("val_loss").GetDouble());
            Assert.Equal(new[] { "step", "val_loss" }, baseline.RootElement.EnumerateObject().Select(p => p.Name));
        }
        using (var first = JsonDocument.Parse(lines[5]))
            foreach (var key in new[] { "step", "loss", "lr", "tokens_per_s", "peak_memory_bytes", "val_loss" })
                Assert.True(first.RootElement.TryGetProperty(key, out _), key);
        Assert.Equal(new[] { "start", "step", "eval", "done" }, events.Select(e => e.Kind).Where(e => e != "diagnostic").Distinct().OrderBy(e => e switch { "start" => 0, "step" => 1, "eval" => 2, _ => 3 }));
        var start = events.OfType<StartEvent>().First();
        var predicted = ParameterCount.Compute(ModelShape.FromLlama("b", Dims), Qv).TrainableParameters;
        Assert.Equal(predicted, start.TrainableParameters);

        // The saved adapter reproduces the trained model's validation loss from a fresh base.
        var fresh = LlamaForCausalLM.Create(Dims, seed: 5);
        LoraAdapterFiles.Load(fresh, dir);
        fresh.eval();
        var data = new SyntheticData(4, 32, 8, 16, 4);
        var batch = data.ValidationBatches().First();
        using (no_grad())
            Assert.True(fresh.Loss(batch.InputIds, batch.Labels, batch.AttentionMask).item<float>() < result.BaseValidationLoss * 0.7);
    }

    [Fact]
    public void Two_runs_with_the_same_inputs_give_the_same_loss_curve_on_cpu()
    {
        var a = Temp();
        var b = Temp();
        Train(Options(a));
        Train(Options(b));
        Assert.Equal(MetricLosses(a), MetricLosses(b));
        var c = Temp();
        Train(Options(c) with { Seed = 12 });
        Assert.NotEqual(MetricLosses(a), MetricLosses(c));
    }

    [Fact]
    public void Resume_after_cancellation_continues_bit_for_bit()
    {
        var straight = Temp();
        Train(Options(straight));

        var resumed = Temp();
        using var cts = new CancellationTokenSource();
        var (first, events) = Train(Options(resumed), ct: cts.Token, onEvent: e =>
        {
            if (e is StepEvent { Step: 9 }) cts.Cancel();
        });
        Assert.Equal("cancelled", first.StoppedBecause);
        Assert.Equal(9, first.Steps);
        Assert.Contains(events, e => e is CheckpointEvent);
        Assert.False(File.Exists(Path.Combine(resumed, "adapter_model.safetensors"))); // no final adapter from a cancelled run

        var (second, _) = Train(Options(resumed) with { Resume = true });
        Assert.Equal(20, second.Steps);
        Assert.Equal(MetricLosses(straight), MetricLosses(resumed));
        using var x = SafeTensorsFile.Open(Path.Combine(straight, "adapter_model.safetensors"));
        using var y = SafeTensorsFile.Open(Path.Combine(resumed, "adapter_model.safetensors"));
        foreach (var t in x.Tensors)
            Assert.True(x.GetBytes(t.Name).SequenceEqual(y.GetBytes(t.Name)), t.Name);
    }

    [Fact]
    public void Resume_restores_the_trained_biases_too()
    {
        // Qwen2's q/k/v projections have biases; bias = all trains them. The checkpoint holds them (PEFT's
        // modules_to_save names), and a resumed run must read them back with the adapter weights.
        var withBias = new LoraConfig { Rank = 4, Alpha = 8, Dropout = 0.1, Bias = LoraBias.All, TargetModules = new[] { "q_proj", "v_proj", "down_proj" } };
        Func<Device, ScalarType, LlamaForCausalLM> qwen2 = (device, dtype) => LlamaForCausalLM.Create(TinyLlamas.Qwen2, device, dtype, 5);
        var straight = Temp();
        Train(Options(straight), withBias, baseModel: qwen2);

        var resumed = Temp();
        using var cts = new CancellationTokenSource();
        var (first, _) = Train(Options(resumed), withBias, baseModel: qwen2, ct: cts.Token, onEvent: e =>
        {
            if (e is StepEvent { Step: 9 }) cts.Cancel();
        });
        Assert.Equal("cancelled", first.StoppedBecause);
        Train(Options(resumed) with { Resume = true }, withBias, baseModel: qwen2);

        Assert.Equal(MetricLosses(straight), MetricLosses(resumed));
        using var x = SafeTensorsFile.Open(Path.Combine(straight, "adapter_model.safetensors"));
        using var y = SafeTensorsFile.Open(Path.Combine(resumed, "adapter_model.safetensors"));
        Assert.Contains(x.Tensors, t => t.Name.EndsWith(".q_proj.bias", StringComparison.Ordinal));
        foreach (var t in x.Tensors)
            Assert.True(x.GetBytes(t.Name).SequenceEqual(y.GetBytes(t.Name)), t.Name);
    }

    [Fact]
    public void Resuming_with_a_different_rank_is_refused_with_the_seed_reason()
    {
        var dir = Temp();
        using var cts = new CancellationTokenSource();
        Train(Options(dir), ct: cts.Token, onEvent: e =>
        {
            if (e is StepEvent) cts.Cancel();
        });
        var e = Assert.Throws<TrainingException>(() => Train(Options(dir) with { Resume = true }, Qv.Clone() is var c ? WithRank(c, 8) : null));
        Assert.Equal("LORA3008", e.Code);
        Assert.Contains("adapter shapes are fixed at initialisation", e.Message);
    }

    private static LoraConfig WithRank(LoraConfig c, int rank)
    {
        c.Rank = rank;
        c.Alpha = 2 * rank;
        return c;
    }

    [Fact]
    public void A_plateau_stops_early_with_lora3002()
    {
        var dir = Temp();
        var (result, events) = Train(Options(dir) with { LearningRate = 1e-9 });
        var d = Assert.Single(events.OfType<DiagnosticEvent>(), e => e.Code == "LORA3002");
        Assert.Contains("rank 4 is likely too low", d.Message);
        Assert.Contains("r=8, alpha=16", d.Message);
        Assert.Equal("plateau", result.StoppedBecause);
        Assert.Equal(5, result.Steps); // the first evaluation at ≥ 20 % of 20 steps
    }

    [Fact]
    public void A_one_step_run_is_too_short_to_call_a_plateau()
    {
        var dir = Temp();
        var (result, events) = Train(Options(dir, steps: 1) with { LearningRate = 1e-9 });
        Assert.DoesNotContain(events.OfType<DiagnosticEvent>(), e => e.Code == Rules.DiagnosticIds.LossPlateau);
        Assert.Null(result.StoppedBecause);
        Assert.Equal(2, File.ReadAllLines(Path.Combine(dir, LoraTrainer.MetricsFileName)).Length); // step 0 and step 1
    }

    [Fact]
    public void Auto_rank_restarts_from_scratch_with_double_rank_and_alpha()
    {
        var dir = Temp();
        var (result, events) = Train(Options(dir) with { LearningRate = 1e-9, AutoRank = true });
        var starts = events.OfType<StartEvent>().ToList();
        Assert.Equal(new[] { 4, 8, 16 }, starts.Select(s => s.Rank));
        Assert.Equal(new[] { 8.0, 16.0, 32.0 }, starts.Select(s => s.Alpha));
        Assert.Contains(events, e => e is DiagnosticEvent { Code: "LORA3002" } d && d.Message.Contains("restarting from a fresh base model at r=8, alpha=16"));
        Assert.Equal(2, result.RankEscalations);
        Assert.Equal(16, result.Config.Rank);
        // Every attempt starts from the untouched base: the base validation loss is the same each time.
        Assert.Single(starts.Select(s => s.BaseValidationLoss).Distinct());
    }

    [Fact]
    public void Train_falling_while_validation_rises_warns_lora3003()
    {
        var dir = Temp();
        // Train on "+1" sequences, validate on "-1" sequences: learning one makes the other worse.
        var data = new SyntheticData(4, 32, 8, 16, 4, trainStep: 1, validationStep: -1);
        var (_, events) = Train(Options(dir, steps: 40) with { EvalEvery = 4, StopOnPlateau = false }, data: data);
        var d = Assert.Single(events.OfType<DiagnosticEvent>(), e => e.Code == "LORA3003");
        Assert.Contains("raise dropout to 0.1–0.2, with weight decay > 0", d.Message);
    }

    [Fact]
    public void A_non_finite_loss_stops_with_lora3007_and_writes_no_adapter()
    {
        var dir = Temp();
        Func<Device, ScalarType, LlamaForCausalLM> poisoned = (device, dtype) =>
        {
            var m = LlamaForCausalLM.Create(Dims, device, dtype, 5);
            using (no_grad()) m.model.norm.weight![0] = float.NaN;
            return m;
        };
        var (result, events) = Train(Options(dir), baseModel: poisoned);
        Assert.Contains(events, e => e is DiagnosticEvent { Code: "LORA3007", Severity: EventSeverity.Error });
        Assert.Equal("non-finite loss", result.StoppedBecause);
        Assert.False(File.Exists(Path.Combine(dir, "adapter_model.safetensors")));
    }

    [Fact]
    public void A_validation_row_without_a_target_is_skipped_not_scored_as_nan()
    {
        // Packed 16-token rows: each 40-character prompt fills rows whose labels are all -100. Such a batch's mean
        // loss is 0/0 = NaN, and NaN × 0 tokens used to make the whole validation loss NaN (issue 25).
        var bytes = ByteTokenizer.Instance;
        var examples = new[] { Example.FromPromptCompletion(new string('p', 40), " yes"), Example.FromPromptCompletion(new string('q', 40), " no") };
        var data = new TokenizedTrainingData(TokenizedDataset.Create(examples, bytes, 16, SequenceMode.Pack),
            TokenizedDataset.Create(examples, bytes, 16, SequenceMode.Pack), 1, 0);
        Assert.Contains(data.ValidationBatches().ToList(), b =>
        {
            using (b) return b.TokenCount == 0;
        });
        var dims = Dims with { VocabSize = bytes.VocabSize };
        var (result, _) = Train(Options(Temp(), steps: 2), data: data, baseModel: (device, dtype) => LlamaForCausalLM.Create(dims, device, dtype, 5));
        Assert.True(double.IsFinite(result.BaseValidationLoss), $"base validation loss {result.BaseValidationLoss}");
        Assert.True(double.IsFinite(result.FinalValidationLoss), $"final validation loss {result.FinalValidationLoss}");
    }

    [Fact]
    public void Out_of_memory_on_the_first_batch_is_lora3004_with_the_seed_advice()
    {
        var dir = Temp();
        // One 1,000,000-token row ending in a padding position: padding makes the model build the boolean
        // [1, 1, s, s] attention mask (1 TB), which no machine this runs on can allocate. (An all-ones mask would
        // take SDPA's fused causal kernel instead: O(s) memory but O(s²) time, i.e. hours, not an out-of-memory.)
        var huge = new HugeBatchData(Dims.VocabSize, 1_000_000);
        var e = Assert.Throws<TrainingException>(() => Train(Options(dir), data: huge));
        Assert.Equal("LORA3004", e.Code);
        Assert.Contains("reduce the rank", e.Message);
    }

    [Fact]
    public void Device_auto_without_cuda_warns_lora3005_and_cuda_without_cuda_fails()
    {
        if (torch.cuda.is_available()) return; // on a GPU machine auto picks CUDA; covered by the GPU runs
        var (result, events) = Train(Options(Temp(), steps: 2) with { Device = "auto" });
        Assert.Equal("cpu", result.Device);
        Assert.Contains(events, e => e is DiagnosticEvent { Code: "LORA3005", Severity: EventSeverity.Warning });
        var e = Assert.Throws<TrainingException>(() => Train(Options(Temp(), steps: 2) with { Device = "cuda" }));
        Assert.Equal("LORA3005", e.Code);
    }

    [Theory]
    [InlineData(LearningRateSchedule.Cosine)]
    [InlineData(LearningRateSchedule.Linear)]
    public void Learning_rate_warms_up_then_decays_to_zero(LearningRateSchedule schedule)
    {
        var o = new TrainingOptions { LearningRate = 1.0, WarmupRatio = 0.1, Schedule = schedule };
        Assert.Equal(0.1, o.LearningRateAt(0, 100), 9);
        Assert.Equal(1.0, o.LearningRateAt(9, 100), 9);
        Assert.Equal(1.0, o.LearningRateAt(10, 100), 9);
        Assert.True(o.LearningRateAt(50, 100) < 1.0);
        Assert.True(o.LearningRateAt(99, 100) < 0.05);
        Assert.Equal(0.5, o.LearningRateAt(55, 100), 9);
    }

    private sealed class HugeBatchData : ITrainingData
    {
        private readonly int _vocab;
        private readonly int _length;

        public HugeBatchData(int vocab, int length)
        {
            _vocab = vocab;
            _length = length;
        }

        public int TrainBatchesPerEpoch => 1;

        public IEnumerable<Batch> TrainBatches(int epoch) => ValidationBatches();

        public IEnumerable<Batch> ValidationBatches()
        {
            var ids = torch.zeros(new long[] { 1, _length }, dtype: ScalarType.Int64);
            var labels = ids.clone();
            labels[0, 0] = torch.tensor(-100L);
            labels[0, _length - 1] = torch.tensor(-100L);
            var mask = torch.ones(new long[] { 1, _length }, dtype: ScalarType.Int64);
            mask[0, _length - 1] = torch.tensor(0L);
            var batch = new Batch(ids, labels, mask, _length - 2);
            Assert.True(batch.NeedsMask);
            yield return batch;
        }
    }
}
