using System;
using System.IO;
using System.Linq;
using System.Text;
using LoraKit.Data;
using Xunit;

namespace LoraKit.Tests.Data;

public class SplitAndHashTests
{
    private static Dataset Numbers(int n) =>
        new("numbers", Enumerable.Range(0, n).Select(i => Example.FromText($"line {i}")).ToArray());

    [Fact]
    public void SplitIsDeterministicDisjointAndComplete()
    {
        var d = Numbers(2000);
        var a = d.Split();
        var b = d.Split();
        Assert.Equal(a.Train.Examples, b.Train.Examples);
        Assert.Equal(a.Validation!.Examples, b.Validation!.Examples);
        Assert.Empty(a.Train.Examples.Intersect(a.Validation.Examples));
        Assert.Equal(2000, a.Train.Count + a.Validation.Count);
        Assert.InRange(a.Validation.Count, 140, 260); // 10 % ± 3σ
        Assert.Equal(d.Examples.Where(e => a.Validation.Examples.Contains(e)), a.Validation.Examples); // file order kept
    }

    [Fact]
    public void SplitDoesNotDependOnFileOrderButOnTheSeed()
    {
        var d = Numbers(500);
        var reversed = new Dataset("reversed", d.Examples.Reverse().ToArray());
        var val = d.Split().Validation!.Examples.ToHashSet();
        Assert.True(val.SetEquals(reversed.Split().Validation!.Examples));
        Assert.False(val.SetEquals(d.Split(seed: 1).Validation!.Examples));
    }

    [Fact]
    public void FractionsAreNestedSubsetsOfTrainAndLeaveValidationAlone()
    {
        var d = Numbers(3000);
        var full = d.Split();
        var f10 = d.Split(fraction: 0.1);
        var f20 = d.Split(fraction: 0.2);
        var f50 = d.Split(fraction: 0.5);
        Assert.Subset(f20.Train.Examples.ToHashSet(), f10.Train.Examples.ToHashSet());
        Assert.Subset(f50.Train.Examples.ToHashSet(), f20.Train.Examples.ToHashSet());
        Assert.Subset(full.Train.Examples.ToHashSet(), f50.Train.Examples.ToHashSet());
        Assert.InRange(f10.Train.Count, 0.1 * full.Train.Count * 0.75, 0.1 * full.Train.Count * 1.25);
        Assert.Equal(full.Validation!.Examples, f10.Validation!.Examples);
        Assert.Contains("[train,0.1]", f10.Train.Name);
    }

    [Fact]
    public void TinyDatasetsKeepBothSidesAndAtLeastOneTrainExample()
    {
        var two = Numbers(2).Split();
        Assert.Equal(1, two.Train.Count);
        Assert.Equal(1, two.Validation!.Count);
        var one = Numbers(1).Split();
        Assert.Equal(1, one.Train.Count);
        Assert.Null(one.Validation);
        Assert.Equal(1, Numbers(5).Split(validationFraction: 0, fraction: 0.0001).Train.Count);
        Assert.Null(Numbers(5).Split(validationFraction: 0).Validation);
        Assert.Throws<ArgumentOutOfRangeException>(() => Numbers(5).Split(validationFraction: 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => Numbers(5).Split(fraction: 0));
    }

    [Fact]
    public void IdenticalExamplesLandOnTheSameSide()
    {
        var ex = Enumerable.Range(0, 300).Select(i => Example.FromText($"dup {i % 30}")).ToArray();
        var s = new Dataset("dups", ex).Split(validationFraction: 0.3);
        Assert.Empty(s.Train.Examples.Intersect(s.Validation!.Examples));
    }

    [Fact]
    public void ContentHashIgnoresFormattingButNotContentOrOrder()
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir.File("a.jsonl"), "{\"prompt\": \"p1\", \"completion\": \"c1\"}\n{\"prompt\": \"p2\", \"completion\": \"é\"}\n", new UTF8Encoding(false));
        File.WriteAllText(dir.File("b.jsonl"), "\r\n{ \"completion\" : \"c1\",\"prompt\":\"p1\", \"meta\": 1 }\r\n\r\n{\"prompt\":\"p\\u0032\",\"completion\":\"\\u00e9\"}", new UTF8Encoding(true));
        File.WriteAllText(dir.File("c.jsonl"), "{\"prompt\": \"p1\", \"completion\": \"c1\"}\n{\"prompt\": \"p2\", \"completion\": \"e\"}\n");
        File.WriteAllText(dir.File("d.jsonl"), "{\"prompt\": \"p2\", \"completion\": \"é\"}\n{\"prompt\": \"p1\", \"completion\": \"c1\"}\n");
        File.WriteAllText(dir.File("e.jsonl"), "{\"prompt\": \"p1c\", \"completion\": \"1\"}\n{\"prompt\": \"p2\", \"completion\": \"é\"}\n");
        var a = JsonlDataset.Load(dir.File("a.jsonl")).ContentHash;
        Assert.Matches("^[0-9a-f]{64}$", a);
        Assert.Equal(a, JsonlDataset.Load(dir.File("b.jsonl")).ContentHash);
        Assert.NotEqual(a, JsonlDataset.Load(dir.File("c.jsonl")).ContentHash);
        Assert.NotEqual(a, JsonlDataset.Load(dir.File("d.jsonl")).ContentHash);
        Assert.NotEqual(a, JsonlDataset.Load(dir.File("e.jsonl")).ContentHash); // field boundaries count
        var text = new Dataset("t", new[] { Example.FromText("p1c1") }).ContentHash;
        Assert.NotEqual(text, new Dataset("pc", new[] { Example.FromPromptCompletion("p1", "c1") }).ContentHash);
    }

    [Fact]
    public void ContentHashIsPinned()
    {
        // Pins the hash format (provenance in lora.lock.json must not change silently): SHA-256 over
        // "lorakit-dataset-v1\n" then, per example, int64 LE byte length + UTF-8 of "text\n<len>:<text>".
        var d = new Dataset("x", new[] { Example.FromText("hello") });
        var canonical = Encoding.UTF8.GetBytes("text\n5:hello");
        var bytes = Encoding.ASCII.GetBytes("lorakit-dataset-v1\n").Concat(BitConverter.GetBytes((long)canonical.Length)).Concat(canonical).ToArray();
        var expected = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(bytes)).ToLowerInvariant();
        Assert.Equal(expected, d.ContentHash);
    }
}
