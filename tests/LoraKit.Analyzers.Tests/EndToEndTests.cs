using System;
using System.IO;
using Xunit;

namespace LoraKit.Analyzers.Tests;

/// <summary>
/// The analyzers and code fixes as users meet them: `dotnet build` of a fixture project shows the warnings
/// with their IDs, and `dotnet format analyzers` (a real Workspaces client, as an IDE drives fixes) rewrites Alpha.
/// </summary>
public class EndToEndTests
{
    private const string Project = """
        <Project Sdk="Microsoft.NET.Sdk">
          <Import Project="{BIN}LoraKit.Analyzers.props" />
          <PropertyGroup>
            <TargetFramework>net10.0</TargetFramework>
            <Nullable>enable</Nullable>
            <TreatWarningsAsErrors>false</TreatWarningsAsErrors>
            <LoraKitGpuMemoryGiB>8</LoraKitGpuMemoryGiB>
            <LoraKitQuantize>nf4</LoraKitQuantize>
            <LoraKitServeTargets>vllm;llamacpp</LoraKitServeTargets>
          </PropertyGroup>
          <ItemGroup>
            <Reference Include="LoraKit.Core" HintPath="{BIN}LoraKit.Core.dll" />
            <Analyzer Include="{BIN}LoraKit.Analyzers.dll" />
            <Analyzer Include="{BIN}LoraKit.Analyzers.CodeFixes.dll" />
            <AdditionalFiles Include="models/llama2/config.json" />
          </ItemGroup>
        </Project>
        """;

    private const string Adapters = """
        using LoraKit;

        [LoraModel(ConfigFile = "models/llama2/config.json")]
        public partial class Llama2_7B;

        // The rank guide's common gotcha: r=8 with alpha left at a previous config's 8; bf16 (the attribute wins over LoraKitQuantize): over 8 GiB.
        [LoraAdapter(typeof(Llama2_7B), Rank = 8, Alpha = 8, Dropout = 0.05, TargetModules = new[] { "q_proj", "v_proj" }, BatchSize = 1, SequenceLength = 16, Quantize = LoraQuantization.None)]
        public partial class SupportAdapter;

        // NF4 from the project's LoraKitQuantize: 4.6 GiB, fits.
        [LoraAdapter(typeof(Llama2_7B), Rank = 8, Alpha = 16, TargetModules = new[] { "q_proj", "v_proj" }, BatchSize = 1, SequenceLength = 16)]
        public partial class QLoraAdapter;

        // The rank guide's r=4 on q,v: 0.031 % of Llama-2-7B, under the 0.05 % floor.
        [LoraAdapter(typeof(Llama2_7B), Rank = 4, Alpha = 8, TargetModules = new[] { "q_proj", "v_proj" }, BatchSize = 1, SequenceLength = 16)]
        public partial class SmallAdapter;

        // vLLM serves rank 32 only with --max-lora-rank 32; llama.cpp applies an rsLoRA adapter converted as is √32 times too weakly.
        [LoraAdapter(typeof(Llama2_7B), Rank = 32, Alpha = 64, UseRsLora = true, TargetModules = new[] { "q_proj", "v_proj" }, BatchSize = 1, SequenceLength = 16)]
        public partial class ServedAdapter;
        """;

    [Fact]
    [Trait("Category", "EndToEnd")]
    public void Build_shows_the_warnings_and_dotnet_format_fixes_alpha()
    {
        var dir = Path.Combine(Path.GetTempPath(), "lorakit-analyzer-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path.Combine(dir, "models", "llama2"));
        try
        {
            // Keep the fixture independent of anything above the temp folder.
            File.WriteAllText(Path.Combine(dir, "Directory.Build.props"), "<Project />");
            File.WriteAllText(Path.Combine(dir, "Directory.Build.targets"), "<Project />");
            File.WriteAllText(Path.Combine(dir, "Directory.Packages.props"), "<Project />");
            File.WriteAllText(Path.Combine(dir, "App.csproj"), Project.Replace("{BIN}", AppContext.BaseDirectory));
            File.WriteAllText(Path.Combine(dir, "Adapters.cs"), Adapters);
            // Picked up by the props: the lock says SmallAdapter's sweep chose rank 4, SupportAdapter's 16.
            File.WriteAllText(Path.Combine(dir, "lora.lock.json"), """{ "version": 1, "adapters": { "SmallAdapter": { "rank": 4 }, "SupportAdapter": { "rank": 16 } } }""");
            File.Copy(Path.Combine(AppContext.BaseDirectory, "Configs", "llama2-7b.json"), Path.Combine(dir, "models", "llama2", "config.json"));

            var build = Run("build App.csproj -nologo -v:q -p:UseSharedCompilation=false", dir);
            Assert.True(build.ExitCode == 0, build.Output);
            Has(build.Output, "Adapters.cs(7,43): warning LORA1001: SupportAdapter: alpha/r = 8/8 = 1, expected 2");
            Has(build.Output, "warning LORA1002: SmallAdapter trains 2,097,152 parameters = 0.031 % of Llama2_7B's 6,738,415,616");
            Has(build.Output, "warning LORA1006: SupportAdapter: estimated peak training memory");
            Has(build.Output, "Adapters.cs(7,33): warning LORA1007: SupportAdapter: rank 8 differs from rank 16");
            Assert.False(build.Output.Contains("LORA1007: SmallAdapter", StringComparison.Ordinal), build.Output);
            // The MSBuild property reached the analyzer (CompilerVisibleProperty in LoraKit.Analyzers.props): a bf16 QLoraAdapter would not fit.
            Assert.False(build.Output.Contains("LORA1006: QLoraAdapter", StringComparison.Ordinal), build.Output);
            // LoraKitServeTargets reached the serving analyzer the same way.
            Has(build.Output, "Adapters.cs(19,33): warning LORA4001: ServedAdapter: vLLM refuses LoRA rank 32 at its default --max-lora-rank 16");
            Has(build.Output, "Adapters.cs(19,56): warning LORA4014: ServedAdapter: llama.cpp scales every LoRA by alpha/r");
            Assert.False(build.Output.Contains("LORA4001: SupportAdapter", StringComparison.Ordinal), build.Output);

            var format = Run("format analyzers App.csproj --diagnostics LORA1001 --severity warn --no-restore -v:q", dir);
            Assert.True(format.ExitCode == 0, format.Output);
            var fixedSource = File.ReadAllText(Path.Combine(dir, "Adapters.cs"));
            Assert.Contains("[LoraAdapter(typeof(Llama2_7B), Rank = 8, Alpha = 16, Dropout = 0.05,", fixedSource);
            Assert.Equal(Adapters.Replace("Rank = 8, Alpha = 8,", "Rank = 8, Alpha = 16,"), fixedSource);

            var rebuild = Run("build App.csproj -nologo -v:q -p:UseSharedCompilation=false", dir);
            Assert.True(rebuild.ExitCode == 0, rebuild.Output);
            Assert.False(rebuild.Output.Contains("LORA1001", StringComparison.Ordinal), rebuild.Output);
            Has(rebuild.Output, "warning LORA1002");
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }

    private static void Has(string output, string expected) =>
        Assert.True(output.Contains(expected, StringComparison.Ordinal), $"'{expected}' not in the output:\n{output}");

    private static (int ExitCode, string Output) Run(string arguments, string workingDirectory)
    {
        var r = LoraKit.Build.Tests.ProcessRunner.Run("dotnet", arguments, workingDirectory, TimeSpan.FromMinutes(3));
        return (r.ExitCode, r.Output);
    }
}
