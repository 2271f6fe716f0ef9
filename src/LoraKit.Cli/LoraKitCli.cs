using System.CommandLine;
using System.IO;
using LoraKit.Cli.Commands;

namespace LoraKit.Cli;

/// <summary>Exit codes of every lorakit command.</summary>
public static class ExitCodes
{
    public const int Ok = 0;

    /// <summary>The command ran and found an error-severity rule violation (e.g. LORA1004).</summary>
    public const int RuleError = 1;

    /// <summary>Bad input: usage, unreadable or invalid files.</summary>
    public const int BadInput = 2;
}

/// <summary>The `lorakit` command line, runnable in-process for tests.</summary>
public static class LoraKitCli
{
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var root = new RootCommand("LoraKit: checked, typed LoRA fine-tuning for .NET.");
        root.Subcommands.Add(BudgetCommand.Create(stdout, stderr));
        root.Subcommands.Add(InspectCommand.Create(stdout, stderr));
        root.Subcommands.Add(MergeCommand.Create(stdout, stderr));
        root.Subcommands.Add(TrainCommand.Create(stdout, stderr));
        root.Subcommands.Add(SweepCommand.Create(stdout, stderr));
        root.Subcommands.Add(EvalCommand.Create(stdout, stderr));
        root.Subcommands.Add(GenerateCommand.Create(stdout, stderr));

        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var error in parse.Errors) stderr.WriteLine($"error: {error.Message}");
            stderr.WriteLine("Run 'lorakit --help' for usage.");
            return ExitCodes.BadInput;
        }
        return parse.Invoke(new InvocationConfiguration { Output = stdout, Error = stderr });
    }
}
