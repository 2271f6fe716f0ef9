using System;
using System.IO;
using Xunit;
using Xunit.Sdk;

namespace LoraKit.Generators.Tests;

/// <summary>The snapshot helper's conventions: received on mismatch, accept by variable, refused on CI.</summary>
public sealed class SnapshotHelperTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "lorakit-snap-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_folder)) Directory.Delete(_folder, recursive: true);
    }

    private string PathOf(string suffix) => Path.Combine(_folder, "s." + suffix + ".txt");

    [Fact]
    public void A_mismatch_writes_received_and_fails_and_a_match_removes_it()
    {
        Directory.CreateDirectory(_folder);
        File.WriteAllText(PathOf("verified"), "old\n");
        var e = Assert.Throws<FailException>(() => Snapshot.Verify(_folder, "s", "new\n", accept: false, ci: false));
        Assert.Contains("line 1", e.Message, StringComparison.Ordinal);
        Assert.Equal("new\n", File.ReadAllText(PathOf("received")));
        Assert.Equal("old\n", File.ReadAllText(PathOf("verified")));
        Snapshot.Verify(_folder, "s", "old\r\n", accept: false, ci: false);
        Assert.False(File.Exists(PathOf("received")));
    }

    [Fact]
    public void Accepting_writes_verified_but_is_refused_on_CI()
    {
        var e = Assert.Throws<FailException>(() => Snapshot.Verify(_folder, "s", "new\n", accept: true, ci: true));
        Assert.Contains("refused when CI=true", e.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(PathOf("verified")));
        Snapshot.Verify(_folder, "s", "new\n", accept: true, ci: false);
        Assert.Equal("new\n", File.ReadAllText(PathOf("verified")));
        Assert.False(File.Exists(PathOf("received")));
    }
}
