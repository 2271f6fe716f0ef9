using System.Collections;
using System.Collections.Generic;
using System.Reflection;
using LoraKit.Lora;
using LoraKit.Modeling;
using LoraKit.Quantization;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace LoraKit.Tests.Modeling;

/// <summary>
/// On CUDA libtorch runs backward on its own device thread, where none of LoraKit's dispose scopes is open; what
/// TorchSharp wraps there (the incoming gradient, unpacked saved tensors) lives until the garbage collector runs, and
/// an unpacked tensor that still has its graph keeps every checkpointed layer's saved input with it (the H200 run of
/// eng/gpu/fit.sh: checkpointing peaked above no checkpointing). On the CPU backward runs on the caller's thread, so a
/// backward called outside any dispose scope reproduces that thread: after each step no autograd node may be left and
/// the count of live tensors may not grow.
/// </summary>
[Collection(nameof(BackwardThreadTests))] // alone: TorchSharp's registry of autograd nodes is process-wide
public class BackwardThreadTests
{
    private static readonly FieldInfo? AliveNodes = typeof(autograd.AutogradContext).Assembly
        .GetType("TorchSharp.torch+autograd+Node")?.GetField("AliveNodes", BindingFlags.NonPublic | BindingFlags.Static);

    [Theory]
    [InlineData(LoraGradientCheckpointing.On, false)]
    [InlineData(LoraGradientCheckpointing.Offload, false)]
    [InlineData(LoraGradientCheckpointing.On, true)]
    [InlineData(LoraGradientCheckpointing.None, true)]
    public void A_backward_outside_any_dispose_scope_leaves_no_node_and_no_tensor_behind(LoraGradientCheckpointing checkpointing, bool nf4)
    {
        Assert.NotNull(AliveNodes); // TorchSharp renamed its node registry: this test must be rewritten, not skipped
        var dims = TinyLlamas.UntiedGqa with { Layers = 3 };
        using var model = LlamaForCausalLM.Create(dims, seed: 3);
        if (nf4) Nf4Model.QuantizeInPlace(model);
        LoraInjector.Inject(model, new LoraConfig { Rank = 4, Alpha = 8, Dropout = 0.1, TargetModules = new[] { "q_proj", "v_proj", "down_proj" } }, "default", seed: 5);
        model.train();
        model.model.GradientCheckpointing = checkpointing;
        using var ids = TinyLlamas.Ids(dims.VocabSize, 11, 2, 24);
        var live = new List<long>();
        Steps(model, ids, live);
        // The first step creates the gradients' buffers; from then on a step must give back all it takes.
        Assert.True(live[1] == live[2] && live[2] == live[3], $"live tensors of this thread after each step: {string.Join(", ", live)}");
    }

    private static void Steps(LlamaForCausalLM model, Tensor ids, List<long> live)
    {
        for (var step = 0; step < 4; step++)
        {
            Tensor loss;
            using (var scope = NewDisposeScope()) loss = model.Loss(ids, ids).MoveToOuterDisposeScope();
            loss.backward(); // outside every dispose scope, as on CUDA's device thread
            loss.Dispose();
            Assert.Empty((IList)AliveNodes!.GetValue(null)!);
            // This thread's count: a wrapper the garbage collector finalizes is disposed on another thread, so it stays counted here.
            live.Add(DisposeScopeManager.Statistics.ThreadTotalLiveCount);
        }
    }
}

[CollectionDefinition(nameof(BackwardThreadTests), DisableParallelization = true)]
public sealed class BackwardThreadCollection;
