using System;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using LoraKit.Data;
using LoraKit.Models;
using LoraKit.Modeling;
using LoraKit.Training;
using Xunit;

namespace LoraKit.Tests.Data.Chat;

/// <summary>A tiny end-to-end run: chat JSONL, the tiny byte-level BPE tokenizer with its chat template, a LoRA run that learns.</summary>
public class ChatTrainingTests
{
    [Fact]
    public void A_tiny_run_on_chat_data_trains_on_the_answers_and_lowers_validation_loss()
    {
        // The answer repeats the user's word backwards: learnable only from the assistant tokens.
        var words = new[] { "cat", "dog", "sun", "map", "red", "top", "bus", "pen", "cup", "hat", "box", "net" };
        var jsonl = new StringBuilder();
        foreach (var w in words.Concat(words.Select(w => w + w[0])))
            jsonl.Append("{\"messages\": [{\"role\": \"user\", \"content\": \"reverse ").Append(w)
                .Append("\"}, {\"role\": \"assistant\", \"content\": \"").Append(new string(w.Reverse().ToArray())).Append("\"}]}\n");
        var dataset = JsonlDataset.Parse("chat.jsonl", Encoding.UTF8.GetBytes(jsonl.ToString()));
        var split = dataset.Split(0.25, 1.0, 3);
        var tok = HfTokenizer.FromFolder(ChatDataTests.TinyFolder);
        var train = TokenizedDataset.Create(split.Train, tok, 64, SequenceMode.Pad);
        var validation = TokenizedDataset.Create(split.Validation!, tok, 64, SequenceMode.Pad);
        Assert.Equal(split.Train.Count, train.RowCount);

        // Every target is an answer token, its </s> or the newline after it: a few per example, never the prompt.
        var row = train.Row(0);
        var targets = row.Labels.Where(l => l != TokenizedDataset.IgnoreIndex).Select(l => (int)l).ToArray();
        Assert.Contains(298, targets);
        Assert.Equal(new string(split.Train.Examples[0].Messages![1].Content) + "\n", tok.Decode(targets));

        var dims = new LlamaDimensions
        {
            ModelType = "llama", HiddenSize = 32, IntermediateSize = 48, Layers = 2, AttentionHeads = 4, KeyValueHeads = 2,
            VocabSize = tok.VocabSize, RopeTheta = 10000.0, RmsNormEps = 1e-5, MaxPositionEmbeddings = 128,
        };
        var dir = Path.Combine(Path.GetTempPath(), "lorakit-chat-train", Guid.NewGuid().ToString("N"));
        var options = new TrainingOptions
        {
            OutputDir = dir, MaxSteps = 12, LearningRate = 3e-2, EvalEvery = 6, CheckpointEvery = 0, WarmupRatio = 0.1, Device = "cpu", Seed = 7,
        };
        var config = new LoraConfig { Rank = 4, Alpha = 8, TargetModules = new[] { "q_proj", "v_proj", "o_proj", "down_proj", "lm_head" } };
        try
        {
            var trainer = new LoraTrainer((device, dtype) => LlamaForCausalLM.Create(dims, device, dtype, 5), config,
                new TokenizedTrainingData(train, validation, 4, 7), options, _ => { }, CancellationToken.None);
            var result = trainer.Run();
            Assert.Equal(12, result.Steps);
            Assert.True(result.FinalValidationLoss < result.BaseValidationLoss * 0.8, $"base {result.BaseValidationLoss}, final {result.FinalValidationLoss}");
            Assert.True(File.Exists(Path.Combine(dir, "adapter_model.safetensors")));
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, true);
        }
    }
}
