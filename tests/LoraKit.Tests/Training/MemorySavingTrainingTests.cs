using System;
using System.IO;
using System.Linq;
using LoraKit.Lora;
using LoraKit.Models;
using LoraKit.Modeling;
using LoraKit.SafeTensors;
using LoraKit.Tests.Modeling;
using LoraKit.Training;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace LoraKit.Tests.Training;

/// <summary>
/// Whole training runs (fp32 CPU, LoRA dropout 0.1, the head adapted too): checkpointed and offloaded runs write the
/// same adapter as a plain run, bit for bit; the chunked loss (the default) the adapter of the whole-logits loss within 1e-5.
/// </summary>
public class MemorySavingTrainingTests
{
    private static readonly LlamaDimensions Dims = TinyLlamas.UntiedGqa;
    private static readonly LoraConfig Config = new() { Rank = 4, Alpha = 8, Dropout = 0.1, TargetModules = new[] { "q_proj", "v_proj", "o_proj", "down_proj", "lm_head" } };

    private static string Train(LoraGradientCheckpointing checkpointing, bool chunked)
    {
        var dir = Path.Combine(Path.GetTempPath(), "lorakit-fit-tests", Guid.NewGuid().ToString("N"));
        var options = new TrainingOptions
        {
            OutputDir = dir, MaxSteps = 6, LearningRate = 1e-2, EvalEvery = 3, CheckpointEvery = 0, WarmupRatio = 0.1, Device = "cpu", Seed = 11,
            GradientCheckpointing = checkpointing,
        };
        LlamaForCausalLM Base(Device device, ScalarType dtype)
        {
            var model = LlamaForCausalLM.Create(Dims, device, dtype, 5);
            model.ChunkedLoss = chunked;
            model.LossChunkTokens = 5; // several chunks per 4 × 16-token batch
            return model;
        }
        new LoraTrainer(Base, Config, new SyntheticData(4, 16, 8, 16, 4), options).Run();
        return Path.Combine(dir, "adapter_model.safetensors");
    }

    [Fact]
    public void Checkpointed_offloaded_and_chunked_runs_train_the_plain_runs_adapter()
    {
        var plain = Train(LoraGradientCheckpointing.None, chunked: true);
        var whole = Train(LoraGradientCheckpointing.None, chunked: false);
        using var p = SafeTensorsFile.Open(plain);
        foreach (var mode in new[] { LoraGradientCheckpointing.On, LoraGradientCheckpointing.Offload })
        {
            using var c = SafeTensorsFile.Open(Train(mode, chunked: true));
            foreach (var t in p.Tensors)
                Assert.True(p.GetBytes(t.Name).SequenceEqual(c.GetBytes(t.Name)), $"{mode}: {t.Name} differs");
        }
        using var w = SafeTensorsFile.Open(whole);
        foreach (var t in p.Tensors)
        {
            var a = Floats(p.GetBytes(t.Name).ToArray());
            var b = Floats(w.GetBytes(t.Name).ToArray());
            double diff = 0, norm = 0;
            for (var i = 0; i < a.Length; i++)
            {
                diff += (a[i] - b[i]) * (double)(a[i] - b[i]);
                norm += b[i] * (double)b[i];
            }
            // Not bit for bit: the adapted head's gradient sums its chunks in another order than one matmul does.
            Assert.True(Math.Sqrt(diff) <= 1e-5 * Math.Sqrt(norm), $"chunked vs whole logits: {t.Name} relative difference {Math.Sqrt(diff / Math.Max(norm, 1e-300))}");
        }
    }

    private static float[] Floats(byte[] bytes)
    {
        var values = new float[bytes.Length / 4];
        Buffer.BlockCopy(bytes, 0, values, 0, bytes.Length);
        return values;
    }
}
