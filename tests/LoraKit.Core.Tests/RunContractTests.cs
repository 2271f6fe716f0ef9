using System;
using System.Linq;
using System.Text.Json;
using LoraKit.Run;
using Xunit;

namespace LoraKit.Core.Tests;

/// <summary>The run contract: training events and their one serializer, and the train request's argument mapping.</summary>
public class TrainingEventJsonTests
{
    public static TheoryData<TrainingEvent> EveryKind() => new()
    {
        new InfoEvent("base builtin; data builtin"),
        new StartEvent("DateAdapter", 8, 16, 2, new[] { "q_proj", "v_proj" }, 28_672, 3_034_368, "cpu", 150, 8.5496, 0),
        new ResumeEvent(40, "/o/checkpoint"),
        new StepEvent(12, 150, 2.5, 3e-3, 7637.5, 123_456_789, 1.25) { ValidationLoss = 2.69 },
        new StepEvent(13, 150, double.NaN, 3e-3, 7637.5, 1, 1.3),
        new EvalEvent(50, 2.69, 8.55, 2.7),
        new DiagnosticEvent("LORA3001", EventSeverity.Error, "line 2 is not JSON") { File = "/d/bad.jsonl", Line = 2 },
        DiagnosticEvent.Warning("LORA3002", "validation loss plateaus") with { TrialRank = 4 },
        new CheckpointEvent(100, "/o/checkpoint"),
        new DoneEvent(150, 8.55, 2.69, 0.685, 20.1, 7637, 8, 16, null, "/o", 28_672, 1),
        new DoneEvent(9, 8.55, double.PositiveInfinity, 0, 1, 1, 8, 16, "non-finite loss", "/o", 28_672, 1),
        new SweepEvent(8, 16, null, "rank 8 reaches 99 % of the best", "/s/report.md", "/s/sweep.png", "/p/lora.lock.json"),
    };

    [Theory]
    [MemberData(nameof(EveryKind))]
    public void Every_event_reads_back_as_written(TrainingEvent e)
    {
        var line = TrainingEventJson.Write(e);
        Assert.DoesNotContain("\n", line);
        Assert.True(TrainingEventJson.TryRead(line, out var read));
        Assert.Equal(e.GetType(), read!.GetType());
        Assert.Equal(e.TrialRank, read.TrialRank);
        Assert.Equal(line, TrainingEventJson.Write(read));
        // An independent reader (System.Text.Json) accepts the line and sees the kind first.
        using var doc = JsonDocument.Parse(line);
        Assert.Equal(e.Kind, doc.RootElement.EnumerateObject().First() is { Name: "event" } first ? first.Value.GetString() : null);
    }

    [Fact]
    public void The_wire_names_are_the_documented_ones()
    {
        using var doc = JsonDocument.Parse(TrainingEventJson.Write(new DiagnosticEvent("LORA3001", EventSeverity.Error, "bad") { File = "/d.jsonl", Line = 7 }));
        Assert.Equal(new[] { "event", "code", "severity", "message", "file", "line" }, doc.RootElement.EnumerateObject().Select(p => p.Name));
        Assert.Equal("error", doc.RootElement.GetProperty("severity").GetString());
        Assert.Equal(7, doc.RootElement.GetProperty("line").GetInt32());
        using var step = JsonDocument.Parse(TrainingEventJson.Write(new StepEvent(1, 2, double.NaN, 0.1, 3, 4, 5)));
        Assert.Equal("NaN", step.RootElement.GetProperty("loss").GetString()); // System.Text.Json's named floating-point literal
    }

    [Fact]
    public void Strings_are_escaped_so_any_json_reader_gets_them_back()
    {
        const string message = "a \"quoted\" C:\\path\nnew line\ttab \u0001 ≥ 5 % é";
        var line = TrainingEventJson.Write(new InfoEvent(message));
        using var doc = JsonDocument.Parse(line);
        Assert.Equal(message, doc.RootElement.GetProperty("message").GetString());
        Assert.True(TrainingEventJson.TryRead(line, out var read));
        Assert.Equal(message, ((InfoEvent)read!).Message);
    }

    [Fact]
    public void Metrics_lines_are_steps_without_the_event_member()
    {
        using var doc = JsonDocument.Parse(TrainingEventJson.WriteMetrics(new StepEvent(3, 10, 1.5, 0.01, 100, 5, 0.5) { ValidationLoss = 1.4 }));
        Assert.False(doc.RootElement.TryGetProperty("event", out _));
        Assert.Equal(3, doc.RootElement.GetProperty("step").GetInt64());
        Assert.Equal(1.4, doc.RootElement.GetProperty("val_loss").GetDouble());
    }

    [Theory]
    [InlineData("a plain line")]
    [InlineData("{\"event\":")]
    [InlineData("[1,2]")]
    [InlineData("{\"no_event\":1}")]
    [InlineData("{\"event\":\"from-a-newer-trainer\",\"x\":1}")]
    public void Other_lines_are_not_events(string line) => Assert.False(TrainingEventJson.TryRead(line, out _));

    [Fact]
    public void An_event_with_a_missing_or_mistyped_member_names_it()
    {
        var e = Assert.Throws<FormatException>(() => TrainingEventJson.TryRead("{\"event\":\"eval\",\"step\":1,\"val_loss\":\"low\",\"base_val_loss\":2,\"train_loss\":1}", out _));
        Assert.Contains("\"val_loss\" must be a number", e.Message);
        e = Assert.Throws<FormatException>(() => TrainingEventJson.TryRead("{\"event\":\"diagnostic\",\"code\":\"LORA3002\",\"severity\":\"fatal\",\"message\":\"m\"}", out _));
        Assert.Contains("severity 'fatal'", e.Message);
    }
}

public class TrainRequestTests
{
    [Fact]
    public void Arguments_leave_out_the_defaults_and_keep_the_table_order()
    {
        var r = TrainRequest.DefaultsFor("models/tiny", "data.jsonl");
        r.Rank = 16;
        r.Targets = new[] { "q_proj", "k_proj" };
        r.Pad = true;
        r.LearningRate = 1e-3;
        Assert.Equal(new[] { "train", "--base", "models/tiny", "--data", "data.jsonl", "--rank", "16", "--targets", "q_proj,k_proj", "--lr", "0.001", "--pad" },
            r.ToArguments());
        Assert.Equal(new[] { "train" }, TrainRequest.DefaultsFor("builtin", "builtin").ToArguments());
    }

    [Fact]
    public void The_builtin_model_and_data_default_to_the_main_jobs_settings()
    {
        var builtin = TrainRequest.DefaultsFor("builtin", "builtin");
        Assert.Equal((150, 3e-3, 64, 16), (builtin.MaxSteps, builtin.LearningRate, builtin.SeqLen, builtin.BatchSize));
        var own = TrainRequest.DefaultsFor("models/tiny", "builtin");
        Assert.Equal((0, 2e-4, 128, 8), (own.MaxSteps, own.LearningRate, own.SeqLen, own.BatchSize));
        Assert.Equal(LoraConfig.DefaultTargetModules, builtin.Targets);
        // A trial on the resolved builtin folder carries the builtin settings explicitly.
        builtin.Base = "/cache/lorakit/builtin";
        Assert.Equal(new[] { "train", "--base", "/cache/lorakit/builtin", "--max-steps", "150", "--batch-size", "16", "--lr", "0.003", "--seq-len", "64" },
            builtin.ToArguments());
    }

    [Fact]
    public void A_sweep_leaves_out_its_own_defaults_and_the_train_only_options()
    {
        var sweep = new SweepRequest { Ranks = new[] { 2, 4 }, LockFile = "/p/lora.lock.json" };
        sweep.Train.Resume = true;
        sweep.Train.Fraction = 0.2;
        Assert.Equal(new[] { "sweep", "--ranks", "2,4", "--lock", "/p/lora.lock.json", "--fraction", "0.2" }, sweep.ToArguments());
        Assert.Equal(new[] { "sweep" }, new SweepRequest().ToArguments());
    }

    [Fact]
    public void Bad_values_name_the_option_and_what_it_takes()
    {
        var r = TrainRequest.DefaultsFor("builtin", "builtin");
        Assert.Equal("--rank: 'eight' is not a whole number", Assert.Throws<ArgumentException>(() => TrainRequest.Option("--rank").Apply(r, "eight")).Message);
        Assert.Equal("--lr: 'NaN' is not a number", Assert.Throws<ArgumentException>(() => TrainRequest.Option("--lr").Apply(r, "NaN")).Message);
        Assert.Throws<ArgumentException>(() => SweepRequest.ParseRanks("4,0"));
        // --quantize takes exactly the names of LoraQuantization's one text form (as LoraKitQuantize and the analyzers do).
        Assert.Equal("--quantize int8 is not one of none, nf4", Assert.Throws<ArgumentException>(() => TrainRequest.Option("--quantize").Apply(r, "int8")).Message);
        Assert.Throws<ArgumentException>(() => TrainRequest.Option("--quantize").Apply(r, "NF4"));
        TrainRequest.Option("--quantize").Apply(r, LoraQuantizationNames.Of(LoraQuantization.Nf4));
        Assert.Equal("nf4", r.Quantize);
        Assert.True(LoraQuantizationNames.TryParse(r.Quantize, out var parsed) && parsed == LoraQuantization.Nf4);
        Assert.Equal(new[] { 4, 8 }, SweepRequest.ParseRanks("4; 8"));
    }
}
