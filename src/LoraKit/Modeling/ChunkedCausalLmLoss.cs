using LoraKit.Memory;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.autograd;

namespace LoraKit.Modeling;

/// <summary>
/// The LM head and the causal-LM cross-entropy in token chunks, forward and backward (torchtune's chunked output loss,
/// Liger's fused linear cross-entropy): no [batch, seq, vocab] tensor is ever held. Forward scores
/// <see cref="MemoryEstimator.LossChunkTokens"/> tokens at a time without a graph; backward recomputes each chunk's
/// logits with grad enabled and takes the gradients of its hidden states (and of the head's trainable parameters, if
/// any) from them. Logits go to float32 before the softmax whatever the compute dtype, as in
/// <see cref="LlamaForCausalLM.CausalLmLoss"/>; the loss is the same mean over the labels that are not ignored.
/// </summary>
public static class ChunkedCausalLmLoss
{
    /// <summary>
    /// Mean next-token cross-entropy of <paramref name="hidden"/> [batch, seq, hidden] (the final norm's output) through
    /// <paramref name="head"/> against <paramref name="labels"/> [batch, seq] (Hugging Face's shift; −100 ignored).
    /// </summary>
    /// <param name="chunkTokens">Tokens per chunk; 0: <see cref="MemoryEstimator.LossChunkTokens"/> of <paramref name="vocab"/>.</param>
    /// <param name="finalSoftcap">Gemma 2's final_logit_softcapping c (logits → c·tanh(logits / c) in the head's dtype, as
    /// <see cref="LlamaForCausalLM.Logits"/>); 0: none.</param>
    public static Tensor Loss(nn.Module<Tensor, Tensor> head, long vocab, Tensor hidden, Tensor labels, long ignoreIndex = -100, long chunkTokens = 0,
        double finalSoftcap = 0)
    {
        var (flat, targets) = Flatten(hidden, labels, ignoreIndex);
        var parameters = head.parameters().Where(p => p.requires_grad).Cast<Tensor>().ToList();
        var call = new Call(head, chunkTokens > 0 ? chunkTokens : MemoryEstimator.LossChunkTokens(vocab), ignoreIndex, parameters,
            GradientCheckpoint.DropoutGenerators(head), finalSoftcap);
        var args = new List<object> { call, flat, targets };
        args.AddRange(parameters);
        return LossFunction.apply(args.ToArray());
    }

    /// <summary>
    /// Each position's next-token negative log-likelihood, float32 [batch, seq] (0 where the next label is ignored), in
    /// chunks and without a graph: what eval sums per example.
    /// </summary>
    public static Tensor TokenLosses(nn.Module<Tensor, Tensor> head, long vocab, Tensor hidden, Tensor labels, long ignoreIndex = -100, long chunkTokens = 0,
        double finalSoftcap = 0)
    {
        using var scope = NewDisposeScope();
        using var noGrad = torch.no_grad();
        var (flat, targets) = Flatten(hidden, labels, ignoreIndex);
        var chunk = chunkTokens > 0 ? chunkTokens : MemoryEstimator.LossChunkTokens(vocab);
        var parts = new List<Tensor>();
        for (long start = 0; start < flat.shape[0]; start += chunk)
        {
            using var chunkScope = NewDisposeScope(); // one chunk's logits at a time
            var n = Math.Min(chunk, flat.shape[0] - start);
            var logits = Float32Logits(head, flat.narrow(0, start, n), finalSoftcap);
            parts.Add(nn.functional.cross_entropy(logits, targets.narrow(0, start, n), ignore_index: ignoreIndex, reduction: nn.Reduction.None)
                .MoveToOuterDisposeScope());
        }
        return torch.cat(parts, 0).view(labels.shape[0], labels.shape[1]).MoveToOuterDisposeScope();
    }

    /// <summary>The head's logits of one chunk, soft-capped when <paramref name="softcap"/> &gt; 0, in float32 for the softmax.</summary>
    private static Tensor Float32Logits(nn.Module<Tensor, Tensor> head, Tensor hidden, double softcap)
    {
        var logits = head.call(hidden);
        if (softcap > 0) logits = (logits / softcap).tanh() * softcap;
        return logits.to(ScalarType.Float32);
    }

    private static (Tensor Hidden, Tensor Targets) Flatten(Tensor hidden, Tensor labels, long ignoreIndex)
    {
        if (hidden.dim() != 3 || labels.dim() != 2 || hidden.shape[0] != labels.shape[0] || hidden.shape[1] != labels.shape[1])
            throw new ArgumentException(
                $"hidden must be [batch, seq, hidden] and labels [batch, seq]; got [{string.Join(", ", hidden.shape)}] and [{string.Join(", ", labels.shape)}]");
        var targets = LlamaForCausalLM.NextTokenLabels(labels.to(ScalarType.Int64).to(hidden.device), ignoreIndex).reshape(-1);
        return (hidden.reshape(-1, hidden.shape[2]), targets);
    }

    /// <summary>One loss call; <see cref="States"/>: the head's LoRA dropout generators before forward, replayed by backward's recompute.</summary>
    private sealed record Call(nn.Module<Tensor, Tensor> Head, long Chunk, long IgnoreIndex, List<Tensor> Parameters, Generator[] Generators, double Softcap)
    {
        public Tensor[] States { get; set; } = Array.Empty<Tensor>();
    }

    private sealed class LossFunction : SingleTensorFunction<LossFunction>
    {
        public override string Name => nameof(ChunkedCausalLmLoss);

        public override Tensor forward(AutogradContext ctx, params object[] vars)
        {
            var call = (Call)vars[0];
            var hidden = (Tensor)vars[1];
            var targets = (Tensor)vars[2];
            ctx.save_for_backward(new List<Tensor> { hidden, targets });
            ctx.save_data(nameof(Call), call);
            call.States = call.Generators.Select(g => g.get_state().DetachFromDisposeScope()).ToArray();
            using var scope = NewDisposeScope();
            var chunk = call.Chunk;
            var sum = torch.zeros(Array.Empty<long>(), ScalarType.Float32, hidden.device);
            for (long start = 0; start < hidden.shape[0]; start += chunk)
            {
                using var chunkScope = NewDisposeScope(); // one chunk's logits at a time
                var n = Math.Min(chunk, hidden.shape[0] - start);
                var logits = Float32Logits(call.Head, hidden.narrow(0, start, n), call.Softcap);
                sum.add_(nn.functional.cross_entropy(logits, targets.narrow(0, start, n), ignore_index: call.IgnoreIndex, reduction: nn.Reduction.Sum));
            }
            var count = targets.ne(call.IgnoreIndex).sum().to(ScalarType.Float32);
            return sum.div(count).MoveToOuterDisposeScope();
        }

        public override List<Tensor> backward(AutogradContext ctx, Tensor gradOutput)
        {
            ReturnedGradients.Release();
            var call = (Call)ctx.get_data(nameof(Call));
            var result = new List<Tensor> { null!, null!, null! };
            // Everything made here is disposed here: on CUDA backward runs on the autograd engine's device thread, which
            // has no dispose scope of ours, and an undisposed unpacked `hidden` would keep the step's whole graph
            // (every checkpointed layer's saved input) alive until the garbage collector ran.
            using var scope = NewDisposeScope();
            scope.Attach(gradOutput);
            var saved = ctx.get_saved_variables();
            var hidden = saved[0];
            var targets = saved[1];
            var chunk = call.Chunk;
            var count = targets.ne(call.IgnoreIndex).sum().to(ScalarType.Float32);
            // d(sum / count) = d(sum) · gradOutput / count: each chunk's summed loss is backpropagated with that scale.
            var scale = gradOutput.to(ScalarType.Float32).div(count);
            var gradHidden = hidden.requires_grad ? torch.empty_like(hidden) : null;
            var gradParameters = new Tensor?[call.Parameters.Count];
            // An adapted head with dropout draws its masks again, chunk by chunk in forward's order: from forward's states.
            var now = call.Generators.Select(g => g.get_state()).ToArray();
            for (var i = 0; i < now.Length; i++) call.Generators[i].set_state(call.States[i]);
            using (torch.enable_grad())
            {
                for (long start = 0; start < hidden.shape[0]; start += chunk)
                {
                    using var chunkScope = NewDisposeScope();
                    var n = Math.Min(chunk, hidden.shape[0] - start);
                    var h = hidden.narrow(0, start, n).detach().requires_grad_(gradHidden is not null);
                    var logits = Float32Logits(call.Head, h, call.Softcap);
                    var loss = nn.functional.cross_entropy(logits, targets.narrow(0, start, n), ignore_index: call.IgnoreIndex, reduction: nn.Reduction.Sum);
                    var wrt = new List<Tensor>();
                    if (gradHidden is not null) wrt.Add(h);
                    wrt.AddRange(call.Parameters);
                    if (wrt.Count == 0) continue;
                    var grads = torch.autograd.grad(new[] { loss }, wrt, new[] { scale }, allow_unused: true);
                    var k = 0;
                    if (gradHidden is not null) gradHidden.narrow(0, start, n).copy_(grads[k++]);
                    for (var i = 0; i < gradParameters.Length; i++, k++)
                    {
                        if (grads[k] is not { IsInvalid: false } g) continue;
                        if (gradParameters[i] is { } acc) acc.add_(g);
                        else gradParameters[i] = g.clone().MoveToOuterDisposeScope();
                    }
                }
            }
            for (var i = 0; i < now.Length; i++) call.Generators[i].set_state(now[i]);
            foreach (var s in call.States) s.Dispose();
            result[1] = gradHidden is null ? null! : ReturnedGradients.Hold(gradHidden);
            foreach (var g in gradParameters) result.Add(g is null ? null! : ReturnedGradients.Hold(g));
            return result;
        }
    }
}
