using System;
using System.IO;
using System.Linq;
using LoraKit.Run;
using Xunit;
using Xunit.Sdk;

namespace LoraKit.Cli.Tests;

/// <summary>docs/cli.md is what the command line generates (<see cref="CliReference"/>); eng/docs.sh regenerates it.</summary>
public class CliReferenceTests
{
    [Fact]
    public void Docs_cli_md_is_the_reference_the_command_line_generates()
    {
        CliReference.Verify(Path.Combine(CliReference.RepositoryRoot(), "docs", "cli.md"), CliReference.Render(),
            accept: Environment.GetEnvironmentVariable(CliReference.AcceptVariable) == "1",
            ci: string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public void Train_and_sweep_list_every_row_of_the_run_contracts_option_table_with_its_description()
    {
        var reference = CliReference.Render();
        string Section(string command)
        {
            var start = reference.IndexOf($"\n## lorakit {command}\n", StringComparison.Ordinal);
            Assert.True(start >= 0, $"no section for lorakit {command}");
            var end = reference.IndexOf("\n## ", start + 1, StringComparison.Ordinal);
            return end < 0 ? reference[start..] : reference[start..end];
        }
        var train = Section("train");
        var sweep = Section("sweep");
        foreach (var option in TrainRequest.Options)
        {
            var description = option.Description.Replace("<", "&lt;", StringComparison.Ordinal).Replace(">", "&gt;", StringComparison.Ordinal);
            Assert.Contains($"| `{option.Name}`", train, StringComparison.Ordinal);
            Assert.Contains(description, train, StringComparison.Ordinal);
            if (option.TrainOnly) Assert.DoesNotContain($"| `{option.Name}`", sweep, StringComparison.Ordinal);
            else Assert.Contains($"| `{option.Name}`", sweep, StringComparison.Ordinal);
        }
        // The sweep's own options come first; the train section has nothing but the table's rows.
        Assert.Contains($"| `{SweepRequest.RanksOption}`", sweep, StringComparison.Ordinal);
        var trainRows = train.Split('\n').Count(l => l.StartsWith("| `-", StringComparison.Ordinal));
        Assert.Equal(TrainRequest.Options.Count, trainRows);
        // A default that depends on the base and data shows both: the general one and the builtin job's.
        var lr = TrainRequest.Option("--lr");
        var general = lr.ValueIn(TrainRequest.DefaultsFor("model_folder", "data.jsonl"));
        var builtin = lr.ValueIn(TrainRequest.DefaultsFor(TrainRequest.BuiltinSpec, TrainRequest.BuiltinSpec));
        Assert.NotEqual(general, builtin);
        Assert.Contains($"[default: {general}; on the builtin model and data: {builtin}]", train, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_command_of_the_command_line_has_a_section_and_an_index_row()
    {
        var reference = CliReference.Render();
        var root = LoraKitCli.CreateRoot(TextWriter.Null, TextWriter.Null);
        var commands = CliReference.Commands(root, root.Name).ToList();
        Assert.Contains(commands, c => c.Path == "lorakit export accelerate");
        foreach (var (path, command) in commands)
        {
            Assert.Contains($"\n## {path}\n", reference, StringComparison.Ordinal);
            Assert.Contains($"| [`{path}`](#{CliReference.Anchor(path)}) |", reference, StringComparison.Ordinal);
            foreach (var option in CliReference.Options(command))
                Assert.Contains($"| `{option.Name}`", reference, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void A_stale_file_fails_naming_the_line_and_the_regenerate_command_and_accepting_is_refused_on_CI()
    {
        var dir = Directory.CreateTempSubdirectory("lorakit-cli-reference-").FullName;
        var path = Path.Combine(dir, "cli.md");
        File.WriteAllText(path, "# CLI reference\n\nold line\n");

        var stale = Assert.Throws<FailException>(() => CliReference.Verify(path, "# CLI reference\n\nnew line\n", accept: false, ci: false));
        Assert.Contains("line 3", stale.Message, StringComparison.Ordinal);
        Assert.Contains("old line", stale.Message, StringComparison.Ordinal);
        Assert.Contains(CliReference.RegenerateCommand, stale.Message, StringComparison.Ordinal);

        var refused = Assert.Throws<FailException>(() => CliReference.Verify(path, "# CLI reference\n\nnew line\n", accept: true, ci: true));
        Assert.Contains("refused when CI=true", refused.Message, StringComparison.Ordinal);
        Assert.Equal("# CLI reference\n\nold line\n", File.ReadAllText(path));

        CliReference.Verify(path, "# CLI reference\n\nnew line\n", accept: true, ci: false);
        Assert.Equal("# CLI reference\n\nnew line\n", File.ReadAllText(path));
        Assert.Equal(new[] { path }, Directory.GetFiles(dir)); // no temporary file left behind
        CliReference.Verify(path, "# CLI reference\n\nnew line\n", accept: false, ci: false); // now equal: passes
        Directory.Delete(dir, recursive: true);
    }
}
