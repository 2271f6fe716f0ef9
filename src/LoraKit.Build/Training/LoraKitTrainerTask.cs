using System.IO;
using System.Runtime.InteropServices;
using LoraKit.Rules;
using LoraKit.Run;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

namespace LoraKit.Build.Training;

/// <summary>
/// Runs `lorakit train` or `lorakit sweep` as its own process (TorchSharp never loads into MSBuild) through
/// <see cref="ToolTask"/>, which quotes the command line, reads the output, sets the environment, and on
/// cancellation kills the trainer's process tree (its checkpoints are atomic, so the last one stays usable).
/// The task's parameters fill a <see cref="TrainRequest"/> (the run contract shared with the CLI); the
/// trainer's `--events json` lines are read back with <see cref="TrainingEventJson"/> and become build output:
/// progress as messages, LORA3xxx diagnostics as warnings and errors with their code, file and line.
/// </summary>
public sealed class LoraKitTrainerTask : ToolTask
{
    public const string Subcategory = "LoraKit";
    private const int TailLines = 5;

    private readonly Queue<string> _otherOutput = new();
    private volatile bool _cancelled;

    /// <summary>train or sweep.</summary>
    [Required]
    public string Command { get; set; } = "";

    /// <summary>The trainer: LoraKit.Cli.dll (run with the dotnet host) or an executable.</summary>
    [Required]
    public string TrainerPath { get; set; } = "";

    /// <summary>Arguments before the command (e.g. a script for an interpreter given as <see cref="TrainerPath"/>).</summary>
    public string[] TrainerArguments { get; set; } = Array.Empty<string>();

    /// <summary>The dotnet host for a .dll trainer; default DOTNET_HOST_PATH (set by the dotnet CLI), else `dotnet` on PATH.</summary>
    public string? DotNetHost { get; set; }

    // Each of these maps onto the TrainRequest option named beside it (TrainRequest.Options parses the text).
    public string? AdapterAssembly { get; set; }   // --adapter-assembly
    public string? Adapter { get; set; }           // --adapter
    public string? BaseModel { get; set; }         // --base
    public string? Dataset { get; set; }           // --data
    public string? Device { get; set; }            // --device
    public string? OutputDir { get; set; }         // --out
    public string? Epochs { get; set; }            // --epochs
    public string? MaxSteps { get; set; }          // --max-steps
    public string? Quantize { get; set; }          // --quantize (LoraKitQuantize: none or nf4)
    public string? GradientCheckpointing { get; set; } // --gradient-checkpointing (LoraKitGradientCheckpointing: true, false or offload)

    /// <summary>Sweep only: share of the training data per trial (--fraction).</summary>
    public string? SweepFraction { get; set; }

    /// <summary>Sweep only: ranks as an MSBuild list (4;8;16).</summary>
    public string? SweepRanks { get; set; }

    /// <summary>Sweep only: the lock file to write.</summary>
    public string? LockFile { get; set; }

    /// <summary>Further trainer options, one argument per item.</summary>
    public string[] AdditionalArguments { get; set; } = Array.Empty<string>();

    /// <summary>Folders holding the backend's native libraries (libtorch, LibTorchSharp) for the trainer to load.</summary>
    public string[] NativeSearchPaths { get; set; } = Array.Empty<string>();

    public string? WorkingDirectory { get; set; }

    /// <summary>The file diagnostics point at when the trainer names none; default the project.</summary>
    public string? ProjectFile { get; set; }

    protected override string ToolName => "lorakit";

    // Progress arrives as events; plain lines are logged (and kept for the failure message) by LogEventsFromTextOutput.
    protected override MessageImportance StandardOutputLoggingImportance => MessageImportance.Normal;
    protected override MessageImportance StandardErrorLoggingImportance => MessageImportance.Normal;

    private bool IsDll => TrainerPath.EndsWith(".dll", StringComparison.OrdinalIgnoreCase);

    public override bool Execute()
    {
        var natives = NativeSearchPaths.Where(p => !string.IsNullOrEmpty(p)).ToList();
        if (natives.Count > 0)
        {
            var variable = RuntimeInformation.IsOSPlatform(OSPlatform.Windows) ? "PATH"
                : RuntimeInformation.IsOSPlatform(OSPlatform.OSX) ? "DYLD_LIBRARY_PATH" : "LD_LIBRARY_PATH";
            var existing = Environment.GetEnvironmentVariable(variable);
            var value = string.Join(Path.PathSeparator.ToString(), natives.Concat(string.IsNullOrEmpty(existing) ? Array.Empty<string>() : new[] { existing! }));
            EnvironmentVariables = (EnvironmentVariables ?? Array.Empty<string>()).Append($"{variable}={value}").ToArray();
        }
        var ok = base.Execute();
        if (_cancelled) Log.LogMessage(MessageImportance.High, "LoraKit: the build was cancelled; the trainer was stopped (its last checkpoint is complete).");
        return ok && !Log.HasLoggedErrors;
    }

    public override void Cancel()
    {
        _cancelled = true;
        base.Cancel();
    }

    /// <summary>The command is train or sweep and every parameter parses as its option (LORA1008 naming the property otherwise).</summary>
    protected override bool ValidateParameters()
    {
        string? problem = null;
        if (Command is not ("train" or "sweep")) problem = $"LoraKitTrainerTask: Command must be train or sweep, not '{Command}'.";
        else
        {
            try
            {
                TrainerCommandLine();
            }
            catch (InvalidParameterException e)
            {
                problem = e.Message;
            }
        }
        if (problem is null) return base.ValidateParameters();
        Log.LogError(Subcategory, DiagnosticIds.InvalidConfiguration, null, ProjectFileOrNode(), 0, 0, 0, 0, problem);
        return false;
    }

    protected override string GenerateFullPathToTool() => IsDll ? DotNetHostPath() : TrainerPath;

    protected override string? GetWorkingDirectory() => string.IsNullOrEmpty(WorkingDirectory) ? null : WorkingDirectory;

    protected override string GenerateCommandLineCommands()
    {
        var builder = new CommandLineBuilder();
        var args = new List<string>();
        if (IsDll) args.Add(TrainerPath);
        args.AddRange(TrainerArguments);
        args.AddRange(TrainerCommandLine());
        foreach (var arg in args) builder.AppendSwitchIfNotNull("", arg);
        return builder.ToString();
    }

    /// <summary>
    /// The arguments as given: ToolTask's default on Unix turns every backslash into a slash (for Windows-style paths
    /// in project files), which would change option values such as a file name that contains one.
    /// </summary>
    protected override string AdjustCommandsForOperatingSystem(string input) => input;

    /// <summary>The command line for tests: what <see cref="ToolTask"/> passes to <see cref="GenerateFullPathToTool"/>'s program.</summary>
    internal string CommandLine => GenerateCommandLineCommands();

    /// <summary>The trainer's command and options: the task's parameters as a <see cref="TrainRequest"/> (or <see cref="SweepRequest"/>), then <see cref="AdditionalArguments"/>.</summary>
    internal IReadOnlyList<string> TrainerCommandLine()
    {
        var baseModel = Given(BaseModel) ?? TrainRequest.BuiltinSpec;
        var data = Given(Dataset) ?? TrainRequest.BuiltinSpec;
        var sweep = Command == "sweep";
        var train = sweep ? TrainRequest.SweepDefaultsFor(baseModel, data) : TrainRequest.DefaultsFor(baseModel, data);
        train.Events = TrainRequest.EventsJson;
        Set(train, "--adapter-assembly", nameof(AdapterAssembly), AdapterAssembly);
        Set(train, "--adapter", nameof(Adapter), Adapter);
        Set(train, "--device", nameof(Device), Device);
        Set(train, "--out", nameof(OutputDir), OutputDir);
        Set(train, "--epochs", nameof(Epochs), Epochs);
        Set(train, "--max-steps", nameof(MaxSteps), MaxSteps);
        Set(train, "--quantize", nameof(Quantize), Quantize);
        Set(train, "--gradient-checkpointing", nameof(GradientCheckpointing), GradientCheckpointing);
        IReadOnlyList<string> args;
        if (sweep)
        {
            Set(train, "--fraction", nameof(SweepFraction), SweepFraction);
            var request = new SweepRequest { Train = train };
            if (Given(SweepRanks) is { } ranks) request.Ranks = Parse(nameof(SweepRanks), () => SweepRequest.ParseRanks(ranks));
            if (Given(LockFile) is { } lockFile) request.LockFile = lockFile;
            args = request.ToArguments();
        }
        else args = train.ToArguments();
        return args.Concat(AdditionalArguments.Where(a => !string.IsNullOrEmpty(a))).ToList();
    }

    private static string? Given(string? value) => string.IsNullOrWhiteSpace(value) ? null : value!.Trim();

    private static void Set(TrainRequest request, string option, string parameter, string? value)
    {
        if (Given(value) is { } text) Parse(parameter, () => TrainRequest.Option(option).Apply(request, text));
    }

    private static void Parse(string parameter, Action apply) => Parse(parameter, () => { apply(); return 0; });

    private static T Parse<T>(string parameter, Func<T> parse)
    {
        try
        {
            return parse();
        }
        catch (ArgumentException e)
        {
            throw new InvalidParameterException($"LoraKit{parameter}: {e.Message}");
        }
    }

    /// <summary>One line of the trainer's stdout or stderr: an event becomes build output; anything else a message, kept for a failure.</summary>
    protected override void LogEventsFromTextOutput(string singleLine, MessageImportance messageImportance)
    {
        TrainingEvent? e;
        try
        {
            if (!TrainingEventJson.TryRead(singleLine, out e)) e = null;
        }
        catch (FormatException problem)
        {
            Log.LogMessage(MessageImportance.Normal, $"LoraKit: an event the task cannot read ({problem.Message}): {singleLine}");
            return;
        }
        if (e is null)
        {
            if (singleLine.Trim().Length == 0) return;
            _otherOutput.Enqueue(singleLine);
            if (_otherOutput.Count > TailLines) _otherOutput.Dequeue();
            Log.LogMessage(messageImportance, $"LoraKit: {singleLine}");
            return;
        }
        Handle(e);
    }

    private void Handle(TrainingEvent e)
    {
        if (e is DiagnosticEvent diagnostic)
        {
            LogDiagnostic(diagnostic);
            return;
        }
        var trial = e.TrialRank is { } rank ? $"[rank {rank} trial] " : "";
        var (importance, text) = e switch
        {
            StartEvent s => (MessageImportance.Normal,
                $"{trial}training {s.Adapter} r={s.Rank}, alpha={Number(s.Alpha)}, targets {string.Join(", ", s.Targets)}: " +
                $"{s.TrainableParameters} trainable parameters, {s.TotalSteps} steps on {s.Device}; base validation loss {Fixed(s.BaseValidationLoss)}"),
            StepEvent s => (s.Step == s.TotalSteps || s.Step % Math.Max(1, s.TotalSteps / 10) == 0 ? MessageImportance.Normal : MessageImportance.Low,
                $"step {s.Step}/{s.TotalSteps} loss {Fixed(s.Loss)}, {Number(s.TokensPerSecond)} tokens/s"),
            EvalEvent v => (MessageImportance.Normal, $"{trial}step {v.Step}: validation loss {Fixed(v.ValidationLoss)} (base {Fixed(v.BaseValidationLoss)})"),
            CheckpointEvent c => (MessageImportance.Normal, $"checkpoint at step {c.Step}: {c.Path}"),
            DoneEvent d => (trial.Length > 0 ? MessageImportance.Normal : MessageImportance.High,
                $"{trial}done: {d.Steps} steps, validation loss {Fixed(d.ValidationLoss)} (base {Fixed(d.BaseValidationLoss)}) in {Number(d.Seconds)} s" +
                (trial.Length == 0 ? $"; adapter in {d.Output}" : "")),
            SweepEvent s => (MessageImportance.High, $"sweep chose rank {s.ChosenRank} (alpha {Number(s.Alpha)}): {s.Reason}; wrote {s.Report}, {s.Plot}, {s.Lock}"),
            InfoEvent i => (MessageImportance.Normal, i.Message),
            SchedulerEvent c => (MessageImportance.Normal, trial + c.Message),
            _ => (MessageImportance.Low, TrainingEventJson.Write(e)),
        };
        Log.LogMessage(importance, $"LoraKit: {text}");
    }

    private void LogDiagnostic(DiagnosticEvent d)
    {
        var file = d.File ?? ProjectFileOrNode();
        var line = d.Line ?? 0;
        var message = d.TrialRank is { } rank ? $"rank {rank} trial: {d.Message}" : d.Message;
        switch (d.Severity)
        {
            case EventSeverity.Error:
                Log.LogError(Subcategory, d.Code, null, file, line, 0, 0, 0, message);
                break;
            case EventSeverity.Warning:
                Log.LogWarning(Subcategory, d.Code, null, file, line, 0, 0, 0, message);
                break;
            default:
                Log.LogMessage(MessageImportance.High, $"LoraKit: {d.Code}: {message}");
                break;
        }
    }

    /// <summary>A non-zero exit: LORA3001 with the trainer's last plain lines, unless the trainer already reported an error.</summary>
    protected override bool HandleTaskExecutionErrors()
    {
        if (!Log.HasLoggedErrors)
        {
            var detail = _otherOutput.Count > 0 ? ": " + string.Join(" ", _otherOutput) : "";
            Log.LogError(Subcategory, DiagnosticIds.TrainingFailed, null, ProjectFileOrNode(), 0, 0, 0, 0, $"lorakit {Command} exited with code {ExitCode}{detail}");
        }
        return false;
    }

    private string DotNetHostPath()
    {
        if (!string.IsNullOrEmpty(DotNetHost)) return DotNetHost!;
        if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host) return host;
        var name = RuntimeInformation.IsOSPlatform(OSPlatform.Windows) ? "dotnet.exe" : "dotnet";
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator))
        {
            if (dir.Length == 0) continue;
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate)) return candidate;
        }
        return name;
    }

    private string ProjectFileOrNode() => !string.IsNullOrEmpty(ProjectFile) ? ProjectFile! : BuildEngine?.ProjectFileOfTaskNode ?? "";

    private static string Fixed(double v) => v.ToString("0.0000", System.Globalization.CultureInfo.InvariantCulture);

    private static string Number(double v) => v.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture);

    private sealed class InvalidParameterException : Exception
    {
        public InvalidParameterException(string message) : base(message)
        {
        }
    }
}
