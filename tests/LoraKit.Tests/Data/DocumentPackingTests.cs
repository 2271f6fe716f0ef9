using System;
using System.Collections.Generic;
using System.Linq;
using LoraKit.Data;
using LoraKit.Lora;
using LoraKit.Modeling;
using LoraKit.Tests.Modeling;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace LoraKit.Tests.Data;

/// <summary>
/// <see cref="SequenceMode.Documents"/>: whole examples share rows without seeing each other; each example's loss in a
/// packed row equals its loss scored alone (≤ 1e-5), which concat packing does not give.
/// </summary>
public class DocumentPackingTests
{
    private static readonly ByteTokenizer Bytes = ByteTokenizer.Instance;

    private static readonly Example[] Examples =
    {
        Example.FromText("the cat sat"),
        Example.FromPromptCompletion("2+2=", "four"),
        Example.FromText("a much longer line of text that fills most of a row"),
        Example.FromText("hi"),
        Example.FromPromptCompletion("q: colour of sky? a:", " blue"),
        Example.FromText("short one"),
    };

    [Fact]
    public void Rows_hold_whole_examples_with_restarting_positions_and_example_numbers()
    {
        var t = TokenizedDataset.Create(Examples, Bytes, 64, SequenceMode.Documents);
        Assert.True(t.RowCount < Examples.Length, "several examples share a row");
        using var batch = t.Batches(t.RowCount, shuffle: false, seed: 0).Single();
        Assert.NotNull(batch.PositionIds);
        var mask = batch.AttentionMask.data<long>().ToArray();
        var positions = batch.PositionIds!.data<long>().ToArray();
        var labels = batch.Labels.data<long>().ToArray();
        var ids = batch.InputIds.data<long>().ToArray();
        var expected = Examples.Select(e => TokenizedDataset.EncodeExample(e, Bytes).InputIds).ToList();
        var found = new List<long[]>();
        for (var i = 0; i < mask.Length; i++)
        {
            if (mask[i] == 0) continue;
            if (i % 64 == 0 || mask[i] != mask[i - 1])
            {
                Assert.Equal(0, positions[i]);
                Assert.Equal(TokenizedDataset.IgnoreIndex, labels[i]); // a first token is never a target
                found.Add(Array.Empty<long>());
            }
            else Assert.Equal(positions[i - 1] + 1, positions[i]);
            found[^1] = found[^1].Append(ids[i]).ToArray();
        }
        Assert.Equal(expected.Count, found.Count);
        for (var k = 0; k < expected.Count; k++) Assert.Equal(expected[k], found[k]); // dataset order, none split
        Assert.True(batch.NeedsMask);
    }

    [Fact]
    public void Each_packed_example_scores_as_it_does_alone()
    {
        var dims = TinyLlamas.UntiedGqa with { VocabSize = Bytes.VocabSize, MaxPositionEmbeddings = 128 };
        using var model = LlamaForCausalLM.Create(dims, seed: 7);
        LoraInjector.Inject(model, new LoraConfig { Rank = 4, Alpha = 8, InitWeights = LoraInitWeights.Random }, "default", seed: 1);
        model.eval();
        using var noGrad = torch.no_grad();

        var packed = ScorePacked(model, TokenizedDataset.Create(Examples, Bytes, 64, SequenceMode.Documents));
        Assert.Equal(Examples.Length, packed.Count);
        for (var k = 0; k < Examples.Length; k++)
        {
            var (ids, labels) = TokenizedDataset.EncodeExample(Examples[k], Bytes);
            labels[0] = TokenizedDataset.IgnoreIndex;
            var alone = Score(model, ids, labels, null, null).Single();
            Assert.True(Math.Abs(alone - packed[k]) <= 1e-5 * Math.Abs(alone), $"example {k}: alone {alone}, packed {packed[k]}");
        }

        // The control: concat packing (examples see each other, positions run on) scores them differently.
        var concat = TokenizedDataset.Create(Examples.Take(3).ToArray(), Bytes, 64, SequenceMode.Pack);
        var (cIds, cLabels, _) = concat.Row(0);
        var (secondIds, secondLabels) = TokenizedDataset.EncodeExample(Examples[1], Bytes);
        secondLabels[0] = TokenizedDataset.IgnoreIndex;
        var secondAlone = Score(model, secondIds, secondLabels, null, null).Single();
        var offset = TokenizedDataset.EncodeExample(Examples[0], Bytes).InputIds.Length;
        var segment = Enumerable.Repeat(TokenizedDataset.IgnoreIndex, cLabels.Length).ToArray();
        for (var j = 1; j < secondIds.Length; j++) segment[offset + j] = cLabels[offset + j];
        var secondInConcat = Score(model, cIds, segment, null, null).Single();
        Assert.True(Math.Abs(secondInConcat - secondAlone) > 1e-3, "without document masking the neighbour changes the score");
    }

    /// <summary>Mean loss per example (by example number) of every row of a Documents dataset.</summary>
    private static List<double> ScorePacked(LlamaForCausalLM model, TokenizedDataset t)
    {
        var result = new List<double>();
        for (var r = 0; r < t.RowCount; r++)
        {
            var (ids, labels, mask) = t.Row(r);
            using var batch = t.Batches(1, shuffle: false, seed: 0).Skip(r).First();
            var positions = batch.PositionIds!.data<long>().ToArray();
            result.AddRange(Score(model, ids, labels, mask, positions));
        }
        return result;
    }

    /// <summary>Mean next-token loss of each example (by mask value; one example when <paramref name="mask"/> is null) in one row.</summary>
    private static IEnumerable<double> Score(LlamaForCausalLM model, long[] ids, long[] labels, long[]? mask, long[]? positions)
    {
        var n = ids.Length;
        using var scope = NewDisposeScope();
        var input = torch.tensor(ids, new long[] { 1, n });
        var hidden = model.model.forward(input, mask is null ? null : torch.tensor(mask, new long[] { 1, n }),
            positions is null ? null : torch.tensor(positions, new long[] { 1, n }));
        var nll = ChunkedCausalLmLoss.TokenLosses(model.lm_head, model.Dimensions.VocabSize, hidden, torch.tensor(labels, new long[] { 1, n }))
            .reshape(-1).to(ScalarType.Float64).data<double>().ToArray();
        var sums = new SortedDictionary<long, (double Sum, int Count)>();
        for (var j = 0; j + 1 < n; j++)
        {
            if (labels[j + 1] == TokenizedDataset.IgnoreIndex) continue;
            var doc = mask?[j + 1] ?? 1;
            sums.TryGetValue(doc, out var s);
            sums[doc] = (s.Sum + nll[j], s.Count + 1);
        }
        return sums.Values.Select(v => v.Sum / v.Count).ToList();
    }
}
