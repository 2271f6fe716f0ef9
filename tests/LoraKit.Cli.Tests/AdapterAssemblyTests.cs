using System;
using System.IO;
using System.Linq;
using System.Text.Json;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Xunit;

namespace LoraKit.Cli.Tests;

/// <summary>
/// `lorakit train --adapter-assembly`: the adapter comes from the user's compiled code. The test compiles an
/// assembly that registers its descriptor by hand in a [ModuleInitializer], as the source generator will.
/// </summary>
public class AdapterAssemblyTests
{
    private static string CompileUserAssembly(string dir, string assemblyName)
    {
        var source = """
            using System.Runtime.CompilerServices;
            using LoraKit;

            namespace UserApp;

            public sealed class DateAdapter { }
            public sealed class OtherAdapter { }
            public sealed class QLoraAdapter { }

            internal static class Registration
            {
                [ModuleInitializer]
                internal static void Register()
                {
                    LoraAdapterRegistry.Register(new LoraAdapterDescriptor("DateAdapter", "UserApp.DateAdapter", "UserApp.Tiny", typeof(DateAdapter),
                        () => new LoraConfig { Rank = 4, Alpha = 8, Dropout = 0.1, TargetModules = new[] { "q_proj", "k_proj" } }, 0, 0));
                    LoraAdapterRegistry.Register(new LoraAdapterDescriptor("OtherAdapter", "UserApp.OtherAdapter", "UserApp.Tiny", typeof(OtherAdapter),
                        () => new LoraConfig { Rank = 2, Alpha = 4 }, 0, 0));
                    // As the generator registers [LoraAdapter(…, Quantize = LoraQuantization.Nf4)].
                    LoraAdapterRegistry.Register(new LoraAdapterDescriptor("QLoraAdapter", "UserApp.QLoraAdapter", "UserApp.Tiny", typeof(QLoraAdapter),
                        () => new LoraConfig { Rank = 2, Alpha = 4 }, 0, 0) { Quantize = LoraQuantization.Nf4 });
                }
            }
            """.Replace("UserApp", assemblyName);
        var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Where(p => Path.GetFileName(p).StartsWith("System.", StringComparison.Ordinal) || Path.GetFileName(p) is "netstandard.dll" or "LoraKit.Core.dll")
            .Select(p => MetadataReference.CreateFromFile(p));
        var compilation = CSharpCompilation.Create(assemblyName, new[] { CSharpSyntaxTree.ParseText(source) }, references,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary));
        var path = Path.Combine(dir, assemblyName + ".dll");
        var result = compilation.Emit(path);
        Assert.True(result.Success, string.Join("\n", result.Diagnostics));
        return path;
    }

    [Fact]
    public void Train_takes_rank_alpha_dropout_and_targets_from_the_registered_descriptor()
    {
        var (b, d, root) = TrainSweepCommandTests.Fixture();
        var assembly = CompileUserAssembly(root, "UserAppA" + Guid.NewGuid().ToString("N")[..8]);
        var outDir = Path.Combine(root, "out");
        var r = CliRunner.Run("train", "--adapter-assembly", assembly, "--adapter", "DateAdapter", "--base", b, "--data", d, "--out", outDir,
            "--max-steps", "2", "--seq-len", "16", "--pad", "--device", "cpu", "--events", "json");
        Assert.True(r.ExitCode == 0, r.Out + r.Err);
        var start = r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement)
            .Single(e => e.GetProperty("event").GetString() == "start");
        Assert.Equal(4, start.GetProperty("rank").GetInt32());
        Assert.Equal(8, start.GetProperty("alpha").GetDouble());
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "adapter_config.json")));
        Assert.Equal(4, config.RootElement.GetProperty("r").GetInt32());
        Assert.Equal(8, config.RootElement.GetProperty("lora_alpha").GetDouble());
        Assert.Equal(0.1, config.RootElement.GetProperty("lora_dropout").GetDouble());
        Assert.Equal(new[] { "k_proj", "q_proj" }, config.RootElement.GetProperty("target_modules").EnumerateArray().Select(t => t.GetString()).OrderBy(t => t));
    }

    [Fact]
    public void A_Quantize_set_on_the_adapter_wins_over_the_quantize_option_and_an_unset_one_leaves_it()
    {
        var root = Path.Combine(Path.GetTempPath(), "lorakit-cli-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(root);
        var assembly = CompileUserAssembly(root, "UserAppQ" + Guid.NewGuid().ToString("N")[..8]);
        Commands.TrainSetup Setup(string adapter, string quantize)
        {
            var request = LoraKit.Run.TrainRequest.DefaultsFor("models/tiny", "data.jsonl");
            request.AdapterAssembly = assembly;
            request.Adapter = adapter;
            request.Quantize = quantize;
            return new Commands.TrainSetup(request);
        }
        // The analyzers' LORA1006 estimate uses the same order: the attribute, then LoraKitQuantize/--quantize.
        var overridden = Setup("QLoraAdapter", "none");
        Assert.Equal("nf4", overridden.Request.Quantize);
        // …and the change is said, naming the adapter, both values and where to change it.
        Assert.Contains("QLoraAdapter", overridden.QuantizeOverride);
        Assert.Contains("--quantize nf4, not none", overridden.QuantizeOverride);
        Assert.Null(Setup("QLoraAdapter", "nf4").QuantizeOverride);
        Assert.Equal("nf4", Setup("DateAdapter", "nf4").Request.Quantize);
        Assert.Equal("none", Setup("DateAdapter", "none").Request.Quantize);
        Assert.Null(Setup("DateAdapter", "none").QuantizeOverride);
    }

    [Fact]
    public void An_unknown_or_missing_adapter_name_is_bad_input_that_lists_the_registered_adapters()
    {
        var (b, d, root) = TrainSweepCommandTests.Fixture();
        var name = "UserAppB" + Guid.NewGuid().ToString("N")[..8];
        var assembly = CompileUserAssembly(root, name);

        var unknown = CliRunner.Run("train", "--adapter-assembly", assembly, "--adapter", "NoSuchAdapter", "--base", b, "--data", d, "--device", "cpu");
        Assert.Equal(2, unknown.ExitCode);
        Assert.Contains("--adapter NoSuchAdapter: no such adapter", unknown.Err);
        Assert.Contains($"{name}.DateAdapter, {name}.OtherAdapter", unknown.Err);

        var unnamed = CliRunner.Run("train", "--adapter-assembly", assembly, "--base", b, "--data", d, "--device", "cpu");
        Assert.Equal(2, unnamed.ExitCode);
        Assert.Contains("name the adapter with --adapter", unnamed.Err);

        var missing = CliRunner.Run("train", "--adapter-assembly", Path.Combine(root, "absent.dll"), "--adapter", "DateAdapter", "--base", b, "--data", d);
        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("does not exist; build the project first", missing.Err);
    }
}
