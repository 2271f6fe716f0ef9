using System;
using System.IO;
using System.Linq;
using LoraKit.Build.NativeCompat;
using Xunit;

namespace LoraKit.Build.Tests;

/// <summary>
/// A user's project that imports LoraKit's native-compat targets: with the step (default) TorchSharp
/// runs from bin/; with LoraKitNativeCompat=false the output is left as the package ships it.
/// </summary>
public class NativeCompatEndToEndTests
{
    private static string ProjectText(bool compat) => $"""
        <Project Sdk="Microsoft.NET.Sdk">
          <PropertyGroup>
            <OutputType>Exe</OutputType>
            <TargetFramework>net10.0</TargetFramework>
            <Nullable>enable</Nullable>
            <ImplicitUsings>disable</ImplicitUsings>
            <LoraKitTasksAssembly>{Path.Combine(AppContext.BaseDirectory, "LoraKit.Build.dll")}</LoraKitTasksAssembly>
            <LoraKitTasksOutOfProcess>true</LoraKitTasksOutOfProcess>
            {(compat ? "" : "<LoraKitNativeCompat>false</LoraKitNativeCompat>")}
          </PropertyGroup>
          <ItemGroup>
            <PackageReference Include="TorchSharp" Version="0.107.0" />
            <PackageReference Include="libtorch-cpu-linux-x64" Version="2.10.0" />
            <PackageReference Include="SharpZipLib" Version="1.4.1" />
            <PackageReference Include="SkiaSharp" Version="3.119.4" />
          </ItemGroup>
          <Import Project="{Path.Combine(TestEnvironment.RepoRoot, "src", "LoraKit.Build", "build", "LoraKit.NativeCompat.targets")}" />
        </Project>
        """;

    private const string Program = """
        using TorchSharp;
        var x = torch.tensor(new float[] { 1, 2, 3 }, requires_grad: true);
        var y = (x * x).sum();
        y.backward();
        System.Console.WriteLine($"grad {string.Join(",", x.grad!.data<float>().ToArray())}");
        """;

    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(5);

    private static void InProject(bool compat, Action<string> body)
    {
        var dir = TestEnvironment.TempFolder();
        try
        {
            File.WriteAllText(Path.Combine(dir, "App.csproj"), ProjectText(compat));
            File.WriteAllText(Path.Combine(dir, "Program.cs"), Program);
            body(dir);
        }
        finally
        {
            Directory.Delete(dir, recursive: true); // ~1 GB of libtorch
        }
    }

    private static ProcessResult Build(string dir, string verbosity = "n")
    {
        var build = ProcessRunner.Run("dotnet", $"build -nologo -v:{verbosity}", dir, Timeout);
        Assert.True(build.ExitCode == 0, build.Output);
        return build;
    }

    private static ProcessResult Run(string dir) => ProcessRunner.Run("dotnet", Path.Combine("bin", "Debug", "net10.0", "App.dll"), dir, Timeout);

    private static (ProcessResult Build, ProcessResult Run) BuildAndRun(bool compat)
    {
        (ProcessResult, ProcessResult) result = default;
        InProject(compat, dir => result = (Build(dir), Run(dir)));
        return result;
    }

    private static bool HostLacks332()
    {
        var host = LibStdCxxCompat.FindHostLibStdCxx(null)!;
        return !LibStdCxxCompat.ReadDefinedVersions(host)!.Contains("GLIBCXX_3.4.32");
    }

    [Fact]
    public void User_project_runs_torchsharp_only_with_the_step()
    {
        var hostLacks332 = HostLacks332();

        var on = BuildAndRun(compat: true);
        Assert.True(on.Run.ExitCode == 0, on.Run.Output);
        Assert.Contains("grad 2,4,6", on.Run.Output);
        Assert.Equal(hostLacks332, on.Build.Output.Contains("LoraKit: marked GLIBCXX_3.4.32 weak"));

        var off = BuildAndRun(compat: false);
        Assert.DoesNotContain("LoraKit: marked", off.Build.Output);
        if (hostLacks332)
        {
            // TorchSharp reports only that LibTorchSharp failed to load; the dlopen test shows why (the version).
            Assert.NotEqual(0, off.Run.ExitCode);
            Assert.Contains("Failed to load native component LibTorchSharp", off.Run.Output);
        }
    }

    [Fact]
    public void A_settled_output_skips_the_step_until_the_copy_step_writes_again()
    {
        var hostLacks332 = HostLacks332();
        InProject(compat: true, dir =>
        {
            var first = Build(dir);
            Assert.Equal(hostLacks332, first.Output.Contains("LoraKit: marked GLIBCXX_3.4.32 weak"));

            // Nothing copied since: the step is skipped, and the patched library still loads.
            var again = Build(dir, verbosity: "d");
            Assert.Contains("LoraKit native compat: nothing was copied to", again.Output);
            Assert.DoesNotContain("LoraKit: marked", again.Output);
            var run = Run(dir);
            Assert.True(run.ExitCode == 0, run.Output);

            // bin/ deleted: the copy step puts back the package's original, and the step patches it again.
            Directory.Delete(Path.Combine(dir, "bin"), recursive: true);
            var rebuilt = Build(dir, verbosity: "d");
            Assert.DoesNotContain("LoraKit native compat: nothing was copied to", rebuilt.Output);
            Assert.Equal(hostLacks332, rebuilt.Output.Contains("LoraKit: marked GLIBCXX_3.4.32 weak"));
            run = Run(dir);
            Assert.True(run.ExitCode == 0, run.Output);
            Assert.Contains("grad 2,4,6", run.Output);
        });
    }
}
