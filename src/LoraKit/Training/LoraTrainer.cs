using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Threading;
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

/// <summary>The outcome of a run.</summary>
public sealed record TrainingResult(
    LoraConfig Config,
    double BaseValidationLoss,
    double FinalValidationLoss,
    long Steps,
    double Seconds,
    double TokensPerSecond,
    long PeakMemoryBytes,
    long TrainableParameters,
    string Device,
    string? StoppedBecause,
    int RankEscalations,
    string OutputDir)
{
    /// <summary>How much lower the adapter's validation loss is than the base model's (0.3 = 30 %).</summary>
    public double Reduction => BaseValidationLoss > 0 ? 1 - FinalValidationLoss / BaseValidationLoss : 0;
}

/// <summary>A run that cannot go on, with its LORA3xxx code.</summary>
public sealed class TrainingException : Exception
{
    public TrainingException(string code, string message, Exception? inner = null) : base($"{code}: {message}", inner)
    {
        Code = code;
        Detail = message;
    }

    public string Code { get; }

    /// <summary>The message without its code.</summary>
    public string Detail { get; }

    /// <summary>The failure as a diagnostic event (code and message as separate fields).</summary>
    public DiagnosticEvent ToEvent() => DiagnosticEvent.Error(Code, Detail);
}

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

    private AttemptOutcome Attempt(LoraConfig config, Device device, string deviceName, int escalations)
    {
        var t = _options.Thresholds;
        var output = _options.OutputDir;
        Directory.CreateDirectory(output);
        var checkpointDir = Path.Combine(output, CheckpointFolderName);
        var metricsPath = Path.Combine(output, MetricsFileName);

        // Deterministic from here: the seed drives A's init and the injection's own dropout generator,
        // so nothing depends on torch's global generator (which other code in the process may use).
        torch.manual_seed(_options.Seed);
        var dtype = device.type == DeviceType.CUDA ? ScalarType.BFloat16 : ScalarType.Float32;
        using var model = _baseModel(device, dtype);
        var shape = ModelShape.FromLlama(_options.BaseModelName ?? "base", model.Dimensions);
        var injection = LoraInjector.Inject(model, config, AdapterName, _options.Seed);
        LoraPreflight.Check(model, injection, shape);
        var parameters = model.parameters().Where(p => p.requires_grad).ToList();
        using var optimizer = optim.AdamW(parameters, lr: _options.LearningRate, weight_decay: _options.WeightDecay);

        var perEpoch = (long)Math.Ceiling(_data.TrainBatchesPerEpoch / (double)_options.GradientAccumulation);
        if (perEpoch == 0) throw new TrainingException(DiagnosticIds.TrainingFailed, "the training split has no batches; give more data or a smaller batch size");
        var totalSteps = _options.MaxSteps > 0 ? _options.MaxSteps : perEpoch * _options.Epochs;
        var monitor = new TrainingMonitor(t);

        long step = 0;
        long consumed = 0; // micro-batches consumed overall, to skip on resume
        double baseVal;
        if (_options.Resume && TrainerCheckpoint.Find(output) is { } resumeFrom)
        {
            var state = TrainerCheckpoint.ReadState(resumeFrom);
            if (state.Rank != config.Rank)
            {
                var message = $"the checkpoint in {resumeFrom} has rank {state.Rank}, this run asks for rank {config.Rank}: LoRA adapter shapes are fixed at initialisation, " +
                              "so a checkpoint cannot continue with a new rank; restart from scratch (without --resume, or in a new output folder)";
                Emit(DiagnosticEvent.Error(DiagnosticIds.ResumeRankMismatch, message));
                throw new TrainingException(DiagnosticIds.ResumeRankMismatch, message);
            }
            TrainerCheckpoint.Restore(resumeFrom, model, optimizer, AdapterName);
            injection.DropoutGenerator.set_state(state.RngState);
            step = state.Step;
            consumed = state.MicroBatchesConsumed;
            baseVal = state.BaseValidationLoss;
            foreach (var p in state.EvalPoints) monitor.Observe(p);
            TrainerCheckpoint.TruncateMetrics(metricsPath, step);
            Emit(new ResumeEvent(step, resumeFrom));
        }
        else
        {
            if (File.Exists(metricsPath)) File.Delete(metricsPath);
            baseVal = Evaluate(model, device);
            monitor.Observe(new EvalPoint(0, 0, double.PositiveInfinity, baseVal));
        }

        Emit(new StartEvent(_options.AdapterName, config.Rank, config.Alpha, config.Scaling, config.TargetModules.ToArray(), injection.TrainableParameters,
            shape.TotalParameters, deviceName, totalSteps, baseVal, escalations));

        using var metrics = new StreamWriter(new FileStream(metricsPath, FileMode.Append, FileAccess.Write, FileShare.Read));
        if (metrics.BaseStream.Length == 0)
        {
            // Every plot and tool starts where training starts: step 0 carries the base model's validation loss.
            // (A resumed run keeps this line: TruncateMetrics keeps steps ≤ the checkpoint's.)
            metrics.WriteLine(TrainingEventJson.WriteBaselineMetrics(baseVal));
            metrics.Flush();
        }
        var clock = Stopwatch.StartNew();
        long tokens = 0;
        double lastVal = monitor.Points[^1].ValidationLoss;
        var recentLoss = new Queue<double>();
        string? stopped = null;
        var overfitWarned = false;
        model.train();

        var epoch = (int)(consumed / Math.Max(1, _data.TrainBatchesPerEpoch));
        var skip = consumed % Math.Max(1, _data.TrainBatchesPerEpoch);
        var stepLossSum = 0.0;
        var stepTokens = 0L;
        var micro = 0;
        var done = step >= totalSteps;
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
                using var batch = batches.Current;
                {
                    using var scope = NewDisposeScope();
                    var ids = batch.InputIds.to(device);
                    var labels = batch.Labels.to(device);
                    var mask = batch.AttentionMask.to(device);
                    var loss = model.Loss(ids, labels, mask);
                    var value = loss.item<float>();
                    if (!float.IsFinite(value))
                    {
                        stopped = "non-finite loss";
                        var message = $"the loss became {value} at step {step + 1}; training stopped and the last good checkpoint is kept. " +
                                      "Lower the learning rate, check the data for empty or huge examples, or train the base in float32";
                        Emit(DiagnosticEvent.Error(DiagnosticIds.NonFiniteLoss, message));
                        done = true;
                        break;
                    }
                    (loss / _options.GradientAccumulation).backward();
                    stepLossSum += value * batch.TokenCount;
                    stepTokens += batch.TokenCount;
                    tokens += mask.sum().item<long>();
                }
                consumed++;
                micro++;
                if (micro < _options.GradientAccumulation) continue;
                micro = 0;

                var lr = _options.LearningRateAt(step, totalSteps);
                foreach (var group in optimizer.ParamGroups) group.LearningRate = lr;
                nn.utils.clip_grad_norm_(parameters, _options.MaxGradNorm);
                optimizer.step();
                optimizer.zero_grad();
                step++;

                var stepLoss = stepTokens > 0 ? stepLossSum / stepTokens : double.NaN;
                stepLossSum = 0;
                stepTokens = 0;
                recentLoss.Enqueue(stepLoss);
                if (recentLoss.Count > 10) recentLoss.Dequeue();
                var tokensPerSecond = tokens / Math.Max(1e-9, clock.Elapsed.TotalSeconds);
                var peak = PeakMemoryBytes();
                var line = new StepEvent(step, totalSteps, stepLoss, lr, Math.Round(tokensPerSecond, 1), peak, Math.Round(clock.Elapsed.TotalSeconds, 2));

                var evalNow = step == totalSteps || (_options.EvalEvery > 0 && step % _options.EvalEvery == 0);
                TrainingVerdict verdict = TrainingVerdict.Continue;
                if (evalNow)
                {
                    lastVal = Evaluate(model, device);
                    line = line with { ValidationLoss = lastVal };
                    verdict = monitor.Observe(new EvalPoint(step, (double)step / totalSteps, recentLoss.Average(), lastVal));
                    Emit(new EvalEvent(step, lastVal, baseVal, recentLoss.Average()));
                }
                metrics.WriteLine(TrainingEventJson.WriteMetrics(line));
                metrics.Flush();
                Emit(line);

                if (verdict == TrainingVerdict.Plateau)
                {
                    var first = monitor.Points[0].ValidationLoss;
                    var message = TrainingMonitor.PlateauAdvice(config, t, (first - monitor.BestValidationLoss) / first);
                    if (_options.AutoRank && escalations < t.MaxRankEscalations && config.Rank * t.RankEscalationFactor <= t.MaxRank)
                    {
                        var next = config.Clone();
                        next.Rank = config.Rank * t.RankEscalationFactor;
                        next.Alpha = config.Alpha * t.RankEscalationFactor;
                        Emit(DiagnosticEvent.Warning(DiagnosticIds.LossPlateau,
                            $"{message}. --auto-rank: restarting from a fresh base model at r={next.Rank}, alpha={Format.Number(next.Alpha)} (escalation {escalations + 1} of {t.MaxRankEscalations})"));
                        return new AttemptOutcome(null, next);
                    }
                    Emit(DiagnosticEvent.Warning(DiagnosticIds.LossPlateau, message + (_options.StopOnPlateau ? "; stopping early" : "")));
                    if (_options.StopOnPlateau)
                    {
                        stopped = "plateau";
                        done = true;
                    }
                }
                else if (verdict == TrainingVerdict.Overfitting && !overfitWarned)
                {
                    overfitWarned = true;
                    Emit(DiagnosticEvent.Warning(DiagnosticIds.Overfitting, TrainingMonitor.OverfitAdvice(config, t)));
                }

                var cancelled = _cancel.IsCancellationRequested;
                if (cancelled || (_options.CheckpointEvery > 0 && step % _options.CheckpointEvery == 0 && step < totalSteps))
                {
                    var path = TrainerCheckpoint.Write(output, model, optimizer, AdapterName, _options.BaseModelName,
                        new TrainerState(step, consumed, config.Rank, config.Alpha, baseVal, injection.DropoutGenerator.get_state(), monitor.Points.ToList()));
                    Emit(new CheckpointEvent(step, path));
                }
                if (cancelled)
                {
                    stopped = "cancelled";
                    done = true;
                }
                if (step >= totalSteps) done = true;
            }
            if (!any) throw new TrainingException(DiagnosticIds.TrainingFailed, "the training data produced no batches");
            epoch++;
        }

        if (stopped is null || stopped == "plateau")
            LoraAdapterFiles.Save(model, AdapterName, output, _options.BaseModelName);
        var result = new TrainingResult(config, baseVal, lastVal, step, clock.Elapsed.TotalSeconds, tokens / Math.Max(1e-9, clock.Elapsed.TotalSeconds),
            PeakMemoryBytes(), injection.TrainableParameters, deviceName, stopped, escalations, output);
        Emit(new DoneEvent(step, baseVal, lastVal, result.Reduction, Math.Round(result.Seconds, 2), Math.Round(result.TokensPerSecond, 1), config.Rank,
            config.Alpha, stopped, output, injection.TrainableParameters, result.PeakMemoryBytes));
        return new AttemptOutcome(result, null);
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
                using var scope = NewDisposeScope();
                var loss = model.Loss(batch.InputIds.to(device), batch.Labels.to(device), batch.AttentionMask.to(device)).item<float>();
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
