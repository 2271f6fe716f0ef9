using System.Linq;
using LoraKit.Memory;
using LoraKit.Models;
using Xunit;

namespace LoraKit.Core.Tests;

public class MemoryEstimatorTests
{
    private static readonly ModelShape Llama7B = ModelPresets.GetShape("llama2-7b");
    private static readonly LoraConfig Qv8 = new() { Rank = 8, Alpha = 16 };

    [Fact]
    public void Lora_state_costs_16_bytes_per_trainable_parameter()
    {
        var e = MemoryEstimator.Estimate(Llama7B, Qv8, new MemoryOptions());
        Assert.Equal(4_194_304L * 4, e.LoraWeights);
        Assert.Equal(4_194_304L * 4, e.LoraGradients);
        Assert.Equal(4_194_304L * 8, e.OptimizerState);
    }

    [Fact]
    public void A_4bit_base_still_pays_full_precision_lora_state()
    {
        var bf16 = MemoryEstimator.Estimate(Llama7B, Qv8, new MemoryOptions { BasePrecision = WeightPrecision.BFloat16 });
        var nf4 = MemoryEstimator.Estimate(Llama7B, Qv8, new MemoryOptions { BasePrecision = WeightPrecision.NF4 });
        Assert.True(nf4.BaseWeights < bf16.BaseWeights / 3);
        Assert.Equal(bf16.LoraWeights + bf16.LoraGradients + bf16.OptimizerState, nf4.LoraWeights + nf4.LoraGradients + nf4.OptimizerState);
    }

    [Fact]
    public void Base_weight_bytes_by_precision()
    {
        long total = Llama7B.TotalParameters;
        Assert.Equal(total * 4, MemoryEstimator.BaseWeightBytes(Llama7B, WeightPrecision.Float32));
        Assert.Equal(total * 2, MemoryEstimator.BaseWeightBytes(Llama7B, WeightPrecision.BFloat16));
        // NF4 on the 6.48 B linear weights (0.5 B + 4 B absmax per 64 = 0.5625 B), 262 M embed/head/norm params in bf16.
        long linear = 32L * (4 * 4096 * 4096 + 3 * 4096 * 11008);
        long rest = total - linear;
        Assert.Equal(linear / 2 + linear / 64 * 4 + rest * 2, MemoryEstimator.BaseWeightBytes(Llama7B, WeightPrecision.NF4));
        Assert.True(MemoryEstimator.BaseWeightBytes(Llama7B, WeightPrecision.Int8) < total * 2);
    }

    [Fact]
    public void More_targets_and_higher_rank_cost_more()
    {
        var o = new MemoryOptions { BatchSize = 4, SequenceLength = 1024 };
        var qv8 = MemoryEstimator.Estimate(Llama7B, Qv8, o).Total;
        var qv16 = MemoryEstimator.Estimate(Llama7B, new LoraConfig { Rank = 16, Alpha = 32 }, o).Total;
        var qkv8 = MemoryEstimator.Estimate(Llama7B, new LoraConfig { Rank = 8, Alpha = 16, TargetModules = new[] { "q_proj", "k_proj", "v_proj" } }, o).Total;
        Assert.True(qv16 > qv8);
        Assert.True(qkv8 > qv8);
    }

    [Fact]
    public void Activations_scale_with_batch_and_sequence_and_drop_with_checkpointing()
    {
        var a = MemoryEstimator.Estimate(Llama7B, Qv8, new MemoryOptions { BatchSize = 1, SequenceLength = 512 });
        var b = MemoryEstimator.Estimate(Llama7B, Qv8, new MemoryOptions { BatchSize = 2, SequenceLength = 512 });
        var c = MemoryEstimator.Estimate(Llama7B, Qv8, new MemoryOptions { BatchSize = 1, SequenceLength = 512, GradientCheckpointing = LoraGradientCheckpointing.On });
        var d = MemoryEstimator.Estimate(Llama7B, Qv8, new MemoryOptions { BatchSize = 1, SequenceLength = 512, FusedAttention = false });
        Assert.Equal(2 * a.Activations, b.Activations);
        Assert.True(c.Activations < a.Activations / 5);
        Assert.True(d.Activations > a.Activations);
        var wholeA = MemoryEstimator.Estimate(Llama7B, Qv8, new MemoryOptions { BatchSize = 1, SequenceLength = 512, ChunkedLoss = false });
        var wholeB = MemoryEstimator.Estimate(Llama7B, Qv8, new MemoryOptions { BatchSize = 2, SequenceLength = 512, ChunkedLoss = false });
        Assert.Equal(2 * wholeA.Logits, wholeB.Logits);
    }

    [Fact]
    public void Unfused_attention_counts_only_the_window_of_keys_in_windowed_layers()
    {
        // 4 layers, the last two with W = 64 (Qwen2's max_window_layers = 2); b = 1, s = 256, 4 heads, bf16 activations.
        var dims = new LlamaDimensions { ModelType = "qwen2", HiddenSize = 64, IntermediateSize = 128, Layers = 4, AttentionHeads = 4, KeyValueHeads = 2, VocabSize = 10, QkvBias = true };
        var windowed = dims with { SlidingWindow = 64, FirstSlidingLayer = 2 };
        var o = new MemoryOptions { BatchSize = 1, SequenceLength = 256, FusedAttention = false };
        var full = MemoryEstimator.Estimate(ModelShape.FromLlama("f", dims), Qv8, o);
        var slid = MemoryEstimator.Estimate(ModelShape.FromLlama("w", windowed), Qv8, o);
        // Two layers keep 2·b·heads·s·W instead of 2·b·heads·s·s elements.
        Assert.Equal(2L * 2 * 1 * 4 * 256 * (256 - 64) * o.ActivationBytes, full.Activations - slid.Activations);
        // A window at least as long as the sequence changes nothing.
        var wide = MemoryEstimator.Estimate(ModelShape.FromLlama("w", dims with { SlidingWindow = 256 }), Qv8, o);
        Assert.Equal(full.Activations, wide.Activations);
    }

    [Fact]
    public void Activation_formula_by_hand_for_a_small_model()
    {
        var model = ModelShape.FromLlama("s", new LlamaDimensions { HiddenSize = 64, IntermediateSize = 128, Layers = 2, AttentionHeads = 4, KeyValueHeads = 2, VocabSize = 10 });
        var config = new LoraConfig { Rank = 2, Alpha = 4 };
        var e = MemoryEstimator.Estimate(model, config, new MemoryOptions { BatchSize = 3, SequenceLength = 5, ActivationBytes = 4, ChunkedLoss = false });
        long perLayer = 3 * 5 * (6 * 64 + 3 * 32 + 4 * 128);
        long lora = 4 /*modules*/ * 3 * 5 * 2 * 4 /*fp32 A outputs*/;
        long backward = 3 * 5 * (2 * 64 + 2 * 128) * 4; // the hidden state's and the MLP intermediate's gradients
        Assert.Equal(2 * perLayer * 4 + lora + backward, e.Activations);
        Assert.Equal(3L * 5 * 10 * 12, e.Logits); // fp32 logits, log-softmax output, their gradient
        // Checkpointed: the 3 hidden states entering the 2 layers and the final norm, one layer recomputed, half the adapters' tensors.
        var c = MemoryEstimator.Estimate(model, config, new MemoryOptions { BatchSize = 3, SequenceLength = 5, ActivationBytes = 4, GradientCheckpointing = LoraGradientCheckpointing.On });
        Assert.Equal((3 * 3 * 5 * 64 + perLayer) * 4 + lora / 2 + backward, c.Activations);
        // The chunked loss: one chunk's logits (here all 15 tokens) and the float32 gradient of the final hidden state.
        Assert.Equal(15L * 10 * 12 + 15 * 64 * 4, c.Logits);
    }

    [Fact]
    public void Lora_activations_by_hand_with_dropout_and_under_a_16_bit_base()
    {
        var model = ModelShape.FromLlama("s", new LlamaDimensions { HiddenSize = 64, IntermediateSize = 128, Layers = 2, AttentionHeads = 4, KeyValueHeads = 2, VocabSize = 10 });
        var qv = new LoraConfig { Rank = 2, Alpha = 4 };
        var down = new LoraConfig { Rank = 2, Alpha = 4, Dropout = 0.1, TargetModules = new[] { "down_proj" } };
        const long tokens = 3 * 5;
        MemoryOptions Options(int bytes) => new() { BatchSize = 3, SequenceLength = 5, ActivationBytes = bytes };

        // fp32 base, no dropout: only the fp32 A outputs (4 B × r) of q and v in 2 layers.
        Assert.Equal(4 * tokens * 4 * 2, MemoryEstimator.LoraActivationBytes(model, qv, Options(4)));
        // bf16 base: each adapted module also keeps the fp32 copy of its input (4 B × 64).
        Assert.Equal(4 * tokens * (4 * 2 + 4 * 64), MemoryEstimator.LoraActivationBytes(model, qv, Options(2)));
        // dropout on down_proj (in = 128): the dropped fp32 input (4 B) and the bool mask (1 B) per input feature.
        Assert.Equal(2 * tokens * (4 * 2 + 5 * 128), MemoryEstimator.LoraActivationBytes(model, down, Options(2)));
        var e = MemoryEstimator.Estimate(model, down, Options(2));
        Assert.Equal(MemoryEstimator.LoraActivationBytes(model, down, Options(2)), e.Activations - 2 * tokens * (6 * 64 + 3 * 32 + 4 * 128) * 2 - tokens * (2 * 64 + 2 * 128) * 2);
    }

    [Fact]
    public void Seven_b_bf16_total_is_the_sum_of_its_parts()
    {
        // 6,738,415,616 parameters × 2 bytes = 12.55 GiB of bf16 weights.
        var e = MemoryEstimator.Estimate(Llama7B, Qv8, new MemoryOptions { BatchSize = 1, SequenceLength = 512, ChunkedLoss = false });
        Assert.InRange(e.BaseWeights / (1024.0 * 1024 * 1024), 12.55, 12.56);
        // q_proj and v_proj in 32 layers: fp32 A output (4 B × r=8) + fp32 copy of the bf16 input (4 B × 4096) per token.
        long activations = 512L * 32 * (6 * 4096 + 3 * 4096 + 4 * 11008) * 2 + 64L * 512 * (4 * 8 + 4 * 4096) + 512L * (2 * 4096 + 2 * 11008) * 2;
        Assert.Equal(activations, e.Activations);
        long logits = 512L * 32000 * 12; // at the start of backward: log-softmax's fp32 output, the gradient nll_loss hands it, the one it gives (the bf16 logits are gone)
        Assert.Equal(logits, e.Logits);
        // CUDA: the context plus the allocator's cache of the step's transient tensors.
        Assert.Equal(MemoryEstimator.CudaContextBytes + (long)(MemoryEstimator.AllocatorCacheFraction * (activations + logits + 4_194_304L * 4)), e.Overhead);
        Assert.Equal(e.BaseWeights + 16 * 4_194_304L + activations + logits + e.Overhead, e.Total);
        Assert.Equal(0, MemoryEstimator.Estimate(Llama7B, Qv8, new MemoryOptions { Device = MemoryDevice.Cpu }).Overhead);
    }
}

public class FitTests
{
    private static readonly ModelShape Llama31 = ModelShape.FromLlama("llama3.1-8b", HfConfig.Parse(System.IO.File.ReadAllText(TestFiles.Config("llama3.1-8b")), "llama3.1-8b.json"));
    private static readonly LoraConfig AllLinear16 = new() { Rank = 16, Alpha = 32, Dropout = 0.05, TargetModules = new[] { "all-linear" } };

    [Fact]
    public void Offload_keeps_two_hidden_states_on_the_gpu_and_the_rest_in_host_memory()
    {
        var o = new MemoryOptions { BasePrecision = WeightPrecision.NF4, SequenceLength = 4096, GradientCheckpointing = LoraGradientCheckpointing.On };
        var on = MemoryEstimator.Estimate(Llama31, AllLinear16, o);
        var offload = MemoryEstimator.Estimate(Llama31, AllLinear16, o with { GradientCheckpointing = LoraGradientCheckpointing.Offload });
        long hidden = 4096L * 4096 * 2;
        Assert.Equal((32 + 1 - 2) * hidden, on.Activations - offload.Activations);
        Assert.Equal(32 * hidden, offload.HostOffload);
        Assert.Equal(0, on.HostOffload);
        // On the CPU offload is plain checkpointing.
        var cpu = MemoryEstimator.Estimate(Llama31, AllLinear16, o with { GradientCheckpointing = LoraGradientCheckpointing.Offload, Device = MemoryDevice.Cpu });
        Assert.Equal(on.Activations, cpu.Activations);
        Assert.Equal(0, cpu.HostOffload);
    }

    [Fact]
    public void An_attention_mask_costs_its_seq_squared_bytes()
    {
        var o = new MemoryOptions { SequenceLength = 1000, BatchSize = 2 };
        var plain = MemoryEstimator.Estimate(Llama31, AllLinear16, o);
        var masked = MemoryEstimator.Estimate(Llama31, AllLinear16, o with { AttentionMask = true });
        Assert.Equal(2L * 1000 * 1000 * (1 + 2) + 2L * 1000 * 1000, masked.Activations - plain.Activations);
    }

    [Fact]
    public void The_chunked_loss_holds_one_chunk_of_logits()
    {
        Assert.Equal(170, MemoryEstimator.LossChunkTokens(49_152));
        Assert.Equal(65, MemoryEstimator.LossChunkTokens(128_256));
        var o = new MemoryOptions { SequenceLength = 16_384 };
        var whole = MemoryEstimator.Estimate(Llama31, AllLinear16, o with { ChunkedLoss = false }).Logits;
        var chunked = MemoryEstimator.Estimate(Llama31, AllLinear16, o).Logits;
        Assert.Equal(16_384L * 128_256 * 12, whole); // bf16 logits dropped before backward
        Assert.Equal(65L * 128_256 * 14 + 16_384L * 4096 * 4, chunked);
    }

    [Fact]
    public void Llama_3_1_8b_qlora_fits_24_gib_at_16k_tokens_with_checkpointing_and_not_without()
    {
        var o = new MemoryOptions { BasePrecision = WeightPrecision.NF4, BatchSize = 1, SequenceLength = 16_384 };
        Assert.True(MemoryEstimator.Estimate(Llama31, AllLinear16, o).TotalGiB > 24);
        Assert.True(MemoryEstimator.Estimate(Llama31, AllLinear16, o with { GradientCheckpointing = LoraGradientCheckpointing.On }).TotalGiB <= 24);
        var longest = FitPlan.Settings(o).Select(s => FitPlan.LargestSequenceLength(Llama31, AllLinear16, s.Options, 24)).ToArray();
        Assert.True(longest[0] < 16_384 && longest[1] >= 16_384 && longest[2] > longest[1], string.Join(", ", longest));
        // The longest length fits and one more token does not.
        var on = o with { GradientCheckpointing = LoraGradientCheckpointing.On };
        Assert.True(MemoryEstimator.Estimate(Llama31, AllLinear16, on with { SequenceLength = longest[1] }).TotalGiB <= 24);
        Assert.True(MemoryEstimator.Estimate(Llama31, AllLinear16, on with { SequenceLength = longest[1] + 1 }).TotalGiB > 24);
    }

    [Fact]
    public void The_fit_plan_names_the_cheapest_change_first()
    {
        var o = new MemoryOptions { BasePrecision = WeightPrecision.NF4, BatchSize = 1, SequenceLength = 16_384 };
        var plan = FitPlan.Cheapest(Llama31, AllLinear16, o, 24)!;
        Assert.Equal("--gradient-checkpointing", plan.Description);
        Assert.Equal(LoraGradientCheckpointing.On, plan.Options.GradientCheckpointing);
        // Checkpointing is not enough at 32k on 24 GiB, offload is.
        var longer = FitPlan.Cheapest(Llama31, AllLinear16, o with { SequenceLength = 32_768 }, 24)!;
        Assert.Equal("--gradient-checkpointing offload", longer.Description);
        // Already fitting: no plan. A bf16 base that no switch saves at 8 GiB: batch and sequence come down.
        Assert.Null(FitPlan.Cheapest(Llama31, AllLinear16, o with { GradientCheckpointing = LoraGradientCheckpointing.On }, 24));
        var tight = FitPlan.Cheapest(Llama31, AllLinear16, new MemoryOptions { BatchSize = 4, SequenceLength = 4096 }, 8)!;
        Assert.Contains("--quantize nf4", tight.Description);
        Assert.True(tight.Estimate.TotalGiB <= 8);
        // Nothing fits: the base alone is larger than the card.
        Assert.Null(FitPlan.Cheapest(Llama31, AllLinear16, new MemoryOptions { BasePrecision = WeightPrecision.NF4 }, 4));
    }

    [Fact]
    public void Lora1006_names_the_plan_and_carries_the_checkpointing_it_asks_for()
    {
        var o = new MemoryOptions { BasePrecision = WeightPrecision.NF4, BatchSize = 1, SequenceLength = 16_384 };
        var finding = LoraKit.Rules.LoraRuleChecker.CheckMemory(Llama31, AllLinear16, o, 24, "A")!;
        Assert.Contains("the cheapest change that fits: --gradient-checkpointing (≈ ", finding.Message);
        Assert.Equal("on", finding.Argument);
        var byBatch = LoraKit.Rules.LoraRuleChecker.CheckMemory(Llama31, AllLinear16, o with { GradientCheckpointing = LoraGradientCheckpointing.Offload, BatchSize = 8 }, 24, "A")!;
        Assert.Contains("batch size", byBatch.Message);
        Assert.Null(byBatch.Argument);
    }
}

public class MemoryRuleTests
{
    [Fact]
    public void Fires_only_above_the_gpu_memory()
    {
        var e = new LoraKit.Memory.MemoryEstimate(10L << 30, 1L << 30, 1L << 30, 2L << 30, 1L << 30, 0, 1L << 30); // 16 GiB
        Assert.Null(LoraKit.Rules.LoraRuleChecker.CheckMemory(e, 16, "A"));
        var f = LoraKit.Rules.LoraRuleChecker.CheckMemory(e, 15.9, "A");
        Assert.NotNull(f);
        Assert.Equal("LORA1006", f!.Id);
        Assert.StartsWith("A: estimated peak training memory 16.00 GiB exceeds the GPU's 15.9 GiB (base weights 10.00 GiB, LoRA state 4.00 GiB, activations 1.00 GiB)", f.Message);
        Assert.Null(LoraKit.Rules.LoraRuleChecker.CheckMemory(e, 0, "A")); // 0 = not configured
    }
}
