using System.CommandLine;
using LoraKit.Rules;
using LoraKit.Run;
using LoraKit.Sweep;

namespace LoraKit.Cli.Commands;

/// <summary>
/// `lorakit sweep`: the rank sweep — ranks (default 4, 8, 16) on a fraction (default 10 %) of the training
/// data, each trial its own `lorakit train` process from a fresh base, alpha at the configured ratio; the
/// choice by LoraKit.Core's rule; report.md, sweep.png and lora.lock.json.
/// </summary>
internal static class SweepCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var o = new TrainOptions(sweep: true);
        var defaults = new SweepRequest();
        var ranks = new Option<string>(SweepRequest.RanksOption) { Description = "Ranks to try.", DefaultValueFactory = _ => string.Join(",", defaults.Ranks) };
        var lockFile = new Option<string>(SweepRequest.LockOption) { Description = "The lock file to write or update.", DefaultValueFactory = _ => defaults.LockFile };
        var parallel = new Option<int>("--parallel") { Description = "Trials at once (one per GPU with --gpus).", DefaultValueFactory = _ => 1 };
        var gpus = new Option<string?>("--gpus") { Description = "GPU indices for concurrent trials, e.g. 0,1,2,3." };
        var inProcess = new Option<bool>("--in-process") { Description = "Run the trials in this process instead of one process each." };
        var cluster = new ClusterOptions();
        var command = new Command("sweep", "Rank sweep: train several ranks on a data fraction, choose with the 95 %/70 % rule, write report.md, sweep.png, lora.lock.json.")
        {
            ranks, lockFile, parallel, gpus, inProcess,
        };
        foreach (var option in cluster.All) command.Options.Add(option);
        o.AddTo(command);
        command.SetAction(p => TrainingCommandFrame.Run(TrainOptions.JsonEvents(p), stdout, stderr, (reporter, cancel) =>
            {
                var rankList = SweepRequest.ParseRanks(p.GetValue(ranks)!);
                var (request, setup, resolved, data, dataset, summary) = o.Open(p, reporter);
                reporter.Info($"sweep over ranks {string.Join(", ", rankList)}; base {resolved.Name}; data {summary}");
                var outDir = request.Out ?? Path.Combine("lora-output", setup.AdapterName, "sweep");
                var trialOptions = setup.Training(outDir, resolved.Name);
                ITrialExecutor executor = p.GetValue(inProcess)
                    ? new InProcessTrialExecutor(setup.BaseFactory(resolved.Folder), data)
                    : cluster.Create(p, trial => ChildCommand(trial, request, resolved.Name), dataset.ContentHash, outDir, p.GetValue(parallel))
                      ?? new ProcessTrialExecutor(trial => ChildCommand(trial, request, resolved.Name), p.GetValue(parallel), ParseGpus(p.GetValue(gpus)));
                var provenance = new SweepProvenance(setup.AdapterName, resolved.Name, dataset.ContentHash, dataset.Name, request.Fraction);
                SweepOutcome outcome;
                try
                {
                    outcome = SweepRunner.Run(rankList, setup.LoraConfig(), trialOptions, executor, outDir, p.GetValue(lockFile)!, provenance,
                        LoraThresholds.Default, reporter.Report, cancel);
                }
                catch (TrialsSubmittedElsewhereException e)
                {
                    // A Kubernetes manifest written but not applied: the trials run elsewhere; the next sweep reads their results.
                    reporter.Finish();
                    reporter.Info(e.Message);
                    return ExitCodes.Ok;
                }
                reporter.Finish();
                if (!reporter.Json)
                {
                    foreach (var t in outcome.Trials.OrderBy(t => t.Rank))
                        stdout.WriteLine($"rank {t.Rank,3}: validation loss {t.ValidationLoss:0.0000}, {t.Seconds:0.0} s, {Format.Count(t.TrainableParameters)} trainable");
                    stdout.WriteLine($"chosen rank {outcome.Decision.Chosen.Rank}: {outcome.Decision.Reason}");
                    stdout.WriteLine($"wrote {outcome.ReportPath}, {outcome.PlotPath}, {outcome.LockPath}");
                }
                return ExitCodes.Ok;
            }));
        return command;
    }

    private static IReadOnlyList<int>? ParseGpus(string? text) =>
        string.IsNullOrWhiteSpace(text) ? null : text.Split(',').Select(s => int.Parse(s.Trim(), CultureInfo.InvariantCulture)).ToList();

    /// <summary>
    /// The `lorakit train` command line of one trial: the sweep's request with the trial's rank, alpha, name and
    /// folder, the base as the user gave it (so each trial's adapter_config.json records it as PEFT would; the sweep has
    /// already resolved it once, so a builtin base is cached by then), JSON events, no periodic checkpoints.
    /// </summary>
    internal static (string FileName, IReadOnlyList<string> Arguments) ChildCommand(TrialSpec trial, TrainRequest sweep, string baseModel)
    {
        var child = sweep.Clone();
        child.Base = baseModel;
        child.Name = $"{trial.Options.AdapterName}-r{trial.Rank}";
        child.Out = trial.OutputDir;
        child.Rank = trial.Rank;
        child.Alpha = trial.Alpha;
        child.Targets = trial.TargetModules;
        child.Dropout = trial.Dropout;
        child.CheckpointEvery = 0;
        child.Events = TrainRequest.EventsJson;
        child.AdapterAssembly = null; // the trial's adapter is fully given by rank, alpha, dropout and targets
        child.Adapter = null;
        var args = new List<string>();
        var host = Environment.ProcessPath ?? "dotnet";
        if (Path.GetFileNameWithoutExtension(host) == "dotnet") args.Add(typeof(SweepCommand).Assembly.Location); // run through the dotnet host
        args.AddRange(child.ToArguments());
        return (host, args);
    }
}
