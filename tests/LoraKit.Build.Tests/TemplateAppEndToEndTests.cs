using System;
using System.IO;
using Xunit;

namespace LoraKit.Build.Tests;

/// <summary>
/// The `dotnet new lorakit` app uses what it trains: after `dotnet build -t:LoraTrain`, `dotnet run -- "prompt"`
/// loads the base, attaches the trained adapter through the generated typed wrapper and streams an answer.
/// </summary>
[Trait("Category", "EndToEnd")]
[Collection(PackedLoraKitCollection.Name)]
public class TemplateAppEndToEndTests
{
    private readonly PackedLoraKit _kit;

    public TemplateAppEndToEndTests(PackedLoraKit kit) => _kit = kit;

    // Not PackedLoraKit.Dotnet: its build switches would reach the app as arguments (dotnet run forwards them).
    private static ProcessResult Run(string dir, string arguments) => ProcessRunner.Run("dotnet", arguments, dir, TimeSpan.FromMinutes(10));

    [Fact]
    public void The_app_answers_a_prompt_with_its_trained_adapter()
    {
        var dir = _kit.NewFolder();
        _kit.PrepareFolder(dir);
        var created = ProcessRunner.Run("dotnet", $"new lorakit -n App -o \"{dir}\" --no-restore --lorakit-version {_kit.Version} --debug:custom-hive \"{_kit.TemplateHive.Value}\"",
            dir, TimeSpan.FromMinutes(2));
        Assert.True(created.ExitCode == 0, created.Output);

        var build = PackedLoraKit.Dotnet(dir, "build");
        Assert.True(build.ExitCode == 0, build.Output);
        var untrained = Run(dir, "run --no-build -- \"date: 2024-03-07\\n\"");
        Assert.True(untrained.ExitCode == 1, untrained.Output);
        Assert.Contains("Train it first: dotnet build -t:LoraTrain", untrained.Output);

        var train = PackedLoraKit.Dotnet(dir, "build -t:LoraTrain -p:LoraKitMaxSteps=20 -p:LoraKitDevice=cpu");
        Assert.True(train.ExitCode == 0, train.Output);
        Assert.True(File.Exists(Path.Combine(dir, "lora-output", "SupportAdapter", "adapter_model.safetensors")), train.Output);

        var noPrompt = Run(dir, "run --no-build");
        Assert.True(noPrompt.ExitCode == 2, noPrompt.Output);
        Assert.Contains("dotnet run -- ", noPrompt.Output);

        var answer = Run(dir, "run --no-build -- \"date: 2024-03-07\\n\"");
        Assert.True(answer.ExitCode == 0, answer.Output);
        var text = answer.Output.Trim();
        Assert.False(string.IsNullOrWhiteSpace(text), "the app printed no answer");
        Assert.DoesNotContain("Train it first", text);
        Assert.DoesNotContain("Unhandled exception", text);
    }
}
