using System;
using System.Collections.Generic;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Text.Json;
using Xunit;

namespace LoraKit.Build.Tests;

/// <summary>
/// The LoraKit package packed fresh for this test run (a unique prerelease version, so no stale global-cache
/// entry is ever used), consumed by user projects in their own temporary folders with their own NuGet.config
/// (the fresh local feed plus the normal feed for TorchSharp and friends, which restore from the global cache).
/// </summary>
public sealed class PackedLoraKit : IDisposable
{
#if DEBUG
    private const string Configuration = "Debug";
#else
    private const string Configuration = "Release";
#endif

    public string Version { get; } = "0.1.0-test." + DateTime.UtcNow.ToString("yyyyMMddHHmmss", System.Globalization.CultureInfo.InvariantCulture) + Environment.ProcessId;
    public string Feed { get; } = TestEnvironment.TempFolder();

    private readonly System.Collections.Concurrent.ConcurrentBag<string> _folders = new();

    /// <summary>A fresh folder this fixture deletes when the collection is done (user projects hold ~1 GB of libtorch each).</summary>
    public string NewFolder()
    {
        var dir = TestEnvironment.TempFolder();
        _folders.Add(dir);
        return dir;
    }
    public string Package => Path.Combine(Feed, $"LoraKit.{Version}.nupkg");
    public TimeSpan PackTime { get; }

    public PackedLoraKit()
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var project = Path.Combine(TestEnvironment.RepoRoot, "src", "LoraKit.Build", "LoraKit.Build.csproj");
        var pack = ProcessRunner.Run("dotnet", $"pack \"{project}\" -c {Configuration} -nologo -v:q -p:PackageVersion={Version} -o \"{Feed}\"",
            TestEnvironment.RepoRoot, TimeSpan.FromMinutes(10));
        if (pack.ExitCode != 0 || !File.Exists(Package)) throw new InvalidOperationException("dotnet pack failed:\n" + pack.Output);
        PackTime = clock.Elapsed;
    }

    /// <summary>The template pack, packed into the same feed and installed into a private hive (once, on first use).</summary>
    public Lazy<string> TemplateHive => _templateHive ??= new Lazy<string>(() =>
    {
        var project = Path.Combine(TestEnvironment.RepoRoot, "templates", "LoraKit.Templates", "LoraKit.Templates.csproj");
        var pack = ProcessRunner.Run("dotnet", $"pack \"{project}\" -c {Configuration} -nologo -v:q -p:PackageVersion={Version} -o \"{Feed}\"",
            TestEnvironment.RepoRoot, TimeSpan.FromMinutes(5));
        var nupkg = Path.Combine(Feed, $"LoraKit.Templates.{Version}.nupkg");
        if (pack.ExitCode != 0 || !File.Exists(nupkg)) throw new InvalidOperationException("template pack failed:\n" + pack.Output);
        var hive = NewFolder();
        var install = ProcessRunner.Run("dotnet", $"new install \"{nupkg}\" --debug:custom-hive \"{hive}\"", Feed, TimeSpan.FromMinutes(2));
        if (install.ExitCode != 0) throw new InvalidOperationException("template install failed:\n" + install.Output);
        return hive;
    }, System.Threading.LazyThreadSafetyMode.ExecutionAndPublication);

    private Lazy<string>? _templateHive;

    /// <summary>A user project from the template's project file (src/LoraKit.Build/snippets), in its own folder.</summary>
    public string CreateProject(int rank, double alpha)
    {
        var dir = NewFolder();
        PrepareFolder(dir);
        var snippet = File.ReadAllText(Path.Combine(TestEnvironment.RepoRoot, "src", "LoraKit.Build", "snippets", "LoraKitApp.csproj"));
        File.WriteAllText(Path.Combine(dir, "App.csproj"), snippet.Replace("LORAKIT_VERSION", Version));
        WriteAdapter(dir, rank, alpha);
        File.WriteAllText(Path.Combine(dir, "Program.cs"), "System.Console.WriteLine(LoraKit.LoraAdapterRegistry.All.Count);\n");
        return dir;
    }

    /// <summary>Isolates a user-project folder from this repository's build files and points NuGet at the fresh feed.</summary>
    public void PrepareFolder(string dir)
    {
        Directory.CreateDirectory(dir);
        // Nothing above the temp folder may leak in.
        File.WriteAllText(Path.Combine(dir, "Directory.Build.props"), "<Project />");
        File.WriteAllText(Path.Combine(dir, "Directory.Build.targets"), "<Project />");
        File.WriteAllText(Path.Combine(dir, "Directory.Packages.props"), "<Project />");
        File.WriteAllText(Path.Combine(dir, "NuGet.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
                <add key="lorakit-local" value="{Feed}" />
                <add key="nuget.org" value="https://api.nuget.org/v3/index.json" />
              </packageSources>
            </configuration>
            """);
    }

    /// <summary>The adapter as the user writes it; the package's source generator completes and registers it.</summary>
    public static void WriteAdapter(string dir, int rank, double alpha)
    {
        var a = alpha.ToString(System.Globalization.CultureInfo.InvariantCulture);
        File.WriteAllText(Path.Combine(dir, "Adapters.cs"), $$"""
            using LoraKit;

            [LoraModel(LoraArchitecture.Llama, HiddenSize = 256, IntermediateSize = 688, Layers = 4, AttentionHeads = 4, KeyValueHeads = 2, VocabSize = 259)]
            public partial class BuiltinModel;

            [LoraAdapter(typeof(BuiltinModel), Rank = {{rank}}, Alpha = {{a}}, Dropout = 0.05, TargetModules = new[] { "q_proj", "v_proj" })]
            public partial class DateAdapter;
            """);
    }

    internal static ProcessResult Dotnet(string dir, string arguments) =>
        ProcessRunner.Run("dotnet", arguments + " -nologo -nodeReuse:false -p:UseSharedCompilation=false", dir, TimeSpan.FromMinutes(10));

    public void Dispose()
    {
        // The unique test version must not pile up in the global packages folder.
        var packages = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } p ? p
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        var cached = Path.Combine(packages, "lorakit", Version);
        foreach (var dir in _folders.Append(Feed).Append(cached).Append(Path.Combine(packages, "lorakit.templates", Version)))
        {
            try
            {
                if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
    }
}

/// <summary>
/// End to end through the packed package: `dotnet build` of user projects. Slow (minutes: a pack, restores,
/// CPU training of the builtin model), marked Category=EndToEnd, and part of the normal test run.
/// </summary>
/// <summary>One pack of LoraKit shared by every end-to-end class (packing takes ~25 s).</summary>
[CollectionDefinition(Name)]
public sealed class PackedLoraKitCollection : ICollectionFixture<PackedLoraKit>
{
    public const string Name = "packed LoraKit";
}

[Trait("Category", "EndToEnd")]
[Collection(PackedLoraKitCollection.Name)]
public class PackageEndToEndTests
{
    private readonly PackedLoraKit _kit;

    public PackageEndToEndTests(PackedLoraKit kit) => _kit = kit;

    private static void Ok(ProcessResult r) => Assert.True(r.ExitCode == 0, r.Output);

    [Fact]
    public void The_package_layout_is_as_documented()
    {
        using var zip = ZipFile.OpenRead(_kit.Package);
        var entries = zip.Entries.Select(e => e.FullName).ToHashSet();
        foreach (var expected in new[]
                 {
                     "lib/net10.0/LoraKit.dll", "lib/net10.0/LoraKit.Core.dll",
                     "analyzers/dotnet/cs/LoraKit.Analyzers.dll", "analyzers/dotnet/cs/LoraKit.Analyzers.CodeFixes.dll",
                     "tasks/netstandard2.0/LoraKit.Build.dll",
                     "build/LoraKit.props", "build/LoraKit.targets", "build/LoraKit.NativeCompat.targets", "build/LoraKit.NativeAssets.targets", "build/LoraKit.Analyzers.props",
                     "buildTransitive/LoraKit.props", "buildTransitive/LoraKit.targets",
                     "tools/lorakit/LoraKit.Cli.dll", "tools/lorakit/LoraKit.Cli.runtimeconfig.json", "tools/lorakit/LoraKit.Cli.deps.json",
                     "tools/lorakit/LoraKit.dll", "tools/lorakit/TorchSharp.dll", "tools/lorakit/System.CommandLine.dll",
                 })
            Assert.True(entries.Contains(expected), $"{expected} missing from the package:\n{string.Join("\n", entries.OrderBy(e => e))}");
        var generator = File.Exists(Path.Combine(TestEnvironment.RepoRoot, "analyzers", "LoraKit.Generators", "LoraKit.Generators.csproj"));
        Assert.Equal(generator, entries.Contains("analyzers/dotnet/cs/LoraKit.Generators.dll"));
        // No libtorch, no LibTorchSharp (the backend is the user's), no symbols, no MSBuild assemblies next to the task.
        Assert.DoesNotContain(entries, e => e.Contains("torch_cpu", StringComparison.Ordinal) || e.Contains("LibTorchSharp", StringComparison.Ordinal)
                                            || e.EndsWith(".pdb", StringComparison.Ordinal) || e.Contains("Microsoft.Build", StringComparison.Ordinal));
        Assert.All(entries.Where(e => e.StartsWith("analyzers/", StringComparison.Ordinal)), e => Assert.StartsWith("analyzers/dotnet/cs/", e));

        using var nuspec = new StreamReader(zip.GetEntry("LoraKit.nuspec")!.Open());
        var text = nuspec.ReadToEnd();
        Assert.Contains($"<version>{_kit.Version}</version>", text);
        Assert.Contains("<dependency id=\"TorchSharp\" version=\"0.107.0\"", text);
        Assert.DoesNotContain("TorchSharp-cpu", text);
        Assert.DoesNotContain("libtorch", text);
        Assert.DoesNotContain("TorchSharp-cuda", text);
    }

    [Fact]
    public void A_wrong_alpha_is_LORA1001_in_dotnet_build()
    {
        var dir = _kit.CreateProject(rank: 8, alpha: 8);
        var build = PackedLoraKit.Dotnet(dir, "build");
        Ok(build);
        Assert.Matches(@"Adapters\.cs\(6,\d+\): warning LORA1001: DateAdapter: alpha/r = 8/8 = 1, expected 2", build.Output);
        Assert.DoesNotContain("NU1603", build.Output);
    }

    [Fact]
    public void The_output_has_the_plot_natives_without_their_300_MB_of_windows_debug_symbols()
    {
        var dir = _kit.CreateProject(rank: 8, alpha: 16);
        var output = Path.Combine(dir, "bin", "Debug", "net10.0");
        var symbols = Path.Combine(output, "runtimes", "win-x64", "native", "libSkiaSharp.pdb");
        Ok(PackedLoraKit.Dotnet(dir, "build"));
        Assert.True(File.Exists(Path.Combine(output, "runtimes", "win-x64", "native", "libSkiaSharp.dll")), "the portable output lost SkiaSharp's Windows library");
        Assert.Empty(Directory.GetFiles(output, "lib*Sharp.pdb", SearchOption.AllDirectories));
        Assert.DoesNotContain(".pdb\"", File.ReadAllText(Path.Combine(output, "App.deps.json")));

        // The knob keeps them (and shows the check above is not vacuous: the packages do ship them).
        Ok(PackedLoraKit.Dotnet(dir, "build -p:LoraKitKeepNativeDebugSymbols=true"));
        Assert.True(File.Exists(symbols), "LoraKitKeepNativeDebugSymbols=true did not keep libSkiaSharp.pdb");
        Assert.Contains("libSkiaSharp.pdb", File.ReadAllText(Path.Combine(output, "App.deps.json")));

        // And back: the incremental build drops them again, deps.json included.
        Ok(PackedLoraKit.Dotnet(dir, "build"));
        Assert.False(File.Exists(symbols), "an incremental build after LoraKitKeepNativeDebugSymbols=true left libSkiaSharp.pdb");
        Assert.DoesNotContain(".pdb\"", File.ReadAllText(Path.Combine(output, "App.deps.json")));
    }

    [Fact]
    public void LoraTrain_trains_on_cpu_then_is_up_to_date_reruns_on_a_change_and_clean_removes_the_outputs()
    {
        var dir = _kit.CreateProject(rank: 8, alpha: 16);
        var adapterDir = Path.Combine(dir, "lora-output", "DateAdapter");

        var first = PackedLoraKit.Dotnet(dir, "build -t:LoraTrain -p:LoraKitMaxSteps=20 -p:LoraKitDevice=cpu -v:n");
        Ok(first);
        Assert.Contains("LoraKit: training DateAdapter r=8, alpha=16, targets q_proj, v_proj: 28672 trainable parameters", first.Output);
        Assert.Contains("on cpu", first.Output);
        foreach (var file in new[] { "adapter_config.json", "adapter_model.safetensors", "metrics.jsonl" })
            Assert.True(File.Exists(Path.Combine(adapterDir, file)), $"{file} missing\n{first.Output}");
        using (var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(adapterDir, "adapter_config.json"))))
        {
            Assert.Equal(8, config.RootElement.GetProperty("r").GetInt32());
            Assert.Equal(16, config.RootElement.GetProperty("lora_alpha").GetDouble());
        }
        Assert.NotEmpty(File.ReadAllLines(Path.Combine(adapterDir, "metrics.jsonl")));
        var trained = File.GetLastWriteTimeUtc(Path.Combine(adapterDir, "adapter_model.safetensors"));

        var second = PackedLoraKit.Dotnet(dir, "build -t:LoraTrain -p:LoraKitMaxSteps=20 -p:LoraKitDevice=cpu -v:n");
        Ok(second);
        Assert.Contains("Skipping target \"_LoraKitTrain\" because all output files are up-to-date", second.Output);
        Assert.DoesNotContain("LoraKit: training", second.Output);
        Assert.Equal(trained, File.GetLastWriteTimeUtc(Path.Combine(adapterDir, "adapter_model.safetensors")));

        // An option changes: the stamp changes, and training runs again.
        var changed = PackedLoraKit.Dotnet(dir, "build -t:LoraTrain -p:LoraKitMaxSteps=3 -p:LoraKitDevice=cpu -v:n");
        Ok(changed);
        Assert.Contains("LoraKit: training DateAdapter", changed.Output);
        Assert.Contains("3 steps on cpu", changed.Output);

        File.WriteAllText(Path.Combine(dir, "lora.lock.json"), """{ "version": 1, "adapters": { "DateAdapter": { "rank": 8 } } }""");
        Ok(PackedLoraKit.Dotnet(dir, "clean"));
        Assert.False(File.Exists(Path.Combine(adapterDir, "adapter_model.safetensors")), "dotnet clean left the adapter");
        Assert.False(File.Exists(Path.Combine(adapterDir, "adapter_config.json")));
        Assert.True(File.Exists(Path.Combine(dir, "lora.lock.json")), "dotnet clean removed lora.lock.json, which the user owns");
    }

    [Fact]
    public void LoraSweep_writes_report_plot_and_lock_and_a_rank_change_is_LORA1007()
    {
        var dir = _kit.CreateProject(rank: 8, alpha: 16);
        var sweep = PackedLoraKit.Dotnet(dir, "build -t:LoraSweep -p:LoraKitSweepRanks=2%3B4 -p:LoraKitMaxSteps=4 -p:LoraKitDevice=cpu -v:n");
        Ok(sweep);
        Assert.Contains("LoraKit: sweep chose rank", sweep.Output);
        foreach (var file in new[] { "report.md", "sweep.png", "lora.lock.json" })
            Assert.True(File.Exists(Path.Combine(dir, file)), $"{file} missing next to the project\n{sweep.Output}");
        int chosen;
        using (var lockFile = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "lora.lock.json"))))
            chosen = lockFile.RootElement.GetProperty("adapters").GetProperty("DateAdapter").GetProperty("rank").GetInt32();
        Assert.Contains(chosen, new[] { 2, 4 });

        // The sweep's choice in code: clean of LORA1007; another rank: LORA1007.
        PackedLoraKit.WriteAdapter(dir, chosen, 2 * chosen);
        var agree = PackedLoraKit.Dotnet(dir, "build");
        Ok(agree);
        Assert.DoesNotContain("LORA1007", agree.Output);

        var other = chosen == 2 ? 4 : 2;
        PackedLoraKit.WriteAdapter(dir, other, 2 * other);
        var differ = PackedLoraKit.Dotnet(dir, "build");
        Ok(differ);
        Assert.Contains($"warning LORA1007: DateAdapter: rank {other} differs from rank {chosen}", differ.Output);

        Ok(PackedLoraKit.Dotnet(dir, "clean"));
        Assert.True(File.Exists(Path.Combine(dir, "lora.lock.json")));
        Assert.False(Directory.EnumerateFiles(Path.Combine(dir, "lora-output"), "*", SearchOption.AllDirectories).Any(), "dotnet clean left sweep outputs");
    }

    [Fact]
    public void A_trainer_failure_is_a_build_error_with_its_code_and_file()
    {
        var dir = _kit.CreateProject(rank: 8, alpha: 16);
        File.WriteAllText(Path.Combine(dir, "train.jsonl"), "{\"text\": \"fine\"}\nnot json\n{\"text\": \"fine too\"}\n");
        var build = PackedLoraKit.Dotnet(dir, "build -t:LoraTrain -p:LoraKitDataset=train.jsonl -p:LoraKitDevice=cpu");
        Assert.NotEqual(0, build.ExitCode);
        Assert.Matches(@"train\.jsonl\(2\): LoraKit error LORA3001: dataset '[^']*train\.jsonl' has 1 bad line", build.Output);
        Assert.False(File.Exists(Path.Combine(dir, "lora-output", "DateAdapter", "adapter_model.safetensors")));
    }

    [Fact]
    public void The_backend_is_chosen_in_the_project_by_LoraKitBackend_and_the_os()
    {
        var dir = _kit.CreateProject(rank: 8, alpha: 16);
        IReadOnlyList<string> Items(string backend)
        {
            var r = ProcessRunner.Run("dotnet", $"msbuild App.csproj -nologo -getItem:PackageReference{(backend.Length > 0 ? $" -p:LoraKitBackend={backend}" : "")}", dir, TimeSpan.FromMinutes(5));
            Ok(r);
            using var doc = JsonDocument.Parse(r.Output);
            return doc.RootElement.GetProperty("Items").GetProperty("PackageReference").EnumerateArray().Select(i => i.GetProperty("Identity").GetString()!).ToList();
        }

        var linux = OperatingSystem.IsLinux();
        var linuxX64 = linux && System.Runtime.InteropServices.RuntimeInformation.OSArchitecture == System.Runtime.InteropServices.Architecture.X64;
        foreach (var cpu in new[] { Items(""), Items("cpu") })
        {
            Assert.Contains("LoraKit", cpu);
            Assert.Equal(linuxX64, cpu.Contains("libtorch-cpu-linux-x64"));
            Assert.Equal(!linuxX64, cpu.Contains("TorchSharp-cpu"));
            Assert.DoesNotContain(cpu, i => i.StartsWith("TorchSharp-cuda", StringComparison.Ordinal));
        }
        var cuda = Items("cuda");
        Assert.Contains("LoraKit", cuda);
        Assert.Equal(linux, cuda.Contains("TorchSharp-cuda-linux"));
        Assert.Equal(OperatingSystem.IsWindows(), cuda.Contains("TorchSharp-cuda-windows"));
        Assert.DoesNotContain("libtorch-cpu-linux-x64", cuda);
        Assert.DoesNotContain("TorchSharp-cpu", cuda);
    }
}
