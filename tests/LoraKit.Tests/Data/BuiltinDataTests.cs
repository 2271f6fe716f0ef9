using System;
using System.Globalization;
using System.Linq;
using System.Text;
using LoraKit.Data;
using Xunit;

namespace LoraKit.Tests.Data;

public class BuiltinDataTests
{
    [Fact]
    public void AdaptationCompletionsFollowTheRule()
    {
        var d = BuiltinData.AdaptationTask(2000, seed: 3);
        Assert.Equal(ExampleKind.PromptCompletion, d.Kind);
        Assert.Equal(2000, d.Count);
        foreach (var e in d.Examples)
        {
            // Independent oracle: .NET's own date parsing and formatting.
            Assert.StartsWith("date: ", e.Prompt);
            Assert.EndsWith("\n", e.Prompt);
            var date = DateTime.ParseExact(e.Prompt!["date: ".Length..^1], "yyyy-MM-dd", CultureInfo.InvariantCulture);
            Assert.Equal(date.ToString("d MMMM yyyy", CultureInfo.InvariantCulture), e.Completion);
            Assert.InRange(date.Year, 1950, 2049);
            Assert.True(Encoding.UTF8.GetByteCount(e.Prompt + e.Completion) < 40);
            Assert.Equal(e.Completion, BuiltinData.ExpectedCompletion(e.Prompt!));
        }
        Assert.Equal(d.Count, d.Examples.Select(e => e.Prompt).Distinct().Count());
        // All twelve months and many days occur.
        Assert.Equal(12, d.Examples.Select(e => e.Completion!.Split(' ')[1]).Distinct().Count());
    }

    [Fact]
    public void ExpectedCompletionRejectsOtherPrompts()
    {
        Assert.Equal("29 February 2024", BuiltinData.ExpectedCompletion("date: 2024-02-29\n"));
        Assert.Null(BuiltinData.ExpectedCompletion("date: 2023-02-29\n"));
        Assert.Null(BuiltinData.ExpectedCompletion("date: 2023-13-01\n"));
        Assert.Null(BuiltinData.ExpectedCompletion("date 2023-01-01"));
    }

    [Fact]
    public void GeneratorsAreDeterministicInTheSeed()
    {
        Assert.Equal(BuiltinData.AdaptationTask(500, 1).Examples, BuiltinData.AdaptationTask(500, 1).Examples);
        Assert.NotEqual(BuiltinData.AdaptationTask(500, 1).Examples, BuiltinData.AdaptationTask(500, 2).Examples);
        Assert.Equal(BuiltinData.PretrainCorpus(500, 1).ContentHash, BuiltinData.PretrainCorpus(500, 1).ContentHash);
        Assert.NotEqual(BuiltinData.PretrainCorpus(500, 1).ContentHash, BuiltinData.PretrainCorpus(500, 2).ContentHash);
        // A smaller set is the start of a larger one with the same seed.
        Assert.Equal(BuiltinData.PretrainCorpus(100, 7).Examples, BuiltinData.PretrainCorpus(300, 7).Examples.Take(100));
    }

    [Fact]
    public void PretrainCorpusIsVariedEnglishWithoutTheAdaptationDomain()
    {
        var d = BuiltinData.PretrainCorpus(3000, 0);
        Assert.Equal(ExampleKind.Text, d.Kind);
        var months = new[] { "January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December", "date" };
        foreach (var e in d.Examples)
        {
            Assert.DoesNotContain(e.Text!, c => char.IsDigit(c) || c > 127);
            Assert.DoesNotContain(months, m => e.Text!.Contains(m, StringComparison.Ordinal));
            Assert.InRange(e.Text!.Length, 10, 200);
            Assert.EndsWith(".", e.Text);
        }
        Assert.True(d.Examples.Select(e => e.Text).Distinct().Count() > 2900);
        var words = d.Examples.SelectMany(e => e.Text!.Split(' ')).Distinct().Count();
        Assert.True(words > 150, $"only {words} distinct words");
    }

    [Fact]
    public void BuiltinSpecsResolve()
    {
        Assert.True(BuiltinData.TryResolve("builtin:adapt", out var adapt));
        Assert.Equal(BuiltinData.DefaultAdaptExamples, adapt!.Count);
        Assert.Equal("builtin:adapt", adapt.Name);
        Assert.Equal(adapt.ContentHash, DatasetSource.Open("builtin").ContentHash);
        var pre = DatasetSource.Open("builtin:pretrain?examples=50&seed=9");
        Assert.Equal(50, pre.Count);
        Assert.Equal(BuiltinData.PretrainCorpus(50, 9).ContentHash, pre.ContentHash);
        Assert.Equal("builtin:pretrain?examples=50&seed=9", pre.Name);
        Assert.False(BuiltinData.TryResolve("data/train.jsonl", out var none));
        Assert.Null(none);
        Assert.Contains("builtin:adapt", Assert.Throws<DataException>(() => DatasetSource.Open("builtin:nope")).Message);
        Assert.Throws<DataException>(() => DatasetSource.Open("builtin:adapt?examples=0"));
        Assert.Throws<DataException>(() => DatasetSource.Open("builtin:adapt?rows=3"));
        Assert.Throws<DataException>(() => DatasetSource.Open($"builtin:adapt?examples={BuiltinData.AdaptationCapacity + 1}"));
    }

    [Fact]
    public void TheAdaptationTaskTokenisesIntoShortRowsWithCompletionOnlyLoss()
    {
        var split = BuiltinData.AdaptationTask(1000, 0).Split();
        Assert.NotNull(split.Validation);
        var t = TokenizedDataset.Create(split.Train, ByteTokenizer.Instance, 48, SequenceMode.Pad);
        Assert.Equal(0, t.DroppedExamples);
        Assert.Equal(0, t.TruncatedExamples);
        var (ids, labels, _) = t.Row(0);
        var e = split.Train.Examples[0];
        var promptLen = 1 + e.Prompt!.Length;
        Assert.All(labels.Take(promptLen), l => Assert.Equal(-100, l));
        Assert.Equal(e.Completion, Encoding.ASCII.GetString(labels.Skip(promptLen).TakeWhile(l => l < 256).Select(l => (byte)l).ToArray()));
        Assert.Equal(ByteTokenizer.Eos, labels[promptLen + e.Completion!.Length]);
        Assert.Equal(ids.Take(promptLen + e.Completion.Length + 1).Skip(promptLen), labels.Skip(promptLen).Take(e.Completion.Length + 1));
    }
}
