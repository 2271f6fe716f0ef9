using System.CommandLine;
using System.Reflection;
using System.CommandLine.Help;
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

    /// <summary>
    /// A failure LoraKit did not foresee (a bug): one "error:" line naming the exception, never a stack trace unless
    /// LORAKIT_STACKTRACE=1. 70 is EX_SOFTWARE of sysexits.h.
    /// </summary>
    public const int InternalError = 70;
}

/// <summary>The `lorakit` command line, runnable in-process for tests.</summary>
public static class LoraKitCli
{
    /// <summary>The command's name where it is installed (a .NET tool: ToolCommandName in LoraKit.Cli.csproj).</summary>
    public static readonly string CommandName = typeof(LoraKitCli).Assembly.GetCustomAttributes(typeof(AssemblyMetadataAttribute), false)
        .Cast<AssemblyMetadataAttribute>().Single(a => a.Key == "ToolCommandName").Value!;

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var parse = CreateRoot(stdout, stderr).Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var error in parse.Errors) stderr.WriteLine($"error: {error.Message}");
            stderr.WriteLine($"Run '{CommandName} --help' for usage.");
            return ExitCodes.BadInput;
        }
        try
        {
            return parse.Invoke(new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false });
        }
        catch (Exception e)
        {
            // Every expected failure is handled inside its command (exit 1 or 2); this is the last line of defence.
            var inner = e is System.Reflection.TargetInvocationException { InnerException: { } x } ? x : e;
            stderr.WriteLine($"error: unexpected {inner.GetType().Name}: {inner.Message.Split('\n')[0].TrimEnd()} " +
                             "(this is a LoraKit bug: please report it with the command line; LORAKIT_STACKTRACE=1 prints the stack)");
            if (Environment.GetEnvironmentVariable("LORAKIT_STACKTRACE") == "1") stderr.WriteLine(inner);
            return ExitCodes.InternalError;
        }
    }

    /// <summary>Every command and option of `lorakit` (what --help shows and docs/cli.md is generated from), writing to the given streams.</summary>
    public static Command CreateRoot(TextWriter stdout, TextWriter stderr)
    {
        // A named root rather than RootCommand, whose name is the entry assembly's (LoraKit.Cli): help and usage say `lorakit`.
        var root = new Command(CommandName, "LoraKit: checked, typed LoRA fine-tuning for .NET.") { new HelpOption(), new VersionOption() };
        root.Subcommands.Add(BudgetCommand.Create(stdout, stderr));
        root.Subcommands.Add(InspectCommand.Create(stdout, stderr));
        root.Subcommands.Add(MergeCommand.Create(stdout, stderr));
        root.Subcommands.Add(QuantizeCommand.Create(stdout, stderr));
        root.Subcommands.Add(TrainCommand.Create(stdout, stderr));
        root.Subcommands.Add(SweepCommand.Create(stdout, stderr));
        root.Subcommands.Add(ExportCommand.Create(stdout, stderr));
        root.Subcommands.Add(EvalCommand.Create(stdout, stderr));
        root.Subcommands.Add(GenerateCommand.Create(stdout, stderr));
        return root;
    }
}
