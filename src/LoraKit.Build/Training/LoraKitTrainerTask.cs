using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

namespace LoraKit.Build.Training;

/// <summary>
/// Runs `lorakit train` or `lorakit sweep` as a separate process (TorchSharp never loads into MSBuild),
/// reads its `--events json` lines and turns them into build output: progress as messages, LORA3xxx
/// diagnostics as warnings and errors with their code, file and line. A non-zero exit fails the task.
/// Cancelling the build kills the trainer's whole process tree; its checkpoints are written atomically,
/// so the last one stays usable.
/// </summary>
public sealed class LoraKitTrainerTask : Task, ICancelableTask
{
    public const string Subcategory = "LoraKit";
    private const string TrainingFailed = "LORA3001";

    private readonly object _gate = new();
    private Process? _process;
    private bool _cancelled;

    /// <summary>train or sweep.</summary>
    [Required]
    public string Command { get; set; } = "";

    /// <summary>The trainer: LoraKit.Cli.dll (run with the dotnet host) or an executable.</summary>
    [Required]
    public string TrainerPath { get; set; } = "";

    /// <summary>Arguments before the command (e.g. a script for an interpreter given as <see cref="TrainerPath"/>).</summary>
    public string[] TrainerArguments { get; set; } = Array.Empty<string>();

    /// <summary>The dotnet host for a .dll trainer; default DOTNET_HOST_PATH (set by the dotnet CLI), else `dotnet`.</summary>
    public string? DotNetHost { get; set; }

    public string? AdapterAssembly { get; set; }
    public string? Adapter { get; set; }
    public string? BaseModel { get; set; }
    public string? Dataset { get; set; }
    public string? Device { get; set; }
    public string? OutputDir { get; set; }
    public string? Epochs { get; set; }
    public string? MaxSteps { get; set; }

    /// <summary>Sweep only: ranks as an MSBuild list (4;8;16).</summary>
    public string? SweepRanks { get; set; }

    /// <summary>Sweep only: share of the training data per trial.</summary>
    public string? SweepFraction { get; set; }

    /// <summary>Sweep only: the lock file to write.</summary>
    public string? LockFile { get; set; }

    /// <summary>Further trainer options, one argument per item.</summary>
    public string[] AdditionalArguments { get; set; } = Array.Empty<string>();

    /// <summary>Folders holding the backend's native libraries (libtorch, LibTorchSharp) for the trainer to load.</summary>
    public string[] NativeSearchPaths { get; set; } = Array.Empty<string>();

    public string? WorkingDirectory { get; set; }

    /// <summary>The file diagnostics point at when the trainer names none; default the project.</summary>
    public string? ProjectFile { get; set; }

    /// <summary>The trainer's exit code.</summary>
    [Output]
    public int ExitCode { get; private set; } = -1;

    public override bool Execute()
    {
        if (Command != "train" && Command != "sweep")
        {
            Log.LogError($"LoraKitTrainerTask: Command must be train or sweep, not '{Command}'.");
            return false;
        }
        var psi = CreateStartInfo();
        Log.LogMessage(MessageImportance.Normal, $"LoraKit: {psi.FileName} {psi.Arguments}");

        var stderr = new ConcurrentQueue<string>();
        using (var process = new Process { StartInfo = psi })
        {
            process.ErrorDataReceived += (_, e) => { if (e.Data is not null) stderr.Enqueue(e.Data); };
            lock (_gate)
            {
                if (_cancelled) return false;
                try
                {
                    process.Start();
                }
                catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException or FileNotFoundException)
                {
                    LogDiagnostic("error", TrainingFailed, $"cannot start the trainer {psi.FileName}: {e.Message}", null, null);
                    return false;
                }
                _process = process;
            }
            process.BeginErrorReadLine();
            string? line;
            while ((line = process.StandardOutput.ReadLine()) is not null) HandleLine(line);
            process.WaitForExit();
            ExitCode = process.ExitCode;
            lock (_gate) _process = null;
        }

        var errorLines = new List<string>();
        foreach (var line in stderr)
        {
            var m = Regex.Match(line, @"^error (LORA\d{4}): (.*)$");
            if (m.Success) LogDiagnostic("error", m.Groups[1].Value, m.Groups[2].Value, null, null);
            else if (line.Length > 0)
            {
                errorLines.Add(line);
                Log.LogMessage(MessageImportance.Normal, $"LoraKit: {line}");
            }
        }
        if (_cancelled)
        {
            Log.LogMessage(MessageImportance.High, "LoraKit: the build was cancelled; the trainer was stopped (its last checkpoint is complete).");
            return false;
        }
        if (ExitCode != 0 && !Log.HasLoggedErrors)
        {
            var detail = errorLines.Count > 0 ? ": " + string.Join(" ", errorLines.Skip(Math.Max(0, errorLines.Count - 5))) : "";
            LogDiagnostic("error", TrainingFailed, $"lorakit {Command} exited with code {ExitCode}{detail}", null, null);
        }
        return ExitCode == 0 && !Log.HasLoggedErrors;
    }

    /// <summary>Stops the trainer and every process it started (a sweep's trials).</summary>
    public void Cancel()
    {
        Process? process;
        lock (_gate)
        {
            _cancelled = true;
            process = _process;
        }
        if (process is null) return;
        try
        {
            KillTree(process);
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            // It exited meanwhile.
        }
    }

    private static void KillTree(Process process)
    {
        // Process.Kill(bool entireProcessTree) exists on .NET Core 3.0+, where `dotnet build` runs tasks;
        // this assembly targets netstandard2.0 for Visual Studio's MSBuild too, so it is called through reflection.
        var killTree = typeof(Process).GetMethod("Kill", BindingFlags.Public | BindingFlags.Instance, null, new[] { typeof(bool) }, null);
        if (killTree is not null)
        {
            killTree.Invoke(process, new object[] { true });
            return;
        }
        if (RuntimeInformation.IsOSPlatform(OSPlatform.Windows))
        {
            using var taskkill = Process.Start(new ProcessStartInfo("taskkill", $"/T /F /PID {process.Id}") { UseShellExecute = false, CreateNoWindow = true });
            taskkill?.WaitForExit(10_000);
        }
        else process.Kill();
    }

    internal ProcessStartInfo CreateStartInfo()
    {
        var isDll = TrainerPath.EndsWith(".dll", StringComparison.OrdinalIgnoreCase);
        var host = !string.IsNullOrEmpty(DotNetHost) ? DotNetHost! : Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } h ? h : "dotnet";
        var psi = new ProcessStartInfo(isDll ? host : TrainerPath)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            CreateNoWindow = true,
            WorkingDirectory = string.IsNullOrEmpty(WorkingDirectory) ? Directory.GetCurrentDirectory() : WorkingDirectory,
        };
        var args = new List<string>();
        if (isDll) args.Add(TrainerPath);
        args.AddRange(TrainerArguments);
        args.AddRange(TrainerCommandLine());
        psi.Arguments = string.Join(" ", args.Select(Quote));

        var natives = NativeSearchPaths.Where(p => !string.IsNullOrEmpty(p)).ToList();
        if (natives.Count > 0)
        {
            var variable = RuntimeInformation.IsOSPlatform(OSPlatform.Windows) ? "PATH"
                : RuntimeInformation.IsOSPlatform(OSPlatform.OSX) ? "DYLD_LIBRARY_PATH" : "LD_LIBRARY_PATH";
            var existing = Environment.GetEnvironmentVariable(variable);
            psi.EnvironmentVariables[variable] = string.Join(Path.PathSeparator.ToString(), natives.Concat(string.IsNullOrEmpty(existing) ? Array.Empty<string>() : new[] { existing! }));
        }
        return psi;
    }

    /// <summary>The trainer's options after the command, from the task's properties.</summary>
    internal IReadOnlyList<string> TrainerCommandLine()
    {
        var args = new List<string> { Command, "--events", "json" };
        void Add(string option, string? value)
        {
            if (string.IsNullOrWhiteSpace(value)) return;
            args.Add(option);
            args.Add(value!.Trim());
        }
        Add("--adapter-assembly", AdapterAssembly);
        Add("--adapter", Adapter);
        Add("--base", BaseModel);
        Add("--data", Dataset);
        Add("--device", Device);
        Add("--out", OutputDir);
        Add("--epochs", Epochs);
        Add("--max-steps", MaxSteps);
        if (Command == "sweep")
        {
            Add("--ranks", SweepRanks is null ? null : string.Join(",", SweepRanks.Split(new[] { ';', ',' }, StringSplitOptions.RemoveEmptyEntries).Select(r => r.Trim())));
            Add("--fraction", SweepFraction);
            Add("--lock", LockFile);
        }
        args.AddRange(AdditionalArguments.Where(a => !string.IsNullOrEmpty(a)));
        return args;
    }

    /// <summary>Quotes one argument for ProcessStartInfo.Arguments (the Windows/CoreFX rules, which .NET applies on every OS).</summary>
    internal static string Quote(string arg)
    {
        if (arg.Length > 0 && arg.IndexOfAny(new[] { ' ', '\t', '"', '\n' }) < 0) return arg;
        var sb = new System.Text.StringBuilder("\"");
        var backslashes = 0;
        foreach (var c in arg)
        {
            if (c == '\\') { backslashes++; continue; }
            if (c == '"') sb.Append('\\', backslashes * 2 + 1);
            else sb.Append('\\', backslashes);
            backslashes = 0;
            sb.Append(c);
        }
        sb.Append('\\', backslashes * 2).Append('"');
        return sb.ToString();
    }

    internal void HandleLine(string line)
    {
        var e = EventJson.TryParseObject(line);
        if (e is null || Str(e, "event") is not { } kind)
        {
            if (line.Trim().Length > 0) Log.LogMessage(MessageImportance.Normal, $"LoraKit: {line}");
            return;
        }
        var trial = e.ContainsKey("trial_rank") ? $"[rank {Str(e, "trial_rank")} trial] " : "";
        switch (kind)
        {
            case "diagnostic":
                LogDiagnostic(Str(e, "severity") ?? "error", Str(e, "code") ?? TrainingFailed, Str(e, "message") ?? "", Str(e, "file"), Num(e, "line"));
                break;
            case "start":
                Log.LogMessage(MessageImportance.Normal,
                    $"LoraKit: {trial}training {Str(e, "adapter") ?? Adapter} r={Str(e, "rank")}, alpha={Str(e, "alpha")}, targets {Str(e, "targets")}: " +
                    $"{Str(e, "trainable_parameters")} trainable parameters, {Str(e, "total_steps")} steps on {Str(e, "device")}; base validation loss {Fixed(e, "base_val_loss")}");
                break;
            case "step":
                var step = Num(e, "step") ?? 0;
                var total = Num(e, "total_steps") ?? 0;
                var every = Math.Max(1, total / 10);
                var importance = step == total || step % every == 0 ? MessageImportance.Normal : MessageImportance.Low;
                Log.LogMessage(importance, $"LoraKit: step {step}/{total} loss {Fixed(e, "loss")}, {Str(e, "tokens_per_s")} tokens/s");
                break;
            case "eval":
                Log.LogMessage(MessageImportance.Normal, $"LoraKit: {trial}step {Str(e, "step")}: validation loss {Fixed(e, "val_loss")} (base {Fixed(e, "base_val_loss")})");
                break;
            case "checkpoint":
                Log.LogMessage(MessageImportance.Normal, $"LoraKit: checkpoint at step {Str(e, "step")}: {Str(e, "path")}");
                break;
            case "done":
                Log.LogMessage(trial.Length > 0 ? MessageImportance.Normal : MessageImportance.High,
                    $"LoraKit: {trial}done: {Str(e, "steps")} steps, validation loss {Fixed(e, "val_loss")} (base {Fixed(e, "base_val_loss")}) in {Str(e, "seconds")} s" +
                    (Str(e, "output") is { } output && trial.Length == 0 ? $"; adapter in {output}" : ""));
                break;
            case "sweep":
                Log.LogMessage(MessageImportance.High,
                    $"LoraKit: sweep chose rank {Str(e, "chosen_rank")} (alpha {Str(e, "alpha")}): {Str(e, "reason")}; wrote {Str(e, "report")}, {Str(e, "plot")}, {Str(e, "lock")}");
                break;
            case "info":
                Log.LogMessage(MessageImportance.Normal, $"LoraKit: {Str(e, "message")}");
                break;
            default:
                Log.LogMessage(MessageImportance.Low, $"LoraKit: {line}");
                break;
        }
    }

    private void LogDiagnostic(string severity, string code, string message, string? file, long? line)
    {
        var where = file ?? (code == TrainingFailed && DatasetFile() is { } data && message.Contains(data) ? data : ProjectFileOrNode());
        var lineNumber = (int)(line ?? 0);
        switch (severity)
        {
            case "error":
                Log.LogError(Subcategory, code, null, where, lineNumber, 0, 0, 0, message);
                break;
            case "warning":
                Log.LogWarning(Subcategory, code, null, where, lineNumber, 0, 0, 0, message);
                break;
            default:
                Log.LogMessage(MessageImportance.High, $"LoraKit: {code}: {message}");
                break;
        }
    }

    /// <summary>The dataset as a full path when it is a file (not builtin).</summary>
    private string? DatasetFile()
    {
        if (string.IsNullOrEmpty(Dataset) || Dataset!.StartsWith("builtin", StringComparison.Ordinal)) return null;
        var full = Path.GetFullPath(Path.Combine(WorkingDirectory ?? Directory.GetCurrentDirectory(), Dataset));
        return File.Exists(full) ? full : null;
    }

    private string ProjectFileOrNode() => !string.IsNullOrEmpty(ProjectFile) ? ProjectFile! : BuildEngine?.ProjectFileOfTaskNode ?? "";

    private static string? Str(Dictionary<string, object?> e, string key) => e.TryGetValue(key, out var v) ? v switch
    {
        null => null,
        string s => s,
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        bool b => b ? "true" : "false",
        List<object?> list => string.Join(", ", list.Select(x => Convert.ToString(x, CultureInfo.InvariantCulture))),
        _ => Convert.ToString(v, CultureInfo.InvariantCulture),
    } : null;

    private static long? Num(Dictionary<string, object?> e, string key) => e.TryGetValue(key, out var v) && v is double d && !double.IsNaN(d) ? (long)d : null;

    private static string Fixed(Dictionary<string, object?> e, string key) =>
        e.TryGetValue(key, out var v) && v is double d ? d.ToString("0.0000", CultureInfo.InvariantCulture) : "?";
}
