using System.Reflection;
using LoraKit.Lora;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.autograd;

namespace LoraKit.Modeling;

/// <summary>
/// Gradient checkpointing of one decoder layer (torch.utils.checkpoint's reentrant form, which TorchSharp lacks): the
/// forward runs without building a graph and keeps only the layer's input (<see cref="LoraGradientCheckpointing.Offload"/>:
/// a copy in pinned host memory on CUDA); backward recomputes the layer from that input with grad enabled — LoRA
/// dropout's generators set back to the states they had in forward, so the recomputed masks are the first ones — and
/// takes the gradients of the input and of the layer's trainable parameters from the recomputed graph. Gradients equal
/// a run without checkpointing (the same kernels on the same inputs).
/// </summary>
internal sealed class GradientCheckpoint : SingleTensorFunction<GradientCheckpoint>
{
    public override string Name => nameof(GradientCheckpoint);

    /// <summary>
    /// Runs <paramref name="run"/> (the layer on its input and <paramref name="constants"/>: rotary tables, masks — kept
    /// by reference until backward) checkpointed; <paramref name="layer"/> supplies the trainable parameters and dropout generators.
    /// </summary>
    public static Tensor Apply(nn.Module layer, Func<Tensor, IReadOnlyList<Tensor?>, Tensor> run, Tensor input, IReadOnlyList<Tensor?> constants, bool offload)
    {
        ReturnedGradients.Release();
        var parameters = layer.parameters().Where(p => p.requires_grad).Cast<Tensor>().ToList();
        // Own references: the caller's dispose scope ends before backward runs.
        var kept = constants.Select(c => c?.alias().DetachFromDisposeScope()).ToArray();
        var call = new Call(x => run(x, kept), kept, offload && input.device.type == DeviceType.CUDA, DropoutGenerators(layer), parameters, input.requires_grad);
        var args = new List<object> { call, input };
        args.AddRange(parameters);
        var output = apply(args.ToArray());
        OutputCache.Trim(call.Context);
        return output;
    }

    public override Tensor forward(AutogradContext ctx, params object[] vars)
    {
        var call = (Call)vars[0];
        var input = (Tensor)vars[1];
        call.Context = ctx;
        call.States = call.Generators.Select(g => g.get_state().DetachFromDisposeScope()).ToArray();
        if (call.Offload)
        {
            // Pinned host memory (libtorch caches it) makes the copies DMA transfers; the layer's input leaves the GPU until backward.
            using var pageable = torch.empty(input.shape, input.dtype, CPU);
            var host = pageable.pin_memory();
            host.copy_(input);
            call.Host = host.DetachFromDisposeScope();
        }
        else ctx.save_for_backward(new List<Tensor> { input });
        ctx.save_data(nameof(Call), call);
        return call.Run(input);
    }

    public override List<Tensor> backward(AutogradContext ctx, Tensor gradOutput)
    {
        ReturnedGradients.Release();
        var call = (Call)ctx.get_data(nameof(Call));
        var parameters = call.Parameters.Count;
        var result = new List<Tensor>(2 + parameters) { null! };
        using (var scope = NewDisposeScope())
        {
            // Everything made here is disposed here, the incoming gradient too (TorchSharp wraps it on the thread that
            // runs backward; on CUDA that is the autograd engine's device thread, which has no dispose scope of ours,
            // so it would otherwise live until the garbage collector ran: a hidden state per layer per step).
            scope.Attach(gradOutput);
            var saved = call.Host is { } host ? host.to(gradOutput.device, non_blocking: true) : ctx.get_saved_variables()[0];
            var inputNeedsGrad = call.InputRequiresGrad;
            using var grad = torch.enable_grad();
            var x = saved.detach().requires_grad_(inputNeedsGrad);
            var now = call.Generators.Select(g => g.get_state()).ToArray();
            for (var i = 0; i < now.Length; i++) call.Generators[i].set_state(call.States![i]);
            Tensor y;
            try
            {
                y = call.Run(x);
            }
            finally
            {
                for (var i = 0; i < now.Length; i++) call.Generators[i].set_state(now[i]);
            }
            var wrt = new List<Tensor>();
            if (inputNeedsGrad) wrt.Add(x);
            wrt.AddRange(call.Parameters);
            var grads = wrt.Count == 0 ? new List<Tensor>() : torch.autograd.grad(new[] { y }, wrt, new[] { gradOutput }, allow_unused: true).ToList();
            var k = 0;
            result.Add(inputNeedsGrad ? Keep(grads[k++]) : null!);
            for (var i = 0; i < parameters; i++) result.Add(Keep(grads[k++]));
        }
        call.Host?.Dispose();
        call.Host = null;
        foreach (var t in (call.States ?? Array.Empty<Tensor>()).Concat(call.Constants)) t?.Dispose();
        call.States = null;
        return result;
    }

    private static Tensor Keep(Tensor? t)
    {
        if (t is null || t.IsInvalid) return null!;
        return ReturnedGradients.Hold(t);
    }

    /// <summary>The distinct generators LoRA dropout draws from in the layer (the global CPU generator for one without its own).</summary>
    internal static Generator[] DropoutGenerators(nn.Module layer)
    {
        var generators = new List<Generator>();
        foreach (var (_, m) in layer.named_modules())
        {
            if (m is not LoraDropout { P: > 0 } d) continue;
            var g = d.Generator ?? torch.Generator.Default;
            if (!generators.Any(x => x.Handle == g.Handle)) generators.Add(g);
        }
        return generators.ToArray();
    }

    /// <summary>One checkpointed call: how to run the layer, the random states its forward started from, the offloaded input.</summary>
    private sealed class Call(Func<Tensor, Tensor> run, Tensor?[] constants, bool offload, Generator[] generators, List<Tensor> parameters, bool inputRequiresGrad)
    {
        public Func<Tensor, Tensor> Run { get; } = run;
        public Tensor?[] Constants { get; } = constants;
        public bool Offload { get; } = offload;
        public Generator[] Generators { get; } = generators;
        public List<Tensor> Parameters { get; } = parameters;
        public bool InputRequiresGrad { get; } = inputRequiresGrad;
        public AutogradContext? Context { get; set; }
        public Tensor[]? States { get; set; }
        public Tensor? Host { get; set; }
    }
}

/// <summary>
/// Gradients a custom autograd function hands back to libtorch. libtorch takes its own reference when the function
/// returns, but TorchSharp's wrappers would keep the memory until the garbage collector runs (and on the CPU a caller's
/// dispose scope would keep them to the end of the step); they are disposed at the next call of one of LoraKit's autograd
/// functions (a checkpointed layer's forward or backward, the chunked loss's or an NF4 matmul's backward).
/// </summary>
internal static class ReturnedGradients
{
    // Per thread: TorchSharp reads the handles of what backward returned after it returns, so another thread's Release
    // (another model training beside this one, or parallel tests) must never dispose them in between. On one thread the
    // next function's backward or forward starts only after that read.
    [ThreadStatic] private static Queue<Tensor>? _held;

    public static Tensor Hold(Tensor t)
    {
        t.DetachFromDisposeScope();
        (_held ??= new Queue<Tensor>()).Enqueue(t);
        return t;
    }

    public static void Release()
    {
        if (_held is null) return;
        while (_held.TryDequeue(out var t)) t.Dispose();
    }
}

/// <summary>
/// TorchSharp's custom-function node keeps an uninitialised tensor the size of each output (<c>empty_like</c>) for as long
/// as the graph lives, only to shape zero gradients for outputs that get none. For a checkpointed layer that is a second
/// hidden state per layer on a GPU (CPU pages are never touched); this swaps it for a one-element tensor expanded to the
/// same shape, dtype and device, which serves the same purpose. Reflection on TorchSharp 0.107's private fields
/// (<see cref="IsAvailable"/> is tested, so an upgrade that renames them fails a test, not a run).
/// </summary>
internal static class OutputCache
{
    private static readonly FieldInfo? NodeField = typeof(AutogradContext).GetField("_node", BindingFlags.Instance | BindingFlags.NonPublic);

    public static bool IsAvailable => NodeField is not null && CacheField(typeof(GradientCheckpoint)) is not null;

    private static FieldInfo? CacheField(Type function)
    {
        var node = typeof(AutogradContext).Assembly.GetType("TorchSharp.torch+autograd+Node`1")?.MakeGenericType(function);
        return node?.GetField("_outputCache", BindingFlags.Instance | BindingFlags.NonPublic);
    }

    public static void Trim(AutogradContext? ctx)
    {
        if (ctx is null || NodeField?.GetValue(ctx) is not { } node) return;
        if (node.GetType().GetField("_outputCache", BindingFlags.Instance | BindingFlags.NonPublic) is not { } field) return;
        if (field.GetValue(node) is not List<Tensor> cache) return;
        for (var i = 0; i < cache.Count; i++)
        {
            var t = cache[i];
            if (t is null || t.IsInvalid || t.numel() <= 1) continue;
            var one = torch.empty(1, t.dtype, t.device).expand(t.shape).DetachFromDisposeScope();
            cache[i] = one;
            t.Dispose();
        }
    }
}
