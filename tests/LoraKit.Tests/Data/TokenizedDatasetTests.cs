using System;
using System.Collections.Generic;
using System.Linq;
using LoraKit.Data;
using TorchSharp;
using Xunit;

namespace LoraKit.Tests.Data;

public class TokenizedDatasetTests
{
    private const long I = -100; // ignored label
    private static readonly ByteTokenizer Bytes = ByteTokenizer.Instance;

    [Fact]
    public void PromptCompletionLabelsMaskThePromptBosAndPadding()
    {
        var ex = new[] { Example.FromPromptCompletion("ab", "c") };
        var t = TokenizedDataset.Create(ex, Bytes, 8, SequenceMode.Pad);
        var (ids, labels, mask) = t.Row(0);
        Assert.Equal(new long[] { 257, 97, 98, 99, 258, 256, 256, 256 }, ids);
        Assert.Equal(new long[] { I, I, I, 99, 258, I, I, I }, labels);
        Assert.Equal(new long[] { 1, 1, 1, 1, 1, 0, 0, 0 }, mask);
        Assert.Equal(2, t.TargetTokenCount);
    }

    [Fact]
    public void TextLabelsCountEveryTokenButBos()
    {
        var t = TokenizedDataset.Create(new[] { Example.FromText("hi") }, Bytes, 6, SequenceMode.Pad);
        var (ids, labels, mask) = t.Row(0);
        Assert.Equal(new long[] { 257, 104, 105, 258, 256, 256 }, ids);
        Assert.Equal(new long[] { I, 104, 105, 258, I, I }, labels);
        Assert.Equal(new long[] { 1, 1, 1, 1, 0, 0 }, mask);
    }

    [Fact]
    public void PadModeTruncatesAndDropsExamplesWithoutTargets()
    {
        var ex = new[]
        {
            Example.FromPromptCompletion("abcdef", "xyz"), // bos + 6 prompt bytes fill the row of 7: no target → dropped
            Example.FromPromptCompletion("ab", "wxyz"),   // truncated: [bos a b w x y z], eos cut
            Example.FromPromptCompletion("a", "b"),
        };
        var t = TokenizedDataset.Create(ex, Bytes, 7, SequenceMode.Pad);
        Assert.Equal(2, t.RowCount);
        Assert.Equal(1, t.DroppedExamples);
        Assert.Equal(2, t.TruncatedExamples);
        Assert.Equal(new long[] { 257, 97, 98, 119, 120, 121, 122 }, t.Row(0).InputIds);
        Assert.Equal(new long[] { I, I, I, 119, 120, 121, 122 }, t.Row(0).Labels);
        Assert.Equal(new long[] { I, I, 98, 258, I, I, I }, t.Row(1).Labels);
    }

    [Fact]
    public void PackModeConcatenatesWithEosAndPadsTheTail()
    {
        var ex = new[] { Example.FromText("ab"), Example.FromText("cd") };
        // stream: 257 97 98 258 | 257 99 100 258 → rows of 3
        var t = TokenizedDataset.Create(ex, Bytes, 3, SequenceMode.Pack);
        Assert.Equal(3, t.RowCount);
        Assert.Equal(new long[] { 257, 97, 98 }, t.Row(0).InputIds);
        Assert.Equal(new long[] { 258, 257, 99 }, t.Row(1).InputIds);
        Assert.Equal(new long[] { 100, 258, 256 }, t.Row(2).InputIds);
        Assert.Equal(new long[] { I, 97, 98 }, t.Row(0).Labels);
        Assert.Equal(new long[] { I, I, 99 }, t.Row(1).Labels); // position 0 is never a target; bos is not one
        Assert.Equal(new long[] { I, 258, I }, t.Row(2).Labels);
        Assert.Equal(new long[] { 1, 1, 1 }, t.Row(1).AttentionMask);
        Assert.Equal(new long[] { 1, 1, 0 }, t.Row(2).AttentionMask);
        Assert.Equal(0, t.DroppedExamples);
    }

    [Fact]
    public void PackModeMasksPromptsToo()
    {
        var ex = new[] { Example.FromPromptCompletion("p", "c"), Example.FromPromptCompletion("q", "d") };
        var t = TokenizedDataset.Create(ex, Bytes, 8, SequenceMode.Pack);
        Assert.Equal(1, t.RowCount);
        Assert.Equal(new long[] { 257, 112, 99, 258, 257, 113, 100, 258 }, t.Row(0).InputIds);
        Assert.Equal(new long[] { I, I, 99, 258, I, I, 100, 258 }, t.Row(0).Labels);
        Assert.Equal(4, t.TargetTokenCount);
    }

    [Fact]
    public void PackAndPadShapesForTheSameData()
    {
        var ex = Enumerable.Range(0, 10).Select(i => Example.FromText(new string('x', 5 + i))).ToArray();
        var pad = TokenizedDataset.Create(ex, Bytes, 16, SequenceMode.Pad);
        var pack = TokenizedDataset.Create(ex, Bytes, 16, SequenceMode.Pack);
        Assert.Equal(10, pad.RowCount);
        var total = ex.Sum(e => e.Text!.Length + 2);
        Assert.Equal((total + 15) / 16, pack.RowCount);
        using var b = pack.Batches(4, shuffle: false, seed: 0).First();
        Assert.Equal(new long[] { 4, 16 }, b.InputIds.shape);
        Assert.Equal(new long[] { 4, 16 }, b.Labels.shape);
        Assert.Equal(new long[] { 4, 16 }, b.AttentionMask.shape);
        Assert.Equal(torch.ScalarType.Int64, b.InputIds.dtype);
        Assert.Equal(torch.ScalarType.Int64, b.Labels.dtype);
        Assert.Equal(torch.ScalarType.Int64, b.AttentionMask.dtype);
        // Pad mode: each row's mask covers exactly its bos + text + eos.
        for (var r = 0; r < 10; r++) Assert.Equal(ex[r].Text!.Length + 2, pad.Row(r).AttentionMask.Sum());
    }

    [Fact]
    public void BatchesCoverEveryRowOnceAndTokenCountMatchesLabels()
    {
        var ex = Enumerable.Range(0, 11).Select(i => Example.FromPromptCompletion($"p{i}", $"c{i}")).ToArray();
        var t = TokenizedDataset.Create(ex, Bytes, 8, SequenceMode.Pad);
        var batches = t.Batches(4, shuffle: true, seed: 5).ToList();
        try
        {
            Assert.Equal(new long[] { 4, 4, 3 }, batches.Select(b => b.InputIds.shape[0]));
            var firstIds = batches.SelectMany(b => Rows(b.InputIds)).Select(r => r[2]).OrderBy(x => x).ToArray();
            Assert.Equal(Enumerable.Range(0, 11).Select(i => (long)i.ToString()[0]).OrderBy(x => x).ToArray(), firstIds);
            foreach (var b in batches)
                Assert.Equal(b.Labels.data<long>().Count(l => l != -100), b.TokenCount);
            Assert.Equal(t.TargetTokenCount, batches.Sum(b => b.TokenCount));
        }
        finally
        {
            foreach (var b in batches) b.Dispose();
        }
    }

    [Fact]
    public void BatchesAreDeterministicInTheSeed()
    {
        var ex = Enumerable.Range(0, 40).Select(i => Example.FromText($"example number {i}")).ToArray();
        var t = TokenizedDataset.Create(ex, Bytes, 24, SequenceMode.Pad);
        var a = Flatten(t, seed: 42);
        var b = Flatten(t, seed: 42);
        var c = Flatten(t, seed: 43);
        var unshuffled = Flatten(t, seed: 42, shuffle: false);
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
        Assert.NotEqual(a, unshuffled);
        Assert.Equal(Enumerable.Range(0, t.RowCount).SelectMany(r => t.Row(r).InputIds), unshuffled);
        // The permutation does not depend on the batch size.
        Assert.Equal(a, Flatten(t, seed: 42, batchSize: 7));
    }

    [Fact]
    public void ArgumentsAreChecked()
    {
        var ex = new[] { Example.FromText("a") };
        Assert.Throws<ArgumentOutOfRangeException>(() => TokenizedDataset.Create(ex, Bytes, 1, SequenceMode.Pad));
        var t = TokenizedDataset.Create(ex, Bytes, 4, SequenceMode.Pad);
        Assert.Throws<ArgumentOutOfRangeException>(() => t.Batches(0, false, 0));
        Assert.Throws<DataException>(() => TokenizedDataset.Create(new[] { Example.FromPromptCompletion("long prompt", "c") }, Bytes, 4, SequenceMode.Pad));
    }

    private static long[] Flatten(TokenizedDataset t, long seed, bool shuffle = true, int batchSize = 8)
    {
        var all = new List<long>();
        foreach (var b in t.Batches(batchSize, shuffle, seed))
            using (b)
                all.AddRange(b.InputIds.data<long>().ToArray());
        return all.ToArray();
    }

    private static IEnumerable<long[]> Rows(torch.Tensor t)
    {
        var data = t.data<long>().ToArray();
        var s = (int)t.shape[1];
        for (var r = 0; r < t.shape[0]; r++) yield return data.AsSpan(r * s, s).ToArray();
    }
}
