using LoraKit.Rules;
using Xunit;

namespace LoraKit.Core.Tests;

public class LoraLockTests
{
    [Fact]
    public void Reads_ranks_and_alphas_by_adapter_name()
    {
        var l = LoraLock.Parse("""{ "version": 1, "adapters": { "SupportAdapter": { "rank": 8, "alpha": 16, "metric": 0.9 }, "Other": { "rank": 4 } } }""", "lora.lock.json");
        Assert.Equal(8, l.Find("SupportAdapter")!.Rank);
        Assert.Equal(16, l.Find("SupportAdapter")!.Alpha);
        Assert.Equal(0.9, l.Find("SupportAdapter")!.Metric);
        Assert.Null(l.Find("Other")!.Alpha);
        Assert.Null(l.Find("Missing"));
    }

    [Theory]
    [InlineData("[1]", "not a JSON object")]
    [InlineData("{ \"adapters\": 3 }", "no \"adapters\" object")]
    [InlineData("{ \"adapters\": { \"A\": { \"rank\": 0 } } }", "rank 0")]
    [InlineData("{ \"adapters\": { \"A\": { \"rank\": \"8\" } } }", "rank \"8\"")]
    [InlineData("{ \"adapters\": { \"A\": {} } }", "rank missing")]
    [InlineData("{ \"version\": 2, \"adapters\": {} }", "version 2")]
    [InlineData("{ \"adapters\": { ", "not valid JSON")]
    public void Invalid_locks_name_the_problem(string json, string expected)
    {
        var e = Assert.Throws<LoraLockException>(() => LoraLock.Parse(json, "lora.lock.json"));
        Assert.True(e.Line >= 1);
        Assert.Contains(expected, e.Message);
        Assert.StartsWith("lora.lock.json(", e.Message);
    }

    [Fact]
    public void Serialize_round_trips()
    {
        var text = LoraLock.Serialize(new[] { new LockedAdapter("B", 16, 32, "x"), new LockedAdapter("A", 4, null, "x") { Metric = 0.5 } });
        Assert.Equal("{\n  \"version\": 1,\n  \"adapters\": {\n    \"A\": { \"rank\": 4, \"metric\": 0.5 },\n    \"B\": { \"rank\": 16, \"alpha\": 32 }\n  }\n}\n", text);
        var back = LoraLock.Parse(text, "x");
        Assert.Equal(16, back.Find("B")!.Rank);
        Assert.Equal(0.5, back.Find("A")!.Metric);
    }

    [Fact]
    public void CheckLock_warns_only_when_the_rank_differs()
    {
        var locked = new LockedAdapter("A", 8, 16, "lora.lock.json");
        Assert.Null(LoraRuleChecker.CheckLock(8, locked, "A"));
        Assert.Null(LoraRuleChecker.CheckLock(16, null, "A"));
        var f = LoraRuleChecker.CheckLock(16, locked, "A")!;
        Assert.Equal(DiagnosticIds.RankDiffersFromLock, f.Id);
        Assert.Equal("A: rank 16 differs from rank 8 (alpha 16) chosen by the last sweep in lora.lock.json; use Rank = 8, or run the sweep again to lock a new rank", f.Message);
    }
}
