using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Threading;
using LoraKit.Build.Training;
using Microsoft.Build.Framework;
using Xunit;

namespace LoraKit.Build.Tests;

/// <summary>The trainer task with a fake build engine and a fake trainer (a shell script printing JSON events).</summary>
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
            echo '{"event":"start","adapter":"DateAdapter","rank":8,"alpha":16,"targets":["q_proj","v_proj"],"trainable_parameters":28672,"device":"cpu","total_steps":2,"base_val_loss":8.5}'
            echo '{"event":"step","step":1,"loss":8.4,"total_steps":2,"tokens_per_s":1000}'
            echo '{"event":"diagnostic","code":"LORA3002","severity":"warning","message":"validation loss plateaus"}'
            echo 'a plain line'
            echo '{"event":"done","steps":2,"val_loss":2.5,"base_val_loss":8.5,"seconds":1.5,"output":"/x/DateAdapter"}'
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
    public void A_dataset_error_without_a_file_points_at_the_dataset_file()
    {
        var (task, engine, dir) = Create("""
            echo "{\"event\":\"diagnostic\",\"code\":\"LORA3001\",\"severity\":\"error\",\"message\":\"dataset '$PWD/train.jsonl' has no usable examples\"}"
            exit 2
            """);
        File.WriteAllText(Path.Combine(dir, "train.jsonl"), "\n");
        task.Dataset = "train.jsonl";
        Assert.False(task.Execute());
        Assert.Equal(Path.Combine(dir, "train.jsonl"), Assert.Single(engine.Errors).File);
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
    public void Stderr_errors_with_a_code_keep_their_code()
    {
        var (task, engine, _) = Create("""
            echo 'error LORA1004: target v_porj matches nothing' >&2
            exit 1
            """);
        Assert.False(task.Execute());
        var error = Assert.Single(engine.Errors);
        Assert.Equal("LORA1004", error.Code);
        Assert.Equal("target v_porj matches nothing", error.Message);
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
    public void The_command_line_carries_every_option_and_a_dll_runs_with_the_dotnet_host()
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
            SweepRanks = "4;8;16",
            SweepFraction = "0.1",
            LockFile = "/p/lora.lock.json",
            AdditionalArguments = new[] { "--seq-len", "32" },
            NativeSearchPaths = new[] { "/p/bin/runtimes/linux-x64/native" },
        };
        Assert.Equal(new[]
        {
            "sweep", "--events", "json", "--adapter-assembly", "/p/bin/App.dll", "--adapter", "DateAdapter", "--base", "builtin", "--data", "/p/my data.jsonl",
            "--device", "cpu", "--out", "/p/lora-output/DateAdapter/sweep", "--max-steps", "20", "--ranks", "4,8,16", "--fraction", "0.1", "--lock", "/p/lora.lock.json",
            "--seq-len", "32",
        }, task.TrainerCommandLine());
        var psi = task.CreateStartInfo();
        Assert.Equal("/usr/share/dotnet/dotnet", psi.FileName);
        Assert.StartsWith("/pkg/tools/lorakit/LoraKit.Cli.dll sweep --events json", psi.Arguments);
        Assert.Contains("--data \"/p/my data.jsonl\"", psi.Arguments);
        Assert.StartsWith("/p/bin/runtimes/linux-x64/native", psi.EnvironmentVariables["LD_LIBRARY_PATH"]);
    }

    [Theory]
    [InlineData("plain", "plain")]
    [InlineData("with space", "\"with space\"")]
    [InlineData("say \"hi\"", "\"say \\\"hi\\\"\"")]
    [InlineData("", "\"\"")]
    [InlineData("dir\\ x\\", "\"dir\\ x\\\\\"")]
    public void Arguments_are_quoted_as_the_process_api_splits_them(string arg, string expected) =>
        Assert.Equal(expected, LoraKitTrainerTask.Quote(arg));

    [Theory]
    [InlineData("""{"event":"step","loss":NaN,"targets":["a","b"],"ok":true,"x":null,"s":"\u00e9\n"}""", true)]
    [InlineData("not json", false)]
    [InlineData("{\"event\":", false)]
    [InlineData("[1,2]", false)]
    public void Event_lines_parse_as_json_objects(string line, bool isObject)
    {
        var e = EventJson.TryParseObject(line);
        Assert.Equal(isObject, e is not null);
        if (e is null) return;
        Assert.Equal("step", e["event"]);
        Assert.True(double.IsNaN((double)e["loss"]!));
        Assert.Equal(new object?[] { "a", "b" }, (System.Collections.Generic.List<object?>)e["targets"]!);
        Assert.Equal(true, e["ok"]);
        Assert.Null(e["x"]);
        Assert.Equal("é\n", e["s"]);
    }
}
