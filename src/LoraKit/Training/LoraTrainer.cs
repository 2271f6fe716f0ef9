using System.Diagnostics;
using System.Runtime.InteropServices;
using LoraKit.Data;
using LoraKit.Lora;
using LoraKit.Models;
using LoraKit.Modeling;
using LoraKit.Rules;
using LoraKit.Run;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LoraKit.Training;

/// <summary>
/// Trains a LoRA adapter: AdamW over the LoRA parameters only, warmup + cosine/linear schedule,
/// gradient accumulation and clipping, evaluation every N steps, atomic checkpoints (every N steps and
/// on cancellation) that resume bit-for-bit on CPU, metrics.jsonl, and the rank guide's diagnostics as events:
/// plateau (LORA3002, with optional automatic rank escalation from a fresh base), overfitting
/// (LORA3003), out of memory (LORA3004), CUDA unavailable (LORA3005), non-finite loss (LORA3007),
/// resume with another rank refused (LORA3008).
/// </summary>
public sealed class LoraTrainer
{
    public const string MetricsFileName = "metrics.jsonl";
    public const string CheckpointFolderName = "checkpoint";
    private const string StateFileName = "trainer_state.json";
    private const string OptimizerFileName = "optimizer.bin";
    private const string AdapterName = "default";

    private readonly Func<Device, ScalarType, LlamaForCausalLM> _baseModel;
    private readonly ITrainingData _data;
    private readonly TrainingOptions _options;
    private readonly Action<TrainingEvent> _events;
    private readonly CancellationToken _cancel;

    /// <param name="baseModel">Builds a fresh base model on the device in the dtype: every attempt (and every rank escalation) starts from scratch.</param>
    public LoraTrainer(Func<Device, ScalarType, LlamaForCausalLM> baseModel, LoraConfig config, ITrainingData data, TrainingOptions options,
        Action<TrainingEvent>? events = null, CancellationToken cancellationToken = default)
    {
        _baseModel = baseModel;
        Config = config.Clone();
        _data = data;
        _options = options;
        _options.Validate();
        _events = events ?? (_ => { });
        _cancel = cancellationToken;
    }

    public LoraConfig Config { get; }

    public TrainingResult Run()
    {
        var (device, deviceName) = ResolveDevice();
        var config = Config.Clone();
        var escalations = 0;
        while (true)
        {
            AttemptOutcome attempt;
            try
            {
                attempt = Attempt(config, device, deviceName, escalations);
            }
            catch (ExternalException e) when (IsOutOfMemory(e))
            {
                // The rank guide: "OOM error during first training batch" — the rank or the targets are too much.
                var message = $"out of memory: {TrainingMonitor.OutOfMemoryAdvice(config)}";
                Emit(DiagnosticEvent.Error(DiagnosticIds.OutOfMemory, message));
                throw new TrainingException(DiagnosticIds.OutOfMemory, message, e);
            }
            if (attempt.Restart is null) return attempt.Result!;
            escalations++;
            config = attempt.Restart;
        }
    }

    private (Device Device, string Name) ResolveDevice()
    {
        var cuda = torch.cuda.is_available();
        switch (_options.Device)
        {
            case "cuda" when !cuda:
                Emit(DiagnosticEvent.Error(DiagnosticIds.CudaUnavailable, "CUDA was asked for (device cuda) but TorchSharp sees no CUDA device; use a CUDA backend package and driver, or --device cpu"));
                throw new TrainingException(DiagnosticIds.CudaUnavailable, "CUDA was asked for but is not available");
            case "auto" when !cuda:
                Emit(DiagnosticEvent.Warning(DiagnosticIds.CudaUnavailable, "CUDA is not available; training on the CPU (slower). Install a CUDA backend and driver to use a GPU."));
                return (CPU, "cpu");
            case "cpu":
                return (CPU, "cpu");
            default:
                return (CUDA, "cuda");
        }
    }

    private sealed record AttemptOutcome(TrainingResult? Result, LoraConfig? Restart);

    /// <summary>One attempt at one rank, from a fresh base: prepare, start or resume, train step by step, save.</summary>
    private AttemptOutcome Attempt(LoraConfig config, Device device, string deviceName, int escalations)
    {
        Directory.CreateDirectory(_options.OutputDir);
        using var run = Prepare(config, device, escalations);
        StartOrResume(run);
        Emit(new StartEvent(_options.AdapterName, config.Rank, config.Alpha, config.Scaling, config.TargetModules.ToArray(), run.Injection.TrainableParameters,
            run.Shape.TotalParameters, deviceName, run.TotalSteps, run.BaseValidationLoss, escalations));

        using var metrics = OpenMetrics(run.BaseValidationLoss);
        var clock = Stopwatch.StartNew();
        run.LastValidationLoss = run.Monitor.Points[^1].ValidationLoss;
        run.Model.train();
        var restart = TrainSteps(run, metrics, clock);
        return restart is not null ? new AttemptOutcome(null, restart) : new AttemptOutcome(Finish(run, deviceName, clock), null);
    }

    /// <summary>The state of one attempt: the model with its adapter, the optimizer, and where training stands.</summary>
    private sealed class AttemptState(LoraConfig config, Device device, int escalations, LlamaForCausalLM model, ModelShape shape,
        LoraInjection injection, List<Parameter> parameters, AdamW optimizer, long totalSteps, TrainingMonitor monitor) : IDisposable
    {
        public LoraConfig Config { get; } = config;
        public Device Device { get; } = device;
        public int Escalations { get; } = escalations;
        public LlamaForCausalLM Model { get; } = model;
        public ModelShape Shape { get; } = shape;
        public LoraInjection Injection { get; } = injection;
        public List<Parameter> Parameters { get; } = parameters;
        public AdamW Optimizer { get; } = optimizer;
        public long TotalSteps { get; } = totalSteps;
        public TrainingMonitor Monitor { get; } = monitor;
        public long Step { get; set; }
        /// <summary>Micro-batches consumed overall, to skip on resume.</summary>
        public long Consumed { get; set; }
        public double BaseValidationLoss { get; set; }
        public double LastValidationLoss { get; set; }
        public long Tokens { get; set; }
        public string? Stopped { get; set; }
        public bool OverfitWarned { get; set; }
        public Queue<double> RecentLoss { get; } = new();

        public void Dispose()
        {
            Optimizer.Dispose();
            Model.Dispose();
        }
    }

    /// <summary>A fresh base with the adapter injected and checked, and its optimizer.</summary>
    private AttemptState Prepare(LoraConfig config, Device device, int escalations)
    {
        // Deterministic from here: the seed drives A's init and the injection's own dropout generator,
        // so nothing depends on torch's global generator (which other code in the process may use).
        torch.manual_seed(_options.Seed);
        var dtype = device.type == DeviceType.CUDA ? ScalarType.BFloat16 : ScalarType.Float32;
        var model = _baseModel(device, dtype);
        try
        {
            var shape = ModelShape.FromLlama(_options.BaseModelName ?? "base", model.Dimensions);
            model.model.GradientCheckpointing = _options.GradientCheckpointing;
            var injection = LoraInjector.Inject(model, config, AdapterName, _options.Seed);
            LoraPreflight.Check(model, injection, shape);
            var parameters = model.parameters().Where(p => p.requires_grad).ToList();
            var optimizer = optim.AdamW(parameters, lr: _options.LearningRate, weight_decay: _options.WeightDecay);

            var perEpoch = (long)Math.Ceiling(_data.TrainBatchesPerEpoch / (double)_options.GradientAccumulation);
            if (perEpoch == 0)
            {
                optimizer.Dispose();
                throw new TrainingException(DiagnosticIds.TrainingFailed, "the training split has no batches; give more data or a smaller batch size");
            }
            var totalSteps = _options.MaxSteps > 0 ? _options.MaxSteps : perEpoch * _options.Epochs;
            return new AttemptState(config, device, escalations, model, shape, injection, parameters, optimizer, totalSteps, new TrainingMonitor(_options.Thresholds));
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>Resumes from the output folder's checkpoint when asked and one exists (same rank only); else measures the base.</summary>
    private void StartOrResume(AttemptState run)
    {
        var output = _options.OutputDir;
        var metricsPath = Path.Combine(output, MetricsFileName);
        if (_options.Resume && TrainerCheckpoint.Find(output) is { } resumeFrom)
        {
            var state = TrainerCheckpoint.ReadState(resumeFrom);
            if (state.Rank != run.Config.Rank)
            {
                var message = $"the checkpoint in {resumeFrom} has rank {state.Rank}, this run asks for rank {run.Config.Rank}: LoRA adapter shapes are fixed at initialisation, " +
                              "so a checkpoint cannot continue with a new rank; restart from scratch (without --resume, or in a new output folder)";
                Emit(DiagnosticEvent.Error(DiagnosticIds.ResumeRankMismatch, message));
                throw new TrainingException(DiagnosticIds.ResumeRankMismatch, message);
            }
            TrainerCheckpoint.Restore(resumeFrom, run.Model, run.Optimizer, AdapterName);
            run.Injection.DropoutGenerator.set_state(state.RngState);
            run.Step = state.Step;
            run.Consumed = state.MicroBatchesConsumed;
            run.BaseValidationLoss = state.BaseValidationLoss;
            foreach (var p in state.EvalPoints) run.Monitor.Observe(p);
            TrainerCheckpoint.TruncateMetrics(metricsPath, run.Step);
            Emit(new ResumeEvent(run.Step, resumeFrom));
        }
        else
        {
            if (File.Exists(metricsPath)) File.Delete(metricsPath);
            run.BaseValidationLoss = Evaluate(run.Model, run.Device);
            run.Monitor.Observe(new EvalPoint(0, 0, double.PositiveInfinity, run.BaseValidationLoss));
        }
    }

    /// <summary>metrics.jsonl, appended to; a new file starts with step 0's line (the base model's validation loss).</summary>
    private StreamWriter OpenMetrics(double baseValidationLoss)
    {
        var metrics = new StreamWriter(new FileStream(Path.Combine(_options.OutputDir, MetricsFileName), FileMode.Append, FileAccess.Write, FileShare.Read));
        if (metrics.BaseStream.Length == 0)
        {
            // Every plot and tool starts where training starts: step 0 carries the base model's validation loss.
            // (A resumed run keeps this line: TruncateMetrics keeps steps ≤ the checkpoint's.)
            metrics.WriteLine(TrainingEventJson.WriteBaselineMetrics(baseValidationLoss));
            metrics.Flush();
        }
        return metrics;
    }

    /// <summary>
    /// The training loop: micro-batches (skipping those a resumed run already consumed), an optimizer step per
    /// accumulation, evaluation and diagnostics, checkpoints. Returns the next rank's config when --auto-rank restarts.
    /// </summary>
    private LoraConfig? TrainSteps(AttemptState run, StreamWriter metrics, Stopwatch clock)
    {
        var epoch = (int)(run.Consumed / Math.Max(1, _data.TrainBatchesPerEpoch));
        var skip = run.Consumed % Math.Max(1, _data.TrainBatchesPerEpoch);
        var stepLossSum = 0.0;
        var stepTokens = 0L;
        var micro = 0;
        var done = run.Step >= run.TotalSteps;
        while (!done)
        {
            using var batches = _data.TrainBatches(epoch).GetEnumerator();
            var any = false;
            while (!done && batches.MoveNext())
            {
                any = true;
                if (skip > 0)
                {
                    skip--;
                    continue;
                }
                using (var batch = batches.Current)
                {
                    if (!MicroBatch(run, batch, ref stepLossSum, ref stepTokens))
                        break;
                }
                run.Consumed++;
                micro++;
                if (micro < _options.GradientAccumulation) continue;
                micro = 0;

                var line = OptimizerStep(run, stepTokens > 0 ? stepLossSum / stepTokens : double.NaN, clock);
                stepLossSum = 0;
                stepTokens = 0;
                var verdict = EvaluateIfDue(run, ref line);
                metrics.WriteLine(TrainingEventJson.WriteMetrics(line));
                metrics.Flush();
                Emit(line);
                var (restart, stop) = Judge(run, verdict);
                if (restart is not null) return restart;

                var cancelled = _cancel.IsCancellationRequested;
                CheckpointIfDue(run, cancelled);
                if (cancelled) run.Stopped = "cancelled";
                done = stop || cancelled || run.Step >= run.TotalSteps;
            }
            if (run.Stopped == "non-finite loss") break;
            if (!any) throw new TrainingException(DiagnosticIds.TrainingFailed, "the training data produced no batches");
            epoch++;
        }
        return null;
    }

    /// <summary>Forward and backward of one micro-batch; false (and LORA3007) when the loss is not finite.</summary>
    private bool MicroBatch(AttemptState run, Batch batch, ref double stepLossSum, ref long stepTokens)
    {
        if (batch.TokenCount == 0) return true; // nothing to learn from (its loss would be 0/0 = NaN): it adds no gradient
        using var scope = NewDisposeScope();
        var ids = batch.InputIds.to(run.Device);
        var labels = batch.Labels.to(run.Device);
        var loss = run.Model.Loss(ids, labels, batch.NeedsMask ? batch.AttentionMask.to(run.Device) : null, batch.PositionIds?.to(run.Device));
        var value = loss.item<float>();
        if (!float.IsFinite(value))
        {
            run.Stopped = "non-finite loss";
            var message = $"the loss became {value} at step {run.Step + 1}; training stopped and the last good checkpoint is kept. " +
                          "Lower the learning rate, check the data for empty or huge examples, or train the base in float32";
            Emit(DiagnosticEvent.Error(DiagnosticIds.NonFiniteLoss, message));
            return false;
        }
        (loss / _options.GradientAccumulation).backward();
        stepLossSum += value * batch.TokenCount;
        stepTokens += batch.TokenCount;
        run.Tokens += batch.AttentionMask.ne(0).sum().item<long>();
        return true;
    }

    /// <summary>The scheduled learning rate, clipping, one AdamW step; the step's event line (no validation loss yet).</summary>
    private StepEvent OptimizerStep(AttemptState run, double stepLoss, Stopwatch clock)
    {
        var lr = _options.LearningRateAt(run.Step, run.TotalSteps);
        foreach (var group in run.Optimizer.ParamGroups) group.LearningRate = lr;
        nn.utils.clip_grad_norm_(run.Parameters, _options.MaxGradNorm);
        run.Optimizer.step();
        run.Optimizer.zero_grad();
        run.Step++;

        run.RecentLoss.Enqueue(stepLoss);
        if (run.RecentLoss.Count > 10) run.RecentLoss.Dequeue();
        var tokensPerSecond = run.Tokens / Math.Max(1e-9, clock.Elapsed.TotalSeconds);
        return new StepEvent(run.Step, run.TotalSteps, stepLoss, lr, Math.Round(tokensPerSecond, 1), PeakMemoryBytes(), Math.Round(clock.Elapsed.TotalSeconds, 2));
    }

    /// <summary>On an evaluation step: the validation loss into the line and the eval event; the monitor's verdict.</summary>
    private TrainingVerdict EvaluateIfDue(AttemptState run, ref StepEvent line)
    {
        var evalNow = run.Step == run.TotalSteps || (_options.EvalEvery > 0 && run.Step % _options.EvalEvery == 0);
        if (!evalNow) return TrainingVerdict.Continue;
        run.LastValidationLoss = Evaluate(run.Model, run.Device);
        line = line with { ValidationLoss = run.LastValidationLoss };
        var verdict = run.Monitor.Observe(new EvalPoint(run.Step, (double)run.Step / run.TotalSteps, run.RecentLoss.Average(), run.LastValidationLoss));
        Emit(new EvalEvent(run.Step, run.LastValidationLoss, run.BaseValidationLoss, run.RecentLoss.Average()));
        return verdict;
    }

    /// <summary>
    /// The verdict acted on: a plateau (LORA3002) restarts at a higher rank (--auto-rank), stops (--stop-on-plateau)
    /// or warns; overfitting (LORA3003) warns once.
    /// </summary>
    private (LoraConfig? Restart, bool Stop) Judge(AttemptState run, TrainingVerdict verdict)
    {
        var t = _options.Thresholds;
        var config = run.Config;
        if (verdict == TrainingVerdict.Plateau)
        {
            var first = run.Monitor.Points[0].ValidationLoss;
            var message = TrainingMonitor.PlateauAdvice(config, t, (first - run.Monitor.BestValidationLoss) / first);
            if (_options.AutoRank && run.Escalations < t.MaxRankEscalations && config.Rank * t.RankEscalationFactor <= t.MaxRank)
            {
                var next = config.Clone();
                next.Rank = config.Rank * t.RankEscalationFactor;
                next.Alpha = config.Alpha * t.RankEscalationFactor;
                Emit(DiagnosticEvent.Warning(DiagnosticIds.LossPlateau,
                    $"{message}. --auto-rank: restarting from a fresh base model at r={next.Rank}, alpha={Format.Number(next.Alpha)} (escalation {run.Escalations + 1} of {t.MaxRankEscalations})"));
                return (next, true);
            }
            Emit(DiagnosticEvent.Warning(DiagnosticIds.LossPlateau, message + (_options.StopOnPlateau ? "; stopping early" : "")));
            if (_options.StopOnPlateau)
            {
                run.Stopped = "plateau";
                return (null, true);
            }
        }
        else if (verdict == TrainingVerdict.Overfitting && !run.OverfitWarned)
        {
            run.OverfitWarned = true;
            Emit(DiagnosticEvent.Warning(DiagnosticIds.Overfitting, TrainingMonitor.OverfitAdvice(config, t)));
        }
        return (null, false);
    }

    /// <summary>An atomic checkpoint every CheckpointEvery steps (not on the last) and on cancellation.</summary>
    private void CheckpointIfDue(AttemptState run, bool cancelled)
    {
        if (!cancelled && !(_options.CheckpointEvery > 0 && run.Step % _options.CheckpointEvery == 0 && run.Step < run.TotalSteps)) return;
        var path = TrainerCheckpoint.Write(_options.OutputDir, run.Model, run.Optimizer, AdapterName, _options.BaseModelName,
            new TrainerState(run.Step, run.Consumed, run.Config.Rank, run.Config.Alpha, run.BaseValidationLoss, run.Injection.DropoutGenerator.get_state(), run.Monitor.Points.ToList()));
        Emit(new CheckpointEvent(run.Step, path));
    }

    /// <summary>Saves the adapter (unless the run was cancelled or diverged) and reports the outcome.</summary>
    private TrainingResult Finish(AttemptState run, string deviceName, Stopwatch clock)
    {
        var config = run.Config;
        if (run.Stopped is null || run.Stopped == "plateau")
            LoraAdapterFiles.Save(run.Model, AdapterName, _options.OutputDir, _options.BaseModelName);
        var result = new TrainingResult(config, run.BaseValidationLoss, run.LastValidationLoss, run.Step, clock.Elapsed.TotalSeconds,
            run.Tokens / Math.Max(1e-9, clock.Elapsed.TotalSeconds), PeakMemoryBytes(), run.Injection.TrainableParameters, deviceName, run.Stopped,
            run.Escalations, _options.OutputDir);
        Emit(new DoneEvent(run.Step, run.BaseValidationLoss, run.LastValidationLoss, result.Reduction, Math.Round(result.Seconds, 2),
            Math.Round(result.TokensPerSecond, 1), config.Rank, config.Alpha, run.Stopped, _options.OutputDir, run.Injection.TrainableParameters,
            result.PeakMemoryBytes));
        return result;
    }

    /// <summary>Mean validation loss per label token (the adapter as it is; B = 0 gives the base model's).</summary>
    private double Evaluate(LlamaForCausalLM model, Device device)
    {
        var wasTraining = model.training;
        model.eval();
        double sum = 0;
        long count = 0;
        using (no_grad())
        {
            foreach (var b in _data.ValidationBatches())
            {
                using var batch = b;
                if (batch.TokenCount == 0) continue; // its loss is 0/0, and NaN × 0 would poison the sum
                using var scope = NewDisposeScope();
                var loss = model.Loss(batch.InputIds.to(device), batch.Labels.to(device), batch.NeedsMask ? batch.AttentionMask.to(device) : null,
                    batch.PositionIds?.to(device)).item<float>();
                sum += loss * batch.TokenCount;
                count += batch.TokenCount;
            }
        }
        if (wasTraining) model.train();
        if (count == 0) throw new TrainingException(DiagnosticIds.TrainingFailed, "the validation split has no tokens to score; give more data or a larger validation fraction");
        return sum / count;
    }

    /// <summary>libtorch's messages for a failed allocation: CUDA "out of memory", CPU "can't allocate memory".</summary>
    internal static bool IsOutOfMemory(ExternalException e) =>
        e.Message.Contains("out of memory", StringComparison.OrdinalIgnoreCase) ||
        e.Message.Contains("can't allocate memory", StringComparison.OrdinalIgnoreCase) ||
        e.Message.Contains("CUDA_ERROR_OUT_OF_MEMORY", StringComparison.Ordinal);

    /// <summary>Peak resident memory of this process (VmHWM on Linux).</summary>
    public static long PeakMemoryBytes()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                    return long.Parse(line.Substring(6).Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) * 1024;
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
        using var p = Process.GetCurrentProcess();
        return p.PeakWorkingSet64;
    }

    private void Emit(TrainingEvent e) => _events(e);
}
