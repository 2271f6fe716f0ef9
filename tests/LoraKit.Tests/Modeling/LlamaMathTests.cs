using System;
using System.Linq;
using LoraKit.Modeling;
using LoraKit.Models;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace LoraKit.Tests.Modeling;

public class LlamaMathTests
{
    [Fact]
    public void Rotary_matches_a_hand_computation_in_rotate_half_layout()
    {
        const int heads = 2, seq = 3, d = 8;
        const double theta = 10000.0;
        var x = TinyLlamas.Randn(7, 1, heads, seq, d);
        var positions = torch.tensor(new long[] { 0, 5, 11 }).view(1, seq);
        var (cos, sin) = LlamaRotary.CosSin(positions, LlamaRotary.InverseFrequencies(d, theta), ScalarType.Float32);
        var rotated = TinyLlamas.Floats(LlamaRotary.Apply(x, cos, sin));
        var xs = TinyLlamas.Floats(x);
        long[] pos = { 0, 5, 11 };

        for (var h = 0; h < heads; h++)
            for (var s = 0; s < seq; s++)
                for (var i = 0; i < d / 2; i++)
                {
                    var angle = pos[s] / Math.Pow(theta, 2.0 * i / d);
                    var baseIndex = (h * seq + s) * d;
                    double x1 = xs[baseIndex + i], x2 = xs[baseIndex + i + d / 2];
                    // x·cos + rotate_half(x)·sin, rotate_half(x) = cat(−x2, x1)
                    var e1 = x1 * Math.Cos(angle) - x2 * Math.Sin(angle);
                    var e2 = x2 * Math.Cos(angle) + x1 * Math.Sin(angle);
                    Assert.Equal(e1, rotated[baseIndex + i], 4);
                    Assert.Equal(e2, rotated[baseIndex + i + d / 2], 4);
                    // Each (i, i + d/2) pair keeps its norm.
                    Assert.Equal(x1 * x1 + x2 * x2, (double)rotated[baseIndex + i] * rotated[baseIndex + i]
                        + (double)rotated[baseIndex + i + d / 2] * rotated[baseIndex + i + d / 2], 4);
                }
    }

    [Fact]
    public void Rotate_half_is_cat_of_minus_second_half_and_first_half()
    {
        var x = torch.tensor(new float[] { 1, 2, 3, 4, 5, 6 });
        Assert.Equal(new float[] { -4, -5, -6, 1, 2, 3 }, TinyLlamas.Floats(LlamaRotary.RotateHalf(x)));
    }

    [Fact]
    public void Rotary_inverse_frequencies_are_theta_to_minus_2i_over_d()
    {
        var f = LlamaRotary.InverseFrequencies(8, 10000.0);
        var expected = new[] { 1.0, 0.1, 0.01, 0.001 };
        Assert.Equal(expected.Length, f.Length);
        for (var i = 0; i < f.Length; i++)
            Assert.True(Math.Abs(f[i] - expected[i]) <= 1e-7 * expected[i], $"inv_freq[{i}] = {f[i]}, expected {expected[i]}");
    }

    private static double RotatedDot(Tensor q, Tensor k, long m, long n, float[] invFreq)
    {
        var (cm, sm) = LlamaRotary.CosSin(torch.tensor(new[] { m }).view(1, 1), invFreq, ScalarType.Float64);
        var (cn, sn) = LlamaRotary.CosSin(torch.tensor(new[] { n }).view(1, 1), invFreq, ScalarType.Float64);
        var qm = LlamaRotary.Apply(q, cm, sm);
        var kn = LlamaRotary.Apply(k, cn, sn);
        return (qm * kn).sum().item<double>();
    }

    [Fact]
    public void Rotary_dot_product_depends_only_on_the_relative_position()
    {
        const int d = 16;
        var invFreq = LlamaRotary.InverseFrequencies(d, 10000.0);
        var q = TinyLlamas.Randn(1, 1, 1, 1, d).to(ScalarType.Float64);
        var k = TinyLlamas.Randn(2, 1, 1, 1, d).to(ScalarType.Float64);

        var a = RotatedDot(q, k, 3, 1, invFreq);
        Assert.Equal(a, RotatedDot(q, k, 10, 8, invFreq), 4);
        Assert.Equal(a, RotatedDot(q, k, 102, 100, invFreq), 4);
        var other = RotatedDot(q, k, 3, 0, invFreq);
        Assert.True(Math.Abs(a - other) > 1e-3, "a different offset must give a different score");
    }

    [Fact]
    public void Rms_norm_matches_a_hand_computation()
    {
        const int rows = 6, n = 8;
        const double eps = 1e-5;
        using var norm = new LlamaRMSNorm(n, eps);
        using (torch.no_grad()) norm.weight.copy_(TinyLlamas.Randn(3, n));
        var x = TinyLlamas.Randn(4, 2, 3, n) * 3.0f;
        var y = TinyLlamas.Floats(norm.forward(x));
        var xs = TinyLlamas.Floats(x);
        var w = TinyLlamas.Floats(norm.weight);
        for (var r = 0; r < rows; r++)
        {
            double meanSquare = 0;
            for (var i = 0; i < n; i++) meanSquare += (double)xs[r * n + i] * xs[r * n + i];
            meanSquare /= n;
            for (var i = 0; i < n; i++)
                Assert.Equal(xs[r * n + i] / Math.Sqrt(meanSquare + eps) * w[i], y[r * n + i], 4);
        }
    }

    [Fact]
    public void Rms_norm_keeps_reduced_precision_inputs_in_their_dtype()
    {
        using var norm = new LlamaRMSNorm(8, 1e-6, dtype: ScalarType.BFloat16);
        var x = TinyLlamas.Randn(5, 2, 8).to(ScalarType.BFloat16);
        var y = norm.forward(x);
        Assert.Equal(ScalarType.BFloat16, y.dtype);
        using var reference = new LlamaRMSNorm(8, 1e-6);
        Assert.True(TinyLlamas.MaxAbsDiff(reference.forward(x.to(ScalarType.Float32)), y) < 0.05);
    }

    private static Tensor Linear(Tensor x, nn.Module<Tensor, Tensor> layer)
    {
        var linear = (TorchSharp.Modules.Linear)layer;
        var y = x.matmul(linear.weight!.detach().t());
        return linear.bias is null ? y : y + linear.bias.detach();
    }

    private static Tensor HandRms(Tensor x, LlamaRMSNorm norm) =>
        x / (x.pow(2).mean(new long[] { -1 }, keepdim: true) + norm.Eps).sqrt() * norm.weight.detach();

    /// <summary>A one-layer model computed step by step: explicit softmax(QKᵀ/√d + causal mask)·V per head.</summary>
    private static Tensor HandForward(LlamaForCausalLM m, Tensor ids)
    {
        var d = m.Dimensions;
        var seq = ids.shape[1];
        var headDim = d.EffectiveHeadDim;
        var nRep = d.AttentionHeads / d.EffectiveKeyValueHeads;
        var layer = m.model.layers[0];
        var attn = layer.self_attn;

        var x = m.model.embed_tokens.weight!.detach().index_select(0, ids.view(-1));             // [seq, hidden]
        var h = HandRms(x, layer.input_layernorm);
        var q = Linear(h, attn.q_proj!).view(seq, d.AttentionHeads, headDim);
        var k = Linear(h, attn.k_proj!).view(seq, d.EffectiveKeyValueHeads, headDim);
        var v = Linear(h, attn.v_proj!).view(seq, d.EffectiveKeyValueHeads, headDim);
        if (attn.q_norm is not null) q = HandRms(q, attn.q_norm);
        if (attn.k_norm is not null) k = HandRms(k, attn.k_norm!);
        var (cos, sin) = LlamaRotary.CosSin(torch.arange(seq).view(1, seq), LlamaRotary.InverseFrequencies(headDim, d.RopeTheta), ScalarType.Float32);
        q = LlamaRotary.Apply(q.transpose(0, 1).unsqueeze(0), cos, sin).squeeze(0);   // [heads, seq, d]
        k = LlamaRotary.Apply(k.transpose(0, 1).unsqueeze(0), cos, sin).squeeze(0);   // [kv, seq, d]
        var vh = v.transpose(0, 1);

        var future = torch.ones(seq, seq, dtype: ScalarType.Bool).triu(1);
        var heads = new Tensor[d.AttentionHeads];
        for (var hd = 0; hd < d.AttentionHeads; hd++)
        {
            var kv = hd / nRep; // HF repeat_kv: query head h reads kv head h / nRep
            var scores = q[hd].matmul(k[kv].t()) / Math.Sqrt(headDim);
            scores = scores.masked_fill(future, double.NegativeInfinity);
            var p = scores.softmax(-1);
            heads[hd] = p.matmul(vh[kv]);                                                  // [seq, d]
        }
        var merged = torch.cat(heads, dim: 1);                                               // [seq, heads·d]
        var afterAttention = x + Linear(merged, attn.o_proj);
        var mlpIn = HandRms(afterAttention, layer.post_attention_layernorm);
        var gate = Linear(mlpIn, layer.mlp.gate_proj!);
        var mlpOut = Linear(gate * gate.sigmoid() * Linear(mlpIn, layer.mlp.up_proj!), layer.mlp.down_proj);
        var final = HandRms(afterAttention + mlpOut, m.model.norm);
        var head = m.lm_head is TiedLinear tied ? tied.weight.detach() : ((TorchSharp.Modules.Linear)m.lm_head).weight!.detach();
        return final.matmul(head.t()).unsqueeze(0);
    }

    [Theory]
    [InlineData("UntiedGqa")]
    [InlineData("Qwen2")]
    [InlineData("Qwen3")]
    public void One_layer_model_equals_explicit_softmax_attention(string variant)
    {
        var d = TinyLlamas.Get(variant) with { Layers = 1 };
        using var m = LlamaForCausalLM.Create(d, seed: 11);
        if (d.QkvBias)
            using (torch.no_grad())
                foreach (var (name, p) in m.named_parameters().Where(p => p.name.EndsWith(".bias", StringComparison.Ordinal)))
                    p.normal_(0.0, 0.5); // zero-initialised biases would not test anything
        // Larger weights make the attention pattern far from uniform.
        using (torch.no_grad())
            foreach (var (name, p) in m.named_parameters().Where(p => p.name.Contains("q_proj.weight") || p.name.Contains("k_proj.weight")))
                p.mul_(20);
        var ids = TinyLlamas.Ids(d.VocabSize, 2, 1, 7);
        using var noGrad = torch.no_grad();
        var expected = HandForward(m, ids);
        var actual = m.forward(ids);
        Assert.Equal(new long[] { 1, 7, d.VocabSize }, actual.shape);
        Assert.True(TinyLlamas.MaxAbsDiff(expected, actual) < 1e-5, $"max diff {TinyLlamas.MaxAbsDiff(expected, actual)}");
    }

    [Theory]
    [MemberData(nameof(TinyLlamas.Variants), MemberType = typeof(TinyLlamas))]
    public void Logits_are_causal(string variant)
    {
        var d = TinyLlamas.Get(variant);
        using var m = LlamaForCausalLM.Create(d, seed: 4);
        var ids = TinyLlamas.Ids(d.VocabSize, 9, 2, 8);
        var changed = ids.clone();
        changed.narrow(1, 5, 3).copy_((ids.narrow(1, 5, 3) + 1) % d.VocabSize);
        using var noGrad = torch.no_grad();
        var a = m.forward(ids);
        var b = m.forward(changed);
        Assert.True(TinyLlamas.MaxAbsDiff(a.narrow(1, 0, 5), b.narrow(1, 0, 5)) <= 1e-6);
        Assert.True(TinyLlamas.MaxAbsDiff(a.narrow(1, 5, 1), b.narrow(1, 5, 1)) > 1e-4, "the changed token must change its own logits");
    }

    private static Tensor RepeatHeads(Tensor t, int kvHeads, int nRep) =>
        t.view(kvHeads, -1).repeat_interleave(nRep, dim: 0).reshape(t.dim() == 1 ? new long[] { -1 } : new long[] { -1, t.shape[1] });

    [Fact]
    public void Grouped_query_attention_equals_multi_head_attention_with_repeated_kv_heads()
    {
        var gqaDims = TinyLlamas.UntiedGqa with { QkvBias = true, OutputProjectionBias = true };
        var mhaDims = gqaDims with { KeyValueHeads = gqaDims.AttentionHeads };
        var nRep = gqaDims.AttentionHeads / gqaDims.KeyValueHeads;
        using var gqa = LlamaForCausalLM.Create(gqaDims, seed: 21);
        using (torch.no_grad())
            foreach (var (_, p) in gqa.named_parameters().Where(p => p.name.EndsWith(".bias", StringComparison.Ordinal)))
                p.normal_(0.0, 0.5);
        using var mha = LlamaForCausalLM.Create(mhaDims, seed: 22);

        var weights = gqa.HfStateDict().ToDictionary(kv => kv.Key, kv =>
            kv.Key.Contains(".k_proj.") || kv.Key.Contains(".v_proj.")
                ? RepeatHeads(kv.Value, gqaDims.KeyValueHeads, nRep)
                : kv.Value);
        mha.LoadHfStateDict(weights);

        var ids = TinyLlamas.Ids(gqaDims.VocabSize, 5, 2, 9);
        using var noGrad = torch.no_grad();
        Assert.True(TinyLlamas.MaxAbsDiff(gqa.forward(ids), mha.forward(ids)) < 1e-5);

        // Repeating the kv heads in the other layout (tiled, not interleaved) must not match.
        var tiled = gqa.HfStateDict().ToDictionary(kv => kv.Key, kv =>
            kv.Key.Contains(".k_proj.") || kv.Key.Contains(".v_proj.")
                ? torch.cat(Enumerable.Repeat(kv.Value, nRep).ToArray(), dim: 0)
                : kv.Value);
        mha.LoadHfStateDict(tiled);
        Assert.True(TinyLlamas.MaxAbsDiff(gqa.forward(ids), mha.forward(ids)) > 1e-4);
    }

    [Fact]
    public void Padding_mask_with_positions_reproduces_the_unpadded_logits()
    {
        var d = TinyLlamas.Qwen3;
        using var m = LlamaForCausalLM.Create(d, seed: 8);
        var real = TinyLlamas.Ids(d.VocabSize, 3, 1, 5);
        var padded = torch.cat(new[] { torch.zeros(1, 2, dtype: ScalarType.Int64), real }, dim: 1);
        var mask = torch.tensor(new long[] { 0, 0, 1, 1, 1, 1, 1 }).view(1, 7);
        var positions = torch.tensor(new long[] { 0, 0, 0, 1, 2, 3, 4 }).view(1, 7);
        using var noGrad = torch.no_grad();
        var expected = m.forward(real);
        var actual = m.forward(padded, mask, positions);
        Assert.False(actual.isnan().any().item<bool>());
        Assert.True(TinyLlamas.MaxAbsDiff(expected, actual.narrow(1, 2, 5)) < 1e-5);
        var unmasked = m.forward(padded, null, positions);
        Assert.True(TinyLlamas.MaxAbsDiff(expected, unmasked.narrow(1, 2, 5)) > 1e-4, "without the mask, padding is attended to");
    }

    [Fact]
    public void All_ones_attention_mask_equals_the_causal_forward()
    {
        var d = TinyLlamas.UntiedGqa;
        using var m = LlamaForCausalLM.Create(d, seed: 2);
        var ids = TinyLlamas.Ids(d.VocabSize, 4, 2, 6);
        using var noGrad = torch.no_grad();
        Assert.True(TinyLlamas.MaxAbsDiff(m.forward(ids), m.forward(ids, torch.ones(2, 6, dtype: ScalarType.Int64))) < 1e-6);
    }

    [Fact]
    public void Next_token_labels_move_left_and_the_last_position_scores_nothing()
    {
        using var labels = torch.tensor(new long[] { 1, 2, -100, 4, 0, 3, 3, -100 }).view(2, 4);
        using var next = LlamaForCausalLM.NextTokenLabels(labels);
        Assert.Equal(new long[] { 2, 4 }, next.shape);
        Assert.Equal(new long[] { 2, -100, 4, -100, 3, 3, -100, -100 }, next.data<long>().ToArray());
    }

    [Fact]
    public void Causal_lm_loss_shifts_labels_and_ignores_minus_100()
    {
        const int vocab = 5;
        var logits = TinyLlamas.Randn(6, 2, 4, vocab);
        var labels = torch.tensor(new long[] { 1, 2, -100, 4, 0, 3, 3, -100 }).view(2, 4);
        var loss = LlamaForCausalLM.CausalLmLoss(logits, labels).item<float>();

        var l = TinyLlamas.Floats(logits);
        long[] lab = { 1, 2, -100, 4, 0, 3, 3, -100 };
        double sum = 0;
        var count = 0;
        for (var b = 0; b < 2; b++)
            for (var t = 0; t < 3; t++)
            {
                var target = lab[b * 4 + t + 1];
                if (target == -100) continue;
                var row = Enumerable.Range(0, vocab).Select(i => (double)l[(b * 4 + t) * vocab + i]).ToArray();
                var logSumExp = Math.Log(row.Sum(Math.Exp));
                sum += logSumExp - row[target];
                count++;
            }
        Assert.Equal(4, count);
        Assert.Equal(sum / count, loss, 5);
    }

    [Fact]
    public void Loss_trains_the_model()
    {
        var d = TinyLlamas.Tied;
        using var m = LlamaForCausalLM.Create(d, seed: 1);
        var ids = TinyLlamas.Ids(d.VocabSize, 1, 2, 8);
        var optimizer = torch.optim.Adam(m.parameters(), lr: 1e-2);
        var first = m.Loss(ids, ids).item<float>();
        for (var i = 0; i < 20; i++)
        {
            optimizer.zero_grad();
            var loss = m.Loss(ids, ids);
            loss.backward();
            optimizer.step();
        }
        var last = m.Loss(ids, ids).item<float>();
        Assert.True(last < first * 0.7, $"loss {first} → {last}");
    }
}
