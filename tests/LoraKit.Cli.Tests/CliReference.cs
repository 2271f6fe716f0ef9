using System;
using System.Collections;
using System.CommandLine;
using System.CommandLine.Help;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using Xunit;

namespace LoraKit.Cli.Tests;

/// <summary>
/// docs/cli.md, rendered from the command line `lorakit` parses with (<see cref="LoraKitCli.CreateRoot"/>): every
/// command, argument and option with the description and default its --help shows. `train` and `sweep` build their
/// options from the run contract's table, <c>TrainRequest.Options</c>, so a row added there lands here.
/// </summary>
internal static class CliReference
{
    public const string AcceptVariable = "LORAKIT_ACCEPT_DOCS";

    /// <summary>The one command that rewrites docs/cli.md (eng/docs.sh runs the test with <see cref="AcceptVariable"/>=1).</summary>
    public const string RegenerateCommand = "eng/docs.sh";

    public static string Render()
    {
        var root = LoraKitCli.CreateRoot(TextWriter.Null, TextWriter.Null);
        var md = new StringBuilder();
        md.Append("# CLI reference\n\n");
        md.Append("<!-- Generated from the lorakit command line by tests/LoraKit.Cli.Tests/CliReferenceTests.cs; do not edit. ")
          .Append("Regenerate with ").Append(RegenerateCommand).Append(". -->\n\n");
        md.Append('`').Append(root.Name).Append("` — ").Append(Escape(root.Description)).Append(" What each command does and writes: ")
          .Append("[Using the CLI](commands.md). `train` and `sweep` take the options of the run contract, `TrainRequest.Options` ")
          .Append("(`src/LoraKit.Core/Run/TrainRequest.cs`), which the MSBuild task and the sweep's trials pass on too. ")
          .Append("Every command takes `-h`, `--help`; `").Append(root.Name).Append(" --version` prints the version.\n\n");
        md.Append("| command | what |\n|---|---|\n");
        foreach (var (path, command) in Commands(root, root.Name))
            md.Append("| [`").Append(path).Append("`](#").Append(Anchor(path)).Append(") | ").Append(Escape(command.Description)).Append(" |\n");
        foreach (var (path, command) in Commands(root, root.Name)) RenderCommand(md, path, command);
        return md.ToString();
    }

    /// <summary>Every visible command below <paramref name="parent"/>, depth first, in the order they were added.</summary>
    public static System.Collections.Generic.IEnumerable<(string Path, Command Command)> Commands(Command parent, string parentPath)
    {
        foreach (var command in parent.Subcommands.Where(c => !c.Hidden))
        {
            var path = parentPath + " " + command.Name;
            yield return (path, command);
            foreach (var child in Commands(command, path)) yield return child;
        }
    }

    /// <summary>The options a command shows in its reference: its own, without help and version (listed once at the top).</summary>
    public static System.Collections.Generic.IEnumerable<Option> Options(Command command) =>
        command.Options.Where(o => !o.Hidden && o is not HelpOption && o is not VersionOption);

    private static void RenderCommand(StringBuilder md, string path, Command command)
    {
        md.Append("\n## ").Append(path).Append("\n\n").Append(Escape(command.Description)).Append("\n\n```\n").Append(path);
        foreach (var argument in command.Arguments.Where(a => !a.Hidden)) md.Append(" <").Append(argument.HelpName ?? argument.Name).Append('>');
        if (Options(command).Any()) md.Append(" [options]");
        if (command.Subcommands.Any(c => !c.Hidden)) md.Append(" <command>");
        md.Append("\n```\n");
        if (command.Arguments.Any(a => !a.Hidden))
        {
            md.Append("\n| argument | description |\n|---|---|\n");
            foreach (var argument in command.Arguments.Where(a => !a.Hidden))
                md.Append("| `").Append(argument.HelpName ?? argument.Name).Append("` | ").Append(Escape(argument.Description)).Append(" |\n");
        }
        if (Options(command).Any())
        {
            md.Append("\n| option | value | description |\n|---|---|---|\n");
            foreach (var option in Options(command))
            {
                var names = new[] { option.Name }.Concat(option.Aliases.OrderBy(a => a, StringComparer.Ordinal)).Select(n => "`" + n + "`");
                md.Append("| ").Append(string.Join(", ", names)).Append(" | ").Append(Value(option)).Append(" | ")
                  .Append(Escape(option.Description)).Append(Default(option)).Append(option.Required ? " (required)" : "").Append(" |\n");
            }
        }
        if (command.Subcommands.Any(c => !c.Hidden))
            md.Append("\nCommands: ").Append(string.Join(", ", command.Subcommands.Where(c => !c.Hidden)
                .Select(c => $"[`{path} {c.Name}`](#{Anchor(path + " " + c.Name)})"))).Append(".\n");
    }

    /// <summary>What an option takes: nothing for a flag, else its help name or its value type.</summary>
    private static string Value(Option option)
    {
        var type = Nullable.GetUnderlyingType(option.ValueType) ?? option.ValueType;
        if (type == typeof(bool)) return "flag";
        var repeatable = type != typeof(string) && typeof(IEnumerable).IsAssignableFrom(type);
        var name = option.HelpName ?? (repeatable ? type.GetElementType()?.Name : type.Name)?.ToLowerInvariant() switch
        {
            "string" => "text",
            "int32" or "int64" => "integer",
            "double" or "single" => "number",
            var other => other,
        };
        return "`<" + name + ">`" + (repeatable ? " (repeatable)" : "");
    }

    /// <summary>The default --help shows for an option with a default value factory (train and sweep write theirs into the description).</summary>
    private static string Default(Option option)
    {
        if (!option.HasDefaultValue) return "";
        var value = option.GetDefaultValue();
        var text = value switch
        {
            null => null,
            bool b => b ? "true" : null,
            string s => s.Length == 0 ? null : s,
            IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
            IEnumerable e => string.Join(",", e.Cast<object>()),
            _ => value.ToString(),
        };
        return text is null ? "" : $" [default: {Escape(text)}]";
    }

    /// <summary>GitHub's heading anchor: lower case, spaces to hyphens, other punctuation dropped.</summary>
    public static string Anchor(string heading) =>
        new string(heading.ToLowerInvariant().Where(c => char.IsLetterOrDigit(c) || c is ' ' or '-' or '_').ToArray()).Replace(' ', '-');

    /// <summary>Text safe in a table cell: pipes escaped, angle brackets as entities (GitHub would read &lt;folder&gt; as HTML).</summary>
    private static string Escape(string? text) =>
        (text ?? "").Replace("|", "\\|", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal)
            .Replace(">", "&gt;", StringComparison.Ordinal).Replace("\r", "", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);

    /// <summary>The repository root (the folder holding Toolchain.sln above the test's output).</summary>
    public static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Toolchain.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("Toolchain.sln not found above " + AppContext.BaseDirectory);
    }

    /// <summary>
    /// Compares <paramref name="actual"/> with the committed file; on a difference fails naming the first differing
    /// line and the command that regenerates it, or — when <paramref name="accept"/> and not <paramref name="ci"/> —
    /// writes it (atomically: a temporary sibling renamed over it).
    /// </summary>
    public static void Verify(string path, string actual, bool accept, bool ci)
    {
        var expected = File.Exists(path) ? File.ReadAllText(path).Replace("\r\n", "\n", StringComparison.Ordinal) : null;
        if (expected == actual) return;
        if (accept && !ci)
        {
            var temp = path + ".tmp";
            File.WriteAllText(temp, actual, new UTF8Encoding(false));
            File.Move(temp, path, overwrite: true);
            return;
        }
        var where = expected is null ? "it does not exist" : FirstDifference(expected, actual);
        Assert.Fail($"{path} is not what the lorakit command line generates ({where}). " +
                    (accept ? $"{AcceptVariable}=1 is refused when CI=true; regenerate it outside CI with {RegenerateCommand} and commit it."
                            : $"Regenerate it with {RegenerateCommand}, review the diff and commit it."));
    }

    private static string FirstDifference(string expected, string actual)
    {
        var e = expected.Split('\n');
        var a = actual.Split('\n');
        var i = 0;
        while (i < e.Length && i < a.Length && e[i] == a[i]) i++;
        return $"line {i + 1}: the file has \"{(i < e.Length ? e[i] : "<end>")}\", the command line gives \"{(i < a.Length ? a[i] : "<end>")}\"";
    }
}
