using System;
using LoraKit.Lora;
using LoraKit.Modeling;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace LoraKit.Tests.HfReference;

/// <summary>
/// LoraKit's forward pass and loss against transformers (bases) and PEFT (adapters, eval mode) on the
/// checkpoints those libraries wrote: every logit within 1e-4 and the mean loss within 1e-5.
/// </summary>
public class HfReferenceLogitsTests
{
    /// <summary>Largest allowed |LoraKit − transformers| over all logits.</summary>
    private const double LogitTolerance = 1e-4;

    /// <summary>Largest allowed |LoraKit − transformers| of the mean next-token loss.</summary>
    private const double LossTolerance = 1e-5;

    private readonly ITestOutputHelper _output;

    public HfReferenceLogitsTests(ITestOutputHelper output) => _output = output;

    public static TheoryData<string> Bases => new() { "tiny-llama", "tiny-qwen2", "tiny-mistral", "tiny-gemma2", "tiny-phi3" };

    public static TheoryData<string, string> Adapters => new()
    {
        { "peft-llama-r4", "tiny-llama" }, { "peft-qwen2-r4", "tiny-qwen2" }, { "peft-gemma2-r4", "tiny-gemma2" }, { "peft-phi3-r4", "tiny-phi3" },
    };

    [Theory]
    [MemberData(nameof(Bases))]
    public void Base_model_matches_transformers(string name)
    {
        var reference = HfReferenceFiles.Load(name);
        using var model = HfCheckpoint.Load(HfReferenceFiles.Folder(name));
        model.eval();
        Assert.Equal(reference.ParameterCount, model.ParameterCount());
        AssertMatches(model, reference);
    }

    [Theory]
    [MemberData(nameof(Adapters))]
    public void Base_with_peft_adapter_matches_peft(string adapter, string baseName)
    {
        var reference = HfReferenceFiles.Load(adapter);
        Assert.Equal(baseName, reference.Json.GetProperty("base").GetString());
        using var model = HfCheckpoint.Load(HfReferenceFiles.Folder(baseName));
        var injection = LoraAdapterFiles.Load(model, HfReferenceFiles.Folder(adapter));
        model.eval();
        Assert.Equal(reference.Json.GetProperty("trainable_parameters").GetInt64(), injection.TrainableParameters);
        Assert.Equal(reference.Json.GetProperty("scaling").GetDouble(), injection.Config.Scaling);
        AssertMatches(model, reference);
    }

    private void AssertMatches(LlamaForCausalLM model, ReferenceRun reference)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();

        var plain = reference.Batch;
        var logits = model.forward(plain.Ids());
        var logitDiff = (logits.to(ScalarType.Float64) - plain.ExpectedLogits()).abs().max().item<double>();
        var loss = LlamaForCausalLM.CausalLmLoss(logits, plain.LabelTensor()).item<float>();
        _output.WriteLine($"{reference.Name}: max |Δlogit| {logitDiff:E2}, |Δloss| {Math.Abs(loss - plain.Loss):E2} (loss {loss} vs {plain.Loss})");
        Assert.True(logitDiff <= LogitTolerance, $"{reference.Name}: max |logit − transformers| = {logitDiff:E3} > {LogitTolerance:E0}");
        Assert.True(Math.Abs(loss - plain.Loss) <= LossTolerance, $"{reference.Name}: loss {loss} vs transformers {plain.Loss}");

        // Right padding: only the real positions carry meaning (labels are −100 on padding, and the
        // reference says its padded logits equal the unpadded ones there); compare those.
        var padded = reference.Padded;
        var mask = padded.Mask()!;
        var paddedLogits = model.forward(padded.Ids(), mask);
        var real = mask.to(ScalarType.Bool).unsqueeze(-1).expand(paddedLogits.shape);
        var paddedDiff = (paddedLogits.to(ScalarType.Float64) - padded.ExpectedLogits()).abs().masked_fill(real.logical_not(), 0).max().item<double>();
        var paddedLoss = LlamaForCausalLM.CausalLmLoss(paddedLogits, padded.LabelTensor()).item<float>();
        _output.WriteLine($"{reference.Name} padded: max |Δlogit| {paddedDiff:E2}, |Δloss| {Math.Abs(paddedLoss - padded.Loss):E2}");
        Assert.True(mask.sum().item<long>() < mask.numel(), "the padded batch has padding");
        Assert.True(paddedDiff <= LogitTolerance, $"{reference.Name} padded: max |logit − transformers| on real positions = {paddedDiff:E3}");
        Assert.True(Math.Abs(paddedLoss - padded.Loss) <= LossTolerance, $"{reference.Name} padded: loss {paddedLoss} vs transformers {padded.Loss}");

        // The training loss as it runs by default (chunked LM head + cross-entropy, Gemma 2's final soft-capping in
        // each chunk), on the plain and the padded batch, against transformers' losses too.
        Assert.True(model.ChunkedLoss, "the chunked loss is the default");
        var chunked = model.Loss(plain.Ids(), plain.LabelTensor()).item<float>();
        var chunkedPadded = model.Loss(padded.Ids(), padded.LabelTensor(), mask).item<float>();
        _output.WriteLine($"{reference.Name} chunked: |Δloss| {Math.Abs(chunked - plain.Loss):E2}, padded {Math.Abs(chunkedPadded - padded.Loss):E2}");
        Assert.True(Math.Abs(chunked - plain.Loss) <= LossTolerance, $"{reference.Name} chunked: loss {chunked} vs transformers {plain.Loss}");
        Assert.True(Math.Abs(chunkedPadded - padded.Loss) <= LossTolerance, $"{reference.Name} chunked padded: loss {chunkedPadded} vs transformers {padded.Loss}");
    }
}
