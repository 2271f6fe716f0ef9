using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Threading;
using LoraKit.Build.Training;
using Microsoft.Build.Framework;
using Xunit;

namespace LoraKit.Build.Tests;

/// <summary>
/// The trainer task (a <see cref="Microsoft.Build.Utilities.ToolTask"/>) with a fake build engine and a fake trainer: a shell
/// script printing JSON event lines as the real trainer's <see cref="LoraKit.Run.TrainingEventJson"/> writes them.
/// </summary>
public class TrainerTaskTests
{
    private static (LoraKitTrainerTask Task, FakeBuildEngine Engine, string Dir) Create(string script, string command = "train")
    {
        var dir = TestEnvironment.TempFolder();
        var path = Path.Combine(dir, "fake-trainer.sh");
        File.WriteAllText(path, script.Replace("\r\n", "\n"));
        var engine = new FakeBuildEngine();
        var task = new LoraKitTrainerTask
        {
            BuildEngine = engine,
            Command = command,
            TrainerPath = "/bin/sh",
            TrainerArguments = new[] { path },
            Adapter = "DateAdapter",
            WorkingDirectory = dir,
            ProjectFile = Path.Combine(dir, "App.csproj"),
        };
        return (task, engine, dir);
    }

    [Fact]
    public void Events_become_messages_and_diagnostics_with_their_codes()
    {
        var (task, engine, dir) = Create("""
            echo '{"event":"info","message":"base builtin; data builtin"}'
            echo '{"event":"start","adapter":"DateAdapter","rank":8,"alpha":16,"scaling":2,"targets":["q_proj","v_proj"],"trainable_parameters":28672,"base_parameters":3000000,"device":"cpu","total_steps":2,"base_val_loss":8.5,"escalation":0}'
            echo '{"event":"step","step":1,"loss":8.4,"lr":0.003,"tokens_per_s":1000,"peak_memory_bytes":1,"total_steps":2,"elapsed_s":0.5}'
            echo '{"event":"diagnostic","code":"LORA3002","severity":"warning","message":"validation loss plateaus"}'
            echo 'a plain line'
            echo '{"event":"done","steps":2,"base_val_loss":8.5,"val_loss":2.5,"reduction":0.7,"seconds":1.5,"tokens_per_s":900,"rank":8,"alpha":16,"stopped":null,"output":"/x/DateAdapter","trainable_parameters":28672,"peak_memory_bytes":1}'
            exit 0
            """);
        Assert.True(task.Execute());
        Assert.Equal(0, task.ExitCode);
        var warning = Assert.Single(engine.Warnings);
        Assert.Equal("LORA3002", warning.Code);
        Assert.Equal("LoraKit", warning.Subcategory);
        Assert.Equal(Path.Combine(dir, "App.csproj"), warning.File);
        Assert.Equal("validation loss plateaus", warning.Message);
        Assert.Empty(engine.Errors);
        var normal = engine.Messages.Where(m => m.Importance <= MessageImportance.Normal).Select(m => m.Message).ToList();
        Assert.Contains("LoraKit: base builtin; data builtin", normal);
        Assert.Contains(normal, m => m!.StartsWith("LoraKit: training DateAdapter r=8, alpha=16, targets q_proj, v_proj: 28672 trainable parameters, 2 steps on cpu", StringComparison.Ordinal));
        Assert.Contains("LoraKit: a plain line", normal);
        Assert.Contains(engine.Messages, m => m.Importance == MessageImportance.High && m.Message!.Contains("validation loss 2.5000 (base 8.5000)") && m.Message.Contains("/x/DateAdapter"));
    }

    [Fact]
    public void An_error_diagnostic_points_at_its_file_and_line_and_fails_the_task()
    {
        var (task, engine, dir) = Create("""
            echo '{"event":"diagnostic","code":"LORA3001","severity":"error","message":"bad line","file":"/data/train.jsonl","line":7}'
            exit 2
            """);
        Assert.False(task.Execute());
        Assert.Equal(2, task.ExitCode);
        var error = Assert.Single(engine.Errors);
        Assert.Equal("LORA3001", error.Code);
        Assert.Equal("/data/train.jsonl", error.File);
        Assert.Equal(7, error.LineNumber);
        Assert.Equal("bad line", error.Message);
    }

    [Fact]
    public void A_diagnostic_without_a_file_points_at_the_project_and_a_trial_names_its_rank()
    {
        var (task, engine, dir) = Create("""
            echo '{"event":"diagnostic","code":"LORA3003","severity":"warning","message":"validation loss rises","trial_rank":16}'
            exit 0
            """, command: "sweep");
        Assert.True(task.Execute());
        var warning = Assert.Single(engine.Warnings);
        Assert.Equal(Path.Combine(dir, "App.csproj"), warning.File);
        Assert.Equal(0, warning.LineNumber);
        Assert.Equal("rank 16 trial: validation loss rises", warning.Message);
    }

    [Fact]
    public void A_non_zero_exit_without_a_diagnostic_is_LORA3001_with_the_trainers_stderr()
    {
        var (task, engine, _) = Create("""
            echo 'Unhandled exception: boom' >&2
            exit 3
            """);
        Assert.False(task.Execute());
        var error = Assert.Single(engine.Errors);
        Assert.Equal("LORA3001", error.Code);
        Assert.Contains("exited with code 3", error.Message);
        Assert.Contains("Unhandled exception: boom", error.Message);
    }

    [Fact]
    public void Stderr_lines_are_messages_and_never_parsed_for_codes()
    {
        var (task, engine, _) = Create("""
            echo 'error LORA1004: target v_porj matches nothing' >&2
            exit 1
            """);
        Assert.False(task.Execute());
        Assert.Equal(1, task.ExitCode);
        var error = Assert.Single(engine.Errors);
        Assert.Equal("LORA3001", error.Code); // diagnostics travel as events; text on stderr is only text
        Assert.Contains("exited with code 1: error LORA1004: target v_porj matches nothing", error.Message);
        Assert.Contains(engine.Messages, m => m.Message == "LoraKit: error LORA1004: target v_porj matches nothing");
    }

    [Fact]
    public void An_event_with_a_missing_field_is_reported_as_unreadable_not_guessed()
    {
        var (task, engine, _) = Create("""
            echo '{"event":"diagnostic","code":"LORA3002","message":"no severity"}'
            exit 0
            """);
        Assert.True(task.Execute());
        Assert.Empty(engine.Warnings);
        Assert.Contains(engine.Messages, m => m.Message!.Contains("an event the task cannot read") && m.Message.Contains("\"severity\" must be a string"));
    }

    [Fact]
    public void An_error_event_fails_the_task_even_when_the_trainer_exits_0()
    {
        var (task, engine, _) = Create("""
            echo '{"event":"diagnostic","code":"LORA3007","severity":"error","message":"loss became NaN"}'
            exit 0
            """);
        Assert.False(task.Execute());
        Assert.Equal("LORA3007", Assert.Single(engine.Errors).Code);
    }

    [Fact]
    public void Cancel_kills_the_trainer_and_its_children()
    {
        var (task, engine, dir) = Create("""
            sleep 300 &
            echo $! > child.pid
            echo '{"event":"info","message":"started"}'
            wait
            """);
        var result = (bool?)null;
        var thread = new Thread(() => result = task.Execute());
        thread.Start();
        var pidFile = Path.Combine(dir, "child.pid");
        var clock = Stopwatch.StartNew();
        while (!(File.Exists(pidFile) && File.ReadAllText(pidFile).Trim().Length > 0) && clock.Elapsed < TimeSpan.FromSeconds(30)) Thread.Sleep(50);
        var child = int.Parse(File.ReadAllText(pidFile).Trim());
        Assert.True(Alive(child));

        task.Cancel();
        Assert.True(thread.Join(TimeSpan.FromSeconds(30)), "Execute did not return after Cancel");
        Assert.False(result);
        clock.Restart();
        while (Alive(child) && clock.Elapsed < TimeSpan.FromSeconds(10)) Thread.Sleep(50);
        Assert.False(Alive(child), $"the trainer's child {child} survived the cancellation");
        Assert.Contains(engine.Messages, m => m.Message!.Contains("cancelled"));
    }

    /// <summary>Running (a zombie waiting for a reaper counts as gone).</summary>
    private static bool Alive(int pid)
    {
        var stat = $"/proc/{pid}/stat";
        if (!File.Exists(stat)) return false;
        try
        {
            var text = File.ReadAllText(stat);
            var state = text[(text.LastIndexOf(')') + 2)..].Split(' ')[0];
            return state != "Z" && state != "X";
        }
        catch (IOException)
        {
            return false;
        }
    }

    [Fact]
    public void The_command_line_maps_the_parameters_onto_the_run_contract_and_a_dll_runs_with_the_dotnet_host()
    {
        var task = new LoraKitTrainerTask
        {
            BuildEngine = new FakeBuildEngine(),
            Command = "sweep",
            TrainerPath = "/pkg/tools/lorakit/LoraKit.Cli.dll",
            DotNetHost = "/usr/share/dotnet/dotnet",
            AdapterAssembly = "/p/bin/App.dll",
            Adapter = "DateAdapter",
            BaseModel = "builtin",
            Dataset = "/p/my data.jsonl",
            Device = "cpu",
            OutputDir = "/p/lora-output/DateAdapter/sweep",
            MaxSteps = "20",
            SweepRanks = "4;16",
            SweepFraction = "0.1",
            LockFile = "/p/lora.lock.json",
            AdditionalArguments = new[] { "--seq-len", "32" },
        };
        // Defaults are left out (builtin base, the sweep's 10 % fraction); the rest in TrainRequest's option order.
        Assert.Equal(new[]
        {
            "sweep", "--ranks", "4,16", "--lock", "/p/lora.lock.json", "--data", "/p/my data.jsonl", "--out", "/p/lora-output/DateAdapter/sweep",
            "--max-steps", "20", "--device", "cpu", "--events", "json", "--adapter-assembly", "/p/bin/App.dll", "--adapter", "DateAdapter", "--seq-len", "32",
        }, task.TrainerCommandLine());
        Assert.StartsWith("/pkg/tools/lorakit/LoraKit.Cli.dll sweep --ranks ", task.CommandLine);
        Assert.Contains("--data \"/p/my data.jsonl\"", task.CommandLine);
    }

    [Fact]
    public void The_trainer_receives_every_argument_as_given_and_the_native_search_path()
    {
        var (task, engine, dir) = Create("""
            printf '%s\n' "$@" > args.txt
            echo "$LD_LIBRARY_PATH" > ld.txt
            exit 0
            """);
        var tricky = new[] { "with space", "say \"hi\"", "dir\\ x\\", "tab\there", "ünï" };
        task.AdditionalArguments = tricky.SelectMany(a => new[] { "--name", a }).ToArray();
        task.NativeSearchPaths = new[] { "/opt/native one", "/opt/native2" };
        Assert.True(task.Execute(), string.Join("\n", engine.Errors.Select(e => e.Message)));
        var args = File.ReadAllText(Path.Combine(dir, "args.txt")).Split('\n');
        Assert.Equal(new[] { "train", "--events", "json", "--adapter", "DateAdapter" }.Concat(tricky.SelectMany(a => new[] { "--name", a })).Append(""), args);
        Assert.StartsWith("/opt/native one:/opt/native2", File.ReadAllText(Path.Combine(dir, "ld.txt")));
    }

    [Fact]
    public void A_parameter_that_does_not_parse_is_LORA1008_naming_the_property_and_the_trainer_never_runs()
    {
        var (task, engine, dir) = Create("""
            touch ran.txt
            """);
        task.MaxSteps = "lots";
        Assert.False(task.Execute());
        var error = Assert.Single(engine.Errors);
        Assert.Equal("LORA1008", error.Code);
        Assert.Equal("LoraKitMaxSteps: --max-steps: 'lots' is not a whole number", error.Message);
        Assert.False(File.Exists(Path.Combine(dir, "ran.txt")));
    }

    [Fact]
    public void LoraKitQuantize_takes_the_contracts_names_and_anything_else_is_LORA1008()
    {
        var (task, engine, dir) = Create("""
            touch ran.txt
            """);
        task.Quantize = "int4";
        Assert.False(task.Execute());
        var error = Assert.Single(engine.Errors);
        Assert.Equal("LORA1008", error.Code);
        Assert.Equal("LoraKitQuantize: --quantize int4 is not one of none, nf4", error.Message);
        Assert.False(File.Exists(Path.Combine(dir, "ran.txt")));

        var valid = new LoraKitTrainerTask { BuildEngine = new FakeBuildEngine(), Command = "train", TrainerPath = "/t", Quantize = "nf4" };
        Assert.Equal(new[] { "train", "--events", "json", "--quantize", "nf4" }, valid.TrainerCommandLine());
    }

    [Fact]
    public void Builtin_defaults_are_left_to_the_trainer_and_given_values_are_passed()
    {
        var task = new LoraKitTrainerTask { BuildEngine = new FakeBuildEngine(), Command = "train", TrainerPath = "/t", BaseModel = "builtin", Dataset = "builtin", MaxSteps = "150" };
        Assert.Equal(new[] { "train", "--events", "json" }, task.TrainerCommandLine()); // 150 is the builtin run's default
        task.Dataset = "data.jsonl";
        Assert.Equal(new[] { "train", "--data", "data.jsonl", "--max-steps", "150", "--events", "json" }, task.TrainerCommandLine());
    }
}
