using System;
using System.Collections.Generic;
using System.CommandLine;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Threading;
using LoraKit.Builtin;
using LoraKit.Data;
using LoraKit.Modeling;
using LoraKit.Rules;
using LoraKit.Sweep;
using LoraKit.Training;

namespace LoraKit.Cli.Commands;

/// <summary>
/// `lorakit sweep`: Seed A's production path — ranks (default 4, 8, 16) on a fraction (default 10 %) of
/// the training data, each trial its own process from a fresh base, alpha at the configured ratio; the
/// choice by LoraKit.Core's rule; report.md, sweep.png and lora.lock.json.
/// </summary>
internal static class SweepCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var o = new TrainOptions();
        var ranks = new Option<string>("--ranks") { Description = "Ranks to try.", DefaultValueFactory = _ => string.Join(",", LoraThresholds.Default.SweepRanks) };
        var lockFile = new Option<string>("--lock") { Description = "The lock file to write or update.", DefaultValueFactory = _ => LoraLock.FileName };
        var parallel = new Option<int>("--parallel") { Description = "Trials at once (one per GPU with --gpus).", DefaultValueFactory = _ => 1 };
        var gpus = new Option<string?>("--gpus") { Description = "GPU indices for concurrent trials, e.g. 0,1,2,3." };
        var inProcess = new Option<bool>("--in-process") { Description = "Run the trials in this process instead of one process each." };
        var command = new Command("sweep", "Rank sweep: train several ranks on a data fraction, choose with the 95 %/70 % rule, write report.md, sweep.png, lora.lock.json.")
        {
            ranks, lockFile, parallel, gpus, inProcess,
        };
        foreach (var option in o.All) command.Options.Add(option);
        o.Fraction.DefaultValueFactory = _ => LoraThresholds.Default.SweepDataFraction;
        command.SetAction(p =>
        {
            var json = p.GetValue(o.Events) == "json";
            var reporter = new EventReporter(stdout, json);
            using var cancel = new CancellationTokenSource();
            ConsoleCancelEventHandler onCancel = (_, e) =>
            {
                e.Cancel = true;
                cancel.Cancel();
            };
            Console.CancelKeyPress += onCancel;
            try
            {
                var rankList = p.GetValue(ranks)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                    .Select(r => int.TryParse(r, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v >= 1 ? v
                        : throw new ArgumentException($"--ranks: '{r}' is not a rank (a whole number ≥ 1); e.g. --ranks 4,8,16")).ToList();
                var resolved = BaseModelSource.Open(p.GetValue(o.Base)!, reporter.Info);
                var (data, dataset, summary) = o.LoadData(p, resolved.Tokenizer);
                reporter.Info($"sweep over ranks {string.Join(", ", rankList)}; base {resolved.Name}; data {summary}");
                var outDir = p.GetValue(o.Out) ?? Path.Combine("lora-output", o.AdapterName(p), "sweep");
                var trialOptions = o.Training(p, outDir, resolved.Name);
                ITrialExecutor executor = p.GetValue(inProcess)
                    ? new InProcessTrialExecutor((device, dtype) => HfCheckpoint.Load(resolved.Folder, device, dtype), data)
                    : new ProcessTrialExecutor(trial => ChildCommand(trial, p, resolved.Name), p.GetValue(parallel), ParseGpus(p.GetValue(gpus)));
                var provenance = new SweepProvenance(o.AdapterName(p), resolved.Name, dataset.ContentHash, dataset.Name, p.GetValue(o.Fraction));
                var outcome = SweepRunner.Run(rankList, o.ToLoraConfig(p), trialOptions, executor, outDir, p.GetValue(lockFile)!, provenance,
                    LoraThresholds.Default, reporter.Report, cancel.Token);
                reporter.Finish();
                if (!json)
                {
                    foreach (var t in outcome.Trials.OrderBy(t => t.Rank))
                        stdout.WriteLine($"rank {t.Rank,3}: validation loss {t.ValidationLoss:0.0000}, {t.Seconds:0.0} s, {Format.Count(t.TrainableParameters)} trainable");
                    stdout.WriteLine($"chosen rank {outcome.Decision.Chosen.Rank}: {outcome.Decision.Reason}");
                    stdout.WriteLine($"wrote {outcome.ReportPath}, {outcome.PlotPath}, {outcome.LockPath}");
                }
                return ExitCodes.Ok;
            }
            catch (OperationCanceledException)
            {
                reporter.Finish();
                return TrainCommand.Cancelled;
            }
            catch (TrainingException e)
            {
                reporter.Finish();
                reporter.Report(TrainingEvent.Diagnostic(e.Code, "error", e.Message.Substring(e.Code.Length + 2)));
                return ExitCodes.RuleError;
            }
            catch (AggregateException e) when (e.InnerException is TrainingException t)
            {
                reporter.Finish();
                reporter.Report(TrainingEvent.Diagnostic(t.Code, "error", t.Message.Substring(t.Code.Length + 2)));
                return ExitCodes.RuleError;
            }
            catch (Exception e) when (e is ArgumentException or IOException or DataException or InvalidDataException or UnauthorizedAccessException)
            {
                reporter.Finish();
                stderr.WriteLine($"error {(e is DataException ? e.Message : $"{DiagnosticIds.TrainingFailed}: {e.Message}")}");
                return ExitCodes.BadInput;
            }
            finally
            {
                Console.CancelKeyPress -= onCancel;
            }
        });
        return command;
    }

    private static IReadOnlyList<int>? ParseGpus(string? text) =>
        string.IsNullOrWhiteSpace(text) ? null : text.Split(',').Select(s => int.Parse(s.Trim(), CultureInfo.InvariantCulture)).ToList();

    /// <summary>The `lorakit train` command line of one trial: this program, the sweep's own options, the trial's rank.</summary>
    /// <param name="baseAsGiven">The base as the user gave it, so each trial's adapter records it as base_model_name_or_path.</param>
    private static (string, IReadOnlyList<string>) ChildCommand(TrialSpec trial, ParseResult p, string baseAsGiven)
    {
        var args = new List<string>();
        var host = Environment.ProcessPath ?? "dotnet";
        var entry = typeof(SweepCommand).Assembly.Location;
        if (Path.GetFileNameWithoutExtension(host) == "dotnet") args.Add(entry); // run through the dotnet host
        var inv = CultureInfo.InvariantCulture;
        var opts = trial.Options;
        args.AddRange(new[]
        {
            "train", "--base", baseAsGiven, "--data", p.GetValue<string>("--data")!, "--name", $"{opts.AdapterName}-r{trial.Rank}", "--out", trial.OutputDir,
            "--rank", trial.Rank.ToString(inv), "--alpha", trial.Alpha.ToString(inv), "--targets", string.Join(",", trial.TargetModules),
            "--dropout", trial.Dropout.ToString(inv), "--epochs", opts.Epochs.ToString(inv), "--max-steps", opts.MaxSteps.ToString(inv),
            "--batch-size", p.GetValue<int>("--batch-size").ToString(inv), "--grad-accum", opts.GradientAccumulation.ToString(inv),
            "--lr", opts.LearningRate.ToString(inv), "--weight-decay", opts.WeightDecay.ToString(inv), "--warmup", opts.WarmupRatio.ToString(inv),
            "--schedule", opts.Schedule.ToString().ToLowerInvariant(), "--seq-len", p.GetValue<int>("--seq-len").ToString(inv),
            "--val-fraction", p.GetValue<double>("--val-fraction").ToString(inv), "--fraction", p.GetValue<double>("--fraction").ToString(inv),
            "--eval-every", opts.EvalEvery.ToString(inv), "--checkpoint-every", "0", "--seed", opts.Seed.ToString(inv), "--device", opts.Device, "--events", "json",
        });
        if (p.GetValue<bool>("--pad")) args.Add("--pad");
        return (Environment.ProcessPath ?? "dotnet", args);
    }
}
