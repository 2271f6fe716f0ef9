using System;
using System.IO;
using Xunit;

namespace LoraKit.Build.Tests;

/// <summary>
/// The newcomer's path: `eng/pack.sh` as the first command after `git clone` (nothing restored or built yet), then
/// `dotnet tool install LoraKit.Cli` from the feed it wrote, and the installed `lorakit` trains (its libtorch loads).
/// It packs the committed state, as CI's fresh clone does; slow (a whole build), like the other end-to-end tests.
/// </summary>
public class FreshCloneTests
{
    [Fact]
    public void Pack_works_on_a_fresh_clone_and_the_lorakit_tool_installs_and_trains_from_its_feed()
    {
        var root = TestEnvironment.TempFolder();
        var clone = Path.Combine(root, "clone");
        var feed = Path.Combine(root, "feed");
        var tools = Path.Combine(root, "tools");
        var version = "0.1.0-clone." + DateTime.UtcNow.ToString("yyyyMMddHHmmss", System.Globalization.CultureInfo.InvariantCulture) + Environment.ProcessId;
        var git = ProcessRunner.Run("git", $"clone --quiet --no-hardlinks \"{TestEnvironment.RepoRoot.TrimEnd('/')}\" \"{clone}\"", root, TimeSpan.FromMinutes(2));
        Assert.True(git.ExitCode == 0, git.Output);
        Assert.False(Directory.Exists(Path.Combine(clone, "src", "LoraKit.Cli", "obj"))); // nothing restored: the state that failed with NETSDK1004

        var pack = ProcessRunner.Run("bash", $"eng/pack.sh Release {version} \"{feed}\"", clone, TimeSpan.FromMinutes(40));
        Assert.True(pack.ExitCode == 0, pack.Output);
        foreach (var id in new[] { "LoraKit", "LoraKit.Cli", "LoraKit.Templates" })
            Assert.True(File.Exists(Path.Combine(feed, $"{id}.{version}.nupkg")), $"{id} was not packed:\n{pack.Output}");

        var cached = Path.Combine(Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } p ? p
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages"), "lorakit.cli", version);
        try
        {
            var install = ProcessRunner.Run("dotnet", $"tool install LoraKit.Cli --tool-path \"{tools}\" --add-source \"{feed}\" --version {version}",
                root, TimeSpan.FromMinutes(10));
            Assert.True(install.ExitCode == 0, install.Output);
            var lorakit = Path.Combine(tools, OperatingSystem.IsWindows() ? "lorakit.exe" : "lorakit");

            var help = ProcessRunner.Run(lorakit, "sweep --help", root, TimeSpan.FromMinutes(2));
            Assert.Contains("lorakit sweep [options]", help.Output);
            Assert.DoesNotContain("LoraKit.Cli", help.Output);

            var output = Path.Combine(root, "adapter");
            var train = ProcessRunner.Run(lorakit, $"train --max-steps 2 --eval-every 0 --device cpu --out \"{output}\"", root, TimeSpan.FromMinutes(15));
            Assert.True(train.ExitCode == 0, train.Output);
            Assert.True(File.Exists(Path.Combine(output, "adapter_model.safetensors")), train.Output);
        }
        finally
        {
            // The tool's package (with libtorch, ~0.6 GB unpacked) has a version of its own: leave no copy in the global cache.
            if (Directory.Exists(cached)) Directory.Delete(cached, recursive: true);
        }
    }
}
