using System;
using System.IO;
using System.Linq;
using System.Text.Json;
using LoraKit.Models;
using LoraKit.Modeling;
using LoraKit.Rules;
using Xunit;

namespace LoraKit.Cli.Tests;

/// <summary>`lorakit train` and `sweep` end to end on a tiny Hugging Face folder and a JSONL file (fast).</summary>
public class TrainSweepCommandTests
{
    private static readonly LlamaDimensions Tiny = new()
    {
        ModelType = "llama", HiddenSize = 32, IntermediateSize = 48, Layers = 2, AttentionHeads = 4, KeyValueHeads = 2, VocabSize = 259,
    };

    private static string Temp() => Path.Combine(Path.GetTempPath(), "lorakit-cli-train", Guid.NewGuid().ToString("N"));

    /// <summary>A tiny random base saved as a builtin-style folder (byte tokenizer) and a prompt/completion JSONL file.</summary>
    internal static (string Base, string Data, string Root) Fixture()
    {
        var root = Temp();
        var baseFolder = Path.Combine(root, "base");
        HfCheckpoint.Save(LlamaForCausalLM.Create(Tiny, seed: 3), baseFolder);
        File.WriteAllText(Path.Combine(baseFolder, Builtin.BuiltinModel.MarkerFileName), "{\"tokenizer\": \"byte\"}");
        var lines = Enumerable.Range(0, 200).Select(i => JsonSerializer.Serialize(new { prompt = $"n{i % 10} ", completion = $"{(i % 10) * 2}" }));
        var data = Path.Combine(root, "data.jsonl");
        File.WriteAllLines(data, lines);
        return (baseFolder, data, root);
    }

    [Fact]
    public void Train_quantize_nf4_trains_on_a_4bit_base_and_a_bad_value_names_the_option()
    {
        var (b, d, root) = Fixture();
        var outDir = Path.Combine(root, "qlora");
        var r = CliRunner.Run("train", "--base", b, "--data", d, "--out", outDir, "--max-steps", "12", "--lr", "1e-2", "--seq-len", "16",
            "--batch-size", "8", "--eval-every", "6", "--device", "cpu", "--pad", "--quantize", "nf4");
        Assert.True(r.ExitCode == 0, r.Out + r.Err);
        Assert.Contains("decoder linears in 4-bit NF4", r.Out);
        Assert.True(File.Exists(Path.Combine(outDir, "adapter_model.safetensors")));
        var losses = File.ReadAllLines(Path.Combine(outDir, "metrics.jsonl")).Select(l => JsonDocument.Parse(l).RootElement)
            .Where(e => e.TryGetProperty("val_loss", out _)).Select(e => e.GetProperty("val_loss").GetDouble()).ToList();
        Assert.True(losses[^1] < losses[0], $"validation loss {losses[0]} → {losses[^1]} did not fall on the 4-bit base");

        var bad = CliRunner.Run("train", "--base", b, "--data", d, "--out", Path.Combine(root, "bad"), "--max-steps", "1", "--quantize", "int8");
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("--quantize int8", bad.Out + bad.Err);
    }

    [Fact]
    public void Train_writes_peft_files_and_metrics_and_json_events()
    {
        var (b, d, root) = Fixture();
        var outDir = Path.Combine(root, "out");
        var r = CliRunner.Run("train", "--base", b, "--data", d, "--out", outDir, "--max-steps", "12", "--lr", "1e-2", "--seq-len", "16",
            "--batch-size", "8", "--eval-every", "4", "--device", "cpu", "--events", "json", "--pad");
        Assert.True(r.ExitCode == 0, r.Out + r.Err);
        var events = r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        var kinds = events.Select(e => e.GetProperty("event").GetString()).ToList();
        Assert.Contains("start", kinds);
        Assert.Equal(12, kinds.Count(k => k == "step"));
        Assert.Equal(3, kinds.Count(k => k == "eval"));
        Assert.Equal("done", kinds[^1]);
        Assert.True(File.Exists(Path.Combine(outDir, "adapter_model.safetensors")));
        using (var config = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(outDir, "adapter_config.json"))))
        {
            // As PEFT's save_pretrained writes it: the base as the user gave it, inference mode, the task, the targets as a list.
            Assert.Equal(b, config.RootElement.GetProperty("base_model_name_or_path").GetString());
            Assert.True(config.RootElement.GetProperty("inference_mode").GetBoolean());
            Assert.Equal("CAUSAL_LM", config.RootElement.GetProperty("task_type").GetString());
            Assert.Equal(new[] { "q_proj", "v_proj" }, config.RootElement.GetProperty("target_modules").EnumerateArray().Select(e => e.GetString()));
        }
        Assert.Equal(13, File.ReadAllLines(Path.Combine(outDir, "metrics.jsonl")).Length); // step 0 (base validation loss) + 12 steps
        Assert.Equal(0, CliRunner.Run("inspect", outDir).ExitCode);
    }

    [Fact]
    public void Train_reports_bad_data_with_file_and_line_and_exits_2()
    {
        var (b, _, root) = Fixture();
        var data = Path.Combine(root, "bad.jsonl");
        File.WriteAllText(data, "{\"text\": \"fine\"}\nnot json\n");
        var r = CliRunner.Run("train", "--base", b, "--data", data, "--out", Path.Combine(root, "o"), "--device", "cpu");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("bad.jsonl:2", r.Err);

        var json = CliRunner.Run("train", "--base", b, "--data", data, "--out", Path.Combine(root, "o"), "--device", "cpu", "--events", "json");
        Assert.Equal(2, json.ExitCode);
        var diagnostic = JsonDocument.Parse(json.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1]).RootElement;
        Assert.Equal("LORA3001", diagnostic.GetProperty("code").GetString());
        Assert.Equal(Path.GetFullPath(data), diagnostic.GetProperty("file").GetString());
        Assert.DoesNotContain("LORA3001:", diagnostic.GetProperty("message").GetString());
    }

    [Fact]
    public void Train_with_a_target_that_matches_nothing_is_lora1004()
    {
        var (b, d, root) = Fixture();
        var r = CliRunner.Run("train", "--base", b, "--data", d, "--out", Path.Combine(root, "o"), "--targets", "q_proj,v_porj", "--device", "cpu");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("error LORA1004", r.Out);
        Assert.Contains("'v_porj' → 'v_proj'", r.Out);
    }

    [Fact]
    public void Sweep_runs_each_trial_as_a_process_and_writes_report_plot_and_lock()
    {
        var (b, d, root) = Fixture();
        var lockPath = Path.Combine(root, "lora.lock.json");
        var outDir = Path.Combine(root, "sweep");
        var r = CliRunner.Run("sweep", "--base", b, "--data", d, "--out", outDir, "--lock", lockPath, "--ranks", "2,4", "--fraction", "0.5",
            "--max-steps", "6", "--lr", "1e-2", "--seq-len", "16", "--batch-size", "8", "--eval-every", "0", "--device", "cpu", "--pad", "--name", "Support");
        Assert.True(r.ExitCode == 0, r.Out + r.Err);
        Assert.Contains("[rank 2 trial] done", r.Out);
        Assert.Contains("[rank 4 trial] done", r.Out);
        Assert.True(File.Exists(Path.Combine(outDir, "report.md")));
        Assert.True(File.Exists(Path.Combine(outDir, "sweep.png")));
        var locked = LoraLock.Parse(File.ReadAllText(lockPath), lockPath).Find("Support");
        Assert.NotNull(locked);
        Assert.Contains(locked!.Rank, new[] { 2, 4 });
        Assert.True(File.Exists(Path.Combine(outDir, "rank-2", "adapter_model.safetensors")));
        Assert.True(File.Exists(Path.Combine(outDir, "rank-4", "metrics.jsonl")));
        // Each trial process gets the base as the user gave it, and its adapter records exactly that.
        using var trialConfig = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(outDir, "rank-2", "adapter_config.json")));
        Assert.Equal(b, trialConfig.RootElement.GetProperty("base_model_name_or_path").GetString());
    }
}

/// <summary>
/// The README's main command on the embedded default: the builtin base (pretrained on first use) and the
/// builtin adaptation task. Fine-tuning must visibly work: validation loss ≥ 30 % below the base's.
/// </summary>
public class BuiltinMainJobTests
{
    [Fact]
    public void Main_job_on_the_builtin_default_lowers_validation_loss_by_at_least_30_percent()
    {
        var outDir = Path.Combine(Path.GetTempPath(), "lorakit-main-job", Guid.NewGuid().ToString("N"));
        // `lorakit train` alone, as eng/run.sh runs it: the builtin model and data with their defaults.
        var r = CliRunner.Run("train", "--out", outDir, "--events", "json");
        Assert.True(r.ExitCode == 0, r.Out + r.Err);
        var done = r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement)
            .Single(e => e.GetProperty("event").GetString() == "done");
        var baseLoss = done.GetProperty("base_val_loss").GetDouble();
        var loss = done.GetProperty("val_loss").GetDouble();
        Assert.True(loss <= 0.7 * baseLoss, $"base {baseLoss:0.000}, adapter {loss:0.000}");
        Assert.True(File.Exists(Path.Combine(outDir, "adapter_model.safetensors")));
    }

    [Fact]
    public void Sweep_on_the_builtin_default_writes_report_plot_and_lock()
    {
        var root = Path.Combine(Path.GetTempPath(), "lorakit-main-sweep", Guid.NewGuid().ToString("N"));
        var lockPath = Path.Combine(root, "lora.lock.json");
        var r = CliRunner.Run("sweep", "--out", Path.Combine(root, "sweep"), "--lock", lockPath, "--max-steps", "10", "--lr", "3e-3",
            "--seq-len", "64", "--batch-size", "16", "--eval-every", "0", "--device", "cpu");
        Assert.True(r.ExitCode == 0, r.Out + r.Err);
        foreach (var rank in new[] { 4, 8, 16 }) Assert.Contains($"[rank {rank} trial] done", r.Out); // the default ranks, one process each
        Assert.True(File.Exists(Path.Combine(root, "sweep", "report.md")));
        Assert.True(File.Exists(Path.Combine(root, "sweep", "sweep.png")));
        var entry = LoraLock.Parse(File.ReadAllText(lockPath), lockPath).Find("adapter");
        Assert.NotNull(entry);
        using var doc = JsonDocument.Parse(File.ReadAllText(lockPath));
        var adapter = doc.RootElement.GetProperty("adapters").GetProperty("adapter");
        Assert.Equal(0.1, adapter.GetProperty("data_fraction").GetDouble()); // The rank guide: 10 % of the data per trial
        Assert.Equal("builtin", adapter.GetProperty("base_model").GetString());
        Assert.Equal(64, adapter.GetProperty("dataset_sha256").GetString()!.Length);
    }
}

/// <summary>The CLI's train options come from <see cref="LoraKit.Run.TrainRequest"/>: parsing its arguments gives the request back.</summary>
public class TrainRequestBindingTests
{
    private static LoraKit.Run.TrainRequest Bind(bool sweep, params string[] args)
    {
        var options = new Commands.TrainOptions(sweep);
        var command = new System.CommandLine.Command(sweep ? "sweep" : "train");
        foreach (var o in options.All) command.Options.Add(o);
        var parse = command.Parse(args);
        Assert.Empty(parse.Errors);
        return options.Bind(parse);
    }

    [Fact]
    public void Gradient_checkpointing_alone_means_on_and_offload_is_its_value()
    {
        Assert.Equal("on", Bind(false, "--gradient-checkpointing").GradientCheckpointing);
        Assert.Equal("offload", Bind(false, "--gradient-checkpointing", "offload").GradientCheckpointing);
        Assert.Equal("none", Bind(false).GradientCheckpointing);
        var on = LoraKit.Run.TrainRequest.DefaultsFor("builtin", "builtin");
        on.GradientCheckpointing = "on";
        Assert.Equal(new[] { "train", "--gradient-checkpointing" }, on.ToArguments()); // the bare switch
        Assert.Throws<ArgumentException>(() => LoraKit.Run.TrainRequest.Option("--gradient-checkpointing").Apply(on, "sometimes"));
        Assert.Throws<ArgumentException>(() => LoraKit.Run.TrainRequest.Option("--packing").Apply(on, "bins"));
    }

    [Fact]
    public void Every_option_round_trips_through_the_cli_parser()
    {
        var r = LoraKit.Run.TrainRequest.DefaultsFor("models/tiny", "my data.jsonl");
        r.Name = "Support"; r.Out = "/o"; r.Rank = 16; r.Alpha = 8; r.Targets = new[] { "q_proj", "o_proj" }; r.Dropout = 0.1; r.Epochs = 3;
        r.MaxSteps = 7; r.BatchSize = 2; r.GradientAccumulation = 4; r.LearningRate = 1e-3; r.WeightDecay = 0.01; r.Warmup = 0.1; r.MaxGradNorm = 0.5;
        r.Schedule = "linear"; r.SeqLen = 32; r.Pad = true; r.ValFraction = 0.2; r.Fraction = 0.5; r.EvalEvery = 5; r.CheckpointEvery = 10; r.Seed = 7;
        r.Device = "cpu"; r.Events = "json"; r.AdapterAssembly = "/b/App.dll"; r.Adapter = "SupportAdapter"; r.Resume = true; r.AutoRank = true; r.StopOnPlateau = false; r.Quantize = "nf4";
        r.GradientCheckpointing = "offload"; r.Packing = "documents";
        var args = r.ToArguments();
        // Every option of the table appears once, so a new option that the parser missed fails here.
        Assert.Equal(LoraKit.Run.TrainRequest.Options.Select(o => o.Name), args.Where(a => a.StartsWith("--", StringComparison.Ordinal)));
        Assert.Equal(args, Bind(false, args.Skip(1).ToArray()).ToArguments());
    }

    [Fact]
    public void Defaults_follow_the_base_and_data_and_the_sweep_runs_on_a_tenth()
    {
        Assert.Equal(150, Bind(false).MaxSteps);
        Assert.Equal(0, Bind(false, "--data", "x.jsonl").MaxSteps);
        Assert.Equal(20, Bind(false, "--max-steps", "20").MaxSteps);
        Assert.Equal(0.1, Bind(true).Fraction);
        Assert.Equal(1.0, Bind(false).Fraction);
    }

    [Fact]
    public void A_trial_is_started_with_the_sweeps_request_and_its_own_rank()
    {
        var sweep = Bind(true, "--lr", "0.01", "--seq-len", "16", "--pad", "--device", "cpu");
        var options = new LoraKit.Training.TrainingOptions { AdapterName = "Support", Device = "cpu" };
        var trial = new LoraKit.Sweep.TrialSpec(0, 4, 8, "/s/rank-4", new[] { "q_proj", "v_proj" }, 0.05, options);
        var (_, args) = Commands.SweepCommand.ChildCommand(trial, sweep, "/cache/builtin");
        var train = args.SkipWhile(a => a != "train").ToList();
        Assert.Equal(new[] { "train", "--base", "/cache/builtin", "--name", "Support-r4", "--out", "/s/rank-4", "--rank", "4", "--alpha", "8", "--max-steps", "150",
            "--batch-size", "16", "--lr", "0.01", "--seq-len", "16", "--pad", "--fraction", "0.1", "--checkpoint-every", "0", "--device", "cpu", "--events", "json" }, train);
    }

    [Fact]
    public void Help_and_usage_say_lorakit()
    {
        var r = CliRunner.Run("sweep", "--help");
        Assert.Contains("lorakit sweep [options]", r.Out);
        Assert.DoesNotContain("LoraKit.Cli", r.Out);
        Assert.Contains("[default: 0; on the builtin model and data: 150]", CliRunner.Run("train", "--help").Out);
    }
}

public class TrainBadOptionTests
{
    [Fact]
    public void A_value_that_does_not_parse_is_bad_input_naming_the_option()
    {
        var r = CliRunner.Run("train", "--rank", "eight");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("error LORA3001: --rank: 'eight' is not a whole number", r.Err);
        var json = CliRunner.Run("sweep", "--lr", "fast", "--events", "json");
        Assert.Equal(2, json.ExitCode);
        Assert.Contains("\"message\":\"--lr: 'fast' is not a number\"", json.Out);
    }
}
