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

    private static (ProcessResult Build, ProcessResult Run) BuildAndRun(bool compat)
    {
        var dir = TestEnvironment.TempFolder();
        try
        {
            File.WriteAllText(Path.Combine(dir, "App.csproj"), ProjectText(compat));
            File.WriteAllText(Path.Combine(dir, "Program.cs"), Program);
            var timeout = TimeSpan.FromMinutes(5);
            var build = ProcessRunner.Run("dotnet", "build -nologo -v:n", dir, timeout);
            Assert.True(build.ExitCode == 0, build.Output);
            var run = ProcessRunner.Run("dotnet", Path.Combine("bin", "Debug", "net10.0", "App.dll"), dir, timeout);
            return (build, run);
        }
        finally
        {
            Directory.Delete(dir, recursive: true); // ~1 GB of libtorch
        }
    }

    [Fact]
    public void User_project_runs_torchsharp_only_with_the_step()
    {
        var host = LibStdCxxCompat.FindHostLibStdCxx(null)!;
        var hostLacks332 = !LibStdCxxCompat.ReadDefinedVersions(host)!.Contains("GLIBCXX_3.4.32");

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
}
