using System;
using System.IO;
using System.Linq;
using Xunit;

namespace LoraKit.Build.Tests;

/// <summary>
/// The `dotnet new` templates: packed fresh, installed into a private hive, instantiated for every model
/// choice in sandboxes whose NuGet.config points at the freshly packed LoraKit, built with zero warnings.
/// </summary>
[Trait("Category", "EndToEnd")]
[Collection(PackedLoraKitCollection.Name)]
public class TemplateEndToEndTests
{
    private readonly PackedLoraKit _kit;
    private readonly string _hive;

    public TemplateEndToEndTests(PackedLoraKit kit)
    {
        _kit = kit;
        _hive = kit.TemplateHive.Value;
    }

    private string NewProject(string args)
    {
        var dir = _kit.NewFolder();
        _kit.PrepareFolder(dir);
        var r = ProcessRunner.Run("dotnet", $"new lorakit -n App -o \"{dir}\" --no-restore --lorakit-version {_kit.Version} {args} --debug:custom-hive \"{_hive}\"",
            dir, TimeSpan.FromMinutes(2));
        Assert.True(r.ExitCode == 0, r.Output);
        return dir;
    }

    private static void AssertBuildsWithoutWarnings(string dir)
    {
        var build = PackedLoraKit.Dotnet(dir, "build");
        Assert.True(build.ExitCode == 0, build.Output);
        Assert.True(build.Output.Contains("0 Warning(s)"), build.Output);
        Assert.DoesNotContain(": warning ", build.Output);
    }

    [Theory]
    [InlineData("llama2-7b")]
    [InlineData("tinyllama")]
    [InlineData("smollm2-135m")]
    [InlineData("qwen2.5-0.5b")]
    [InlineData("gemma2-2b")]
    [InlineData("phi3-mini-4k")]
    public void Every_preset_model_choice_builds_with_zero_warnings(string model)
    {
        var dir = NewProject($"--model {model}");
        Assert.Contains("LoraKitBaseModel>$(MSBuildProjectDirectory)/models/base<", File.ReadAllText(Path.Combine(dir, "App.csproj")));
        AssertBuildsWithoutWarnings(dir);
    }

    /// <summary>--inference llamasharp: the app answers through LLamaSharp from exported GGUF files (GgufChat.cs, tested in LoraKit.Gguf.Tests).</summary>
    [Fact]
    public void The_llamasharp_app_builds_with_zero_warnings_and_says_how_to_export()
    {
        var dir = NewProject("--inference llamasharp");
        Assert.Contains("<PackageReference Include=\"LLamaSharp\"", File.ReadAllText(Path.Combine(dir, "App.csproj")));
        Assert.Contains("class GgufChat", File.ReadAllText(Path.Combine(dir, "GgufChat.cs")));
        Assert.Contains("lorakit export gguf", File.ReadAllText(Path.Combine(dir, "Program.cs")));
        Assert.DoesNotContain("LoraKitModel.Load", File.ReadAllText(Path.Combine(dir, "Program.cs")));
        AssertBuildsWithoutWarnings(dir);
        Assert.False(File.Exists(Path.Combine(NewProject(""), "GgufChat.cs")), "the default app has no LLamaSharp code");
    }

    [Fact]
    public void A_config_json_model_builds_with_zero_warnings()
    {
        var dir = NewProject("--model config:models/tiny/config.json");
        Directory.CreateDirectory(Path.Combine(dir, "models", "tiny"));
        // TinyLlama's published config.json (as in LoraKit.Core.Tests/Configs).
        File.WriteAllText(Path.Combine(dir, "models", "tiny", "config.json"), """
            { "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 2048, "intermediate_size": 5632,
              "num_hidden_layers": 22, "num_attention_heads": 32, "num_key_value_heads": 4, "vocab_size": 32000,
              "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "tie_word_embeddings": false, "max_position_embeddings": 2048 }
            """);
        Assert.Contains("ConfigFile = \"models/tiny/config.json\"", File.ReadAllText(Path.Combine(dir, "BaseModel.cs")));
        Assert.Contains("LoraKitBaseModel>$(MSBuildProjectDirectory)/models/tiny<", File.ReadAllText(Path.Combine(dir, "App.csproj")));
        AssertBuildsWithoutWarnings(dir);
    }

    [Fact]
    public void The_builtin_default_builds_clean_trains_and_takes_another_adapter()
    {
        var dir = NewProject("");
        AssertBuildsWithoutWarnings(dir);
        // Before training the app shows the adapter's figures and says how to train it (exit code 1).
        var run = PackedLoraKit.Dotnet(dir, "run --no-build");
        Assert.True(run.ExitCode == 1, run.Output);
        Assert.Contains("Train it first: dotnet build -t:LoraTrain", run.Output);
        Assert.Contains("SupportAdapter: r=8, alpha=16, scaling 2", run.Output);
        Assert.Contains("trains 28,672 of 3,034,880 parameters (0.945 %)", run.Output);

        var train = PackedLoraKit.Dotnet(dir, "build -t:LoraTrain -p:LoraKitMaxSteps=10");
        Assert.True(train.ExitCode == 0, train.Output);
        foreach (var file in new[] { "adapter_config.json", "adapter_model.safetensors", "metrics.jsonl" })
            Assert.True(File.Exists(Path.Combine(dir, "lora-output", "SupportAdapter", file)), file + "\n" + train.Output);

        // The item template adds one more adapter (r=4 keeps the tiny builtin model inside the budget; r=16 would be LORA1002).
        var item = ProcessRunner.Run("dotnet", $"new lorakit-adapter -n SalesAdapter --rank 4 --debug:custom-hive \"{_hive}\"", dir, TimeSpan.FromMinutes(2));
        Assert.True(item.ExitCode == 0, item.Output);
        var adapter = File.ReadAllText(Path.Combine(dir, "SalesAdapter.cs"));
        Assert.Contains("Rank = 4", adapter);
        Assert.Contains("Alpha = 2 * 4", adapter);
        Assert.Contains("namespace App;", adapter);
        AssertBuildsWithoutWarnings(dir);
    }

    [Fact]
    public void Rank_8_with_alpha_8_builds_with_LORA1001()
    {
        var dir = NewProject("--rank 8 --alpha 8");
        var build = PackedLoraKit.Dotnet(dir, "build");
        Assert.True(build.ExitCode == 0, build.Output);
        Assert.Contains("warning LORA1001", build.Output);
        Assert.Contains("alpha/r = 8/8 = 1, expected 2", build.Output);
    }

    [Fact]
    public void Options_reach_the_generated_files()
    {
        var dir = NewProject("--rank 16 --targets \"q_proj, k_proj,v_proj\" --backend cuda");
        var adapter = File.ReadAllText(Path.Combine(dir, "SupportAdapter.cs"));
        Assert.Contains("Rank = 16", adapter);
        Assert.Contains("TargetModules = new[] { \"q_proj\", \"k_proj\", \"v_proj\" }", adapter);
        Assert.Contains("<LoraKitBackend Condition=\"'$(LoraKitBackend)' == ''\">cuda</LoraKitBackend>", File.ReadAllText(Path.Combine(dir, "App.csproj")));
        Assert.DoesNotContain("lorakit:", adapter); // no template markers left behind
    }
}
