using System;
using System.IO;
using System.Linq;
using LoraKit.Builtin;
using LoraKit.Data;
using LoraKit.Modeling;
using LoraKit.Quantization;
using LoraKit.Training;
using Xunit;
using static TorchSharp.torch;

namespace LoraKit.Tests.Quantization;

/// <summary>QLoRA end to end through the trainer: an NF4 base (computing in the trainer's dtype, fp32 on the CPU), fp32 LoRA on top, validation loss falling.</summary>
public class QLoraTrainingTests
{
    private static TrainingOptions Options(string dir, int steps) => new()
    {
        OutputDir = dir, MaxSteps = steps, LearningRate = 1e-2, EvalEvery = steps / 2, CheckpointEvery = 0, WarmupRatio = 0.1, Device = "cpu", Seed = 11,
        StopOnPlateau = false,
    };

    private static TokenizedTrainingData Data(Dataset dataset, ILoraTokenizer tokenizer, int seqLen, int batch)
    {
        var split = dataset.Split(0.1, seed: 3);
        return new TokenizedTrainingData(TokenizedDataset.Create(split.Train, tokenizer, seqLen, SequenceMode.Pack),
            TokenizedDataset.Create(split.Validation!, tokenizer, seqLen, SequenceMode.Pack), batch, 3);
    }

    private static TrainingResult Train(Func<Device, ScalarType, LlamaForCausalLM> baseModel, ITrainingData data, LoraConfig config, int steps, int decoderLayers)
    {
        var dir = Path.Combine(Path.GetTempPath(), "lorakit-qlora-tests", Guid.NewGuid().ToString("N"));
        try
        {
            var quantizedLayers = 0;
            var result = new LoraTrainer((device, dtype) =>
            {
                var model = baseModel(device, dtype);
                quantizedLayers = model.modules().Count(m => m is Nf4Linear);
                return model;
            }, config, data, Options(dir, steps)).Run();
            Assert.Equal(7 * decoderLayers, quantizedLayers); // every decoder linear is 4-bit, the head is not
            return result;
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void QLoRA_on_the_builtin_model_lowers_validation_loss()
    {
        // The builtin architecture (random init, not the pretrained cache, to keep the test short), quantized on load.
        var dims = BuiltinModel.Dimensions;
        var data = Data(BuiltinData.AdaptationTask(examples: 400), ByteTokenizer.Instance, 32, 4);
        var config = new LoraConfig { Rank = 8, Alpha = 16, TargetModules = new[] { "q_proj", "v_proj", "o_proj", "down_proj", "lm_head" } };
        var result = Train((device, dtype) =>
        {
            var m = LlamaForCausalLM.Create(dims, device, dtype, seed: 5);
            Nf4Model.QuantizeInPlace(m);
            return m;
        }, data, config, 20, dims.Layers);
        Assert.True(result.FinalValidationLoss < result.BaseValidationLoss * 0.8, $"base {result.BaseValidationLoss}, final {result.FinalValidationLoss}");
    }

    [Fact]
    public void QLoRA_on_a_bitsandbytes_checkpoint_of_tiny_llama_lowers_validation_loss()
    {
        using var temp = new TempFolder();
        var quantized = temp.File("q");
        Nf4Checkpoint.Quantize(Nf4Fixture.TinyLlama, quantized);
        var tokenizer = HfTokenizer.FromFolder(Nf4Fixture.TinyLlama);
        var data = Data(JsonlDataset.Load(Nf4Fixture.TinyData), tokenizer, 48, 8);
        var config = new LoraConfig { Rank = 8, Alpha = 16, TargetModules = new[] { "q_proj", "v_proj", "lm_head" } };
        // The checkpoint says bnb_4bit_compute_dtype bfloat16; on the CPU the trainer's fp32 is the fast choice.
        var result = Train((device, dtype) => Nf4Checkpoint.Load(quantized, device, dtype, computeDtype: dtype), data, config, 30, 3);
        Assert.True(result.FinalValidationLoss < result.BaseValidationLoss * 0.9, $"base {result.BaseValidationLoss}, final {result.FinalValidationLoss}");
    }
}
