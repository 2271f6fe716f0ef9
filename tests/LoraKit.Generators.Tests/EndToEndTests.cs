using System;
using System.Collections;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Runtime.CompilerServices;
using LoraKit.Lora;
using LoraKit.Modeling;
using TorchSharp;
using Xunit;
using static LoraKit.Generators.Tests.GeneratorHarness;
using static TorchSharp.torch;

namespace LoraKit.Generators.Tests;

/// <summary>
/// Compiles a small project with generated adapters in memory, loads the assembly and runs it on a tiny
/// random Llama: counts, typed layers, training steps, PEFT save/load, merge, and the registry.
/// </summary>
public class EndToEndTests
{
    private const string Source = """
        using LoraKit;

        namespace E2e;

        [LoraModel(LoraArchitecture.Llama, HiddenSize = 32, IntermediateSize = 64, Layers = 2, AttentionHeads = 4,
                   KeyValueHeads = 2, VocabSize = 50)]
        public partial class TinyLlama;

        [LoraAdapter(typeof(TinyLlama), Rank = 4, Alpha = 8, TargetModules = new[] { "q_proj", "v_proj" })]
        public partial class TinyAdapter;

        [LoraModel(LoraArchitecture.Llama, HiddenSize = 32, IntermediateSize = 48, Layers = 3, AttentionHeads = 4,
                   KeyValueHeads = 1, VocabSize = 40, AttentionBias = true, TieWordEmbeddings = true)]
        public partial class TinyBiased;

        [LoraAdapter(typeof(TinyBiased), Rank = 2, Alpha = 4, Bias = LoraBias.LoraOnly, TargetModules = new[] { "all-linear" })]
        public partial class EverythingAdapter;
        """;

    private static readonly Lazy<Assembly> Compiled = new(() =>
    {
        var result = GeneratorHarness.Run(Source);
        AssertCompilesCleanly(result.Output);
        using var pe = new MemoryStream();
        var emit = result.Output.Emit(pe);
        Assert.True(emit.Success, string.Join("\n", emit.Diagnostics));
        return Assembly.Load(pe.ToArray());
    });

    private static Type TypeOf(string name) => Compiled.Value.GetType("E2e." + name, throwOnError: true)!;

    private static T Const<T>(Type type, string name) => (T)type.GetField(name)!.GetRawConstantValue()!;

    private static LlamaForCausalLM CreateModel(string modelName, long seed = 0) =>
        (LlamaForCausalLM)TypeOf(modelName).GetMethod("Create")!.Invoke(null, new object?[] { null, ScalarType.Float32, seed })!;

    private static object Attach(Type adapter, nn.Module model) => adapter.GetMethod("AttachTo")!.Invoke(null, new object[] { model, 0L })!;

    private static long RequiresGrad(nn.Module model) => model.parameters().Where(p => p.requires_grad).Sum(p => p.numel());

    [Fact]
    public void TrainableParameters_equals_the_runtimes_requires_grad_count_after_AttachTo()
    {
        var adapter = TypeOf("TinyAdapter");
        // q: 4·(32+32), v: 4·(32+16) (2 KV heads of 8), two layers.
        Assert.Equal(2L * (4 * (32 + 32) + 4 * (32 + 16)), Const<long>(adapter, "TrainableParameters"));
        using var model = CreateModel("TinyLlama");
        Assert.Equal(Const<long>(TypeOf("TinyLlama"), "BaseParameters"), model.ParameterCount());
        Attach(adapter, model);
        Assert.Equal(Const<long>(adapter, "TrainableParameters"), RequiresGrad(model));

        var everything = TypeOf("EverythingAdapter");
        using var biased = CreateModel("TinyBiased");
        Assert.Equal(Const<long>(TypeOf("TinyBiased"), "BaseParameters"), biased.ParameterCount());
        Attach(everything, biased);
        Assert.Equal(Const<long>(everything, "TrainableParameters"), RequiresGrad(biased));
        Assert.Equal(7 * 3, Const<int>(everything, "AdaptedModules"));
    }

    [Fact]
    public void Layers_expose_exactly_the_targeted_modules_as_the_models_own_LoraLinear()
    {
        var adapterType = TypeOf("TinyAdapter");
        using var model = CreateModel("TinyLlama");
        var adapter = Attach(adapterType, model);
        var layers = ((IEnumerable)adapterType.GetProperty("Layers")!.GetValue(adapter)!).Cast<object>().ToList();
        Assert.Equal(2, layers.Count);
        var layerType = layers[0].GetType();
        Assert.Equal(new[] { "Index", "QProj", "VProj" }, layerType.GetProperties().Select(p => p.Name).OrderBy(n => n, StringComparer.Ordinal));
        Assert.Null(layerType.GetProperty("KProj"));
        Assert.Equal(typeof(LoraLinear), layerType.GetProperty("QProj")!.PropertyType);
        var byPath = LoraInjector.LoraLayers(model).ToDictionary(l => l.Path, l => l.Layer);
        Assert.Same(byPath["model.layers.1.self_attn.v_proj"], layerType.GetProperty("VProj")!.GetValue(layers[1]));
        var q = (LoraLinear)layerType.GetProperty("QProj")!.GetValue(layers[0])!;
        Assert.Same(byPath["model.layers.0.self_attn.q_proj"], q);
        Assert.Equal(32L, q.InFeatures);
        Assert.Equal(Const<int>(layerType, "VProjOutFeatures"), (int)((LoraLinear)layerType.GetProperty("VProj")!.GetValue(layers[0])!).OutFeatures);
        Assert.Equal(new long[] { 4, 32 }, q.A("default").shape);
    }

    [Fact]
    public void A_few_training_steps_lower_the_loss_save_and_load_round_trip_and_merge_preserves_outputs()
    {
        var adapterType = TypeOf("TinyAdapter");
        using var model = CreateModel("TinyLlama");
        var adapter = Attach(adapterType, model);
        var parameters = ((IEnumerable)adapterType.GetMethod("LoraParameters")!.Invoke(adapter, null)!).Cast<TorchSharp.Modules.Parameter>().ToList();
        Assert.Equal(Const<long>(adapterType, "TrainableParameters"), parameters.Sum(p => p.numel()));

        var ids = torch.tensor(new long[] { 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8 }).reshape(2, 8);
        using var optimizer = torch.optim.AdamW(parameters, lr: 0.05);
        var losses = new double[6];
        for (var step = 0; step < losses.Length; step++)
        {
            optimizer.zero_grad();
            using var loss = model.Loss(ids, ids);
            loss.backward();
            optimizer.step();
            losses[step] = loss.item<float>();
        }
        Assert.True(losses[^1] < losses[0], $"loss did not fall: {string.Join(", ", losses)}");

        var folder = Path.Combine(Path.GetTempPath(), "lorakit-gen-" + Guid.NewGuid().ToString("N"));
        try
        {
            adapterType.GetMethod("Save")!.Invoke(adapter, new object?[] { folder, null });
            Assert.True(File.Exists(Path.Combine(folder, "adapter_model.safetensors")));
            Assert.True(File.Exists(Path.Combine(folder, "adapter_config.json")));
            // What `lorakit inspect` reads (PeftAdapter) gives back the generated constants.
            using (var peft = LoraKit.Peft.PeftAdapter.Load(folder))
            {
                Assert.Equal(Const<long>(adapterType, "TrainableParameters"), peft.LoraParameterCount);
                Assert.Equal(Const<int>(adapterType, "AdaptedModules"), peft.Modules.Count);
                Assert.Equal(Const<int>(adapterType, "Rank"), peft.Config.R);
                Assert.Equal(Const<double>(adapterType, "Alpha"), peft.Config.LoraAlpha);
            }

            using var fresh = CreateModel("TinyLlama");
            var loaded = adapterType.GetMethod("Load")!.Invoke(null, new object[] { fresh, folder })!;
            Assert.Equal(Const<long>(adapterType, "TrainableParameters"), RequiresGrad(fresh));
            using var expected = model.forward(ids);
            using var actual = fresh.forward(ids);
            Assert.True(expected.allclose(actual, rtol: 1e-5, atol: 1e-6), "the loaded adapter computes differently");

            // Merging folds B·A into the weights: same outputs; unmerging takes it back out.
            adapterType.GetMethod("Merge")!.Invoke(loaded, null);
            using var merged = fresh.forward(ids);
            Assert.True(expected.allclose(merged, rtol: 1e-4, atol: 1e-5), "merged outputs differ");
            adapterType.GetMethod("Unmerge")!.Invoke(loaded, null);
            using var unmerged = fresh.forward(ids);
            Assert.True(expected.allclose(unmerged, rtol: 1e-4, atol: 1e-5), "unmerged outputs differ");
        }
        finally
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void AttachTo_a_model_of_other_dimensions_fails_with_LORA3006()
    {
        var adapterType = TypeOf("TinyAdapter");
        using var other = CreateModel("TinyBiased"); // 3 layers, other widths
        var e = Assert.Throws<TargetInvocationException>(() => Attach(adapterType, other));
        var lora = Assert.IsType<LoraException>(e.InnerException);
        Assert.Equal("LORA3006", lora.Id);
    }

    [Fact]
    public void The_module_initializer_registers_the_adapters_by_name()
    {
        var assembly = Compiled.Value;
        RuntimeHelpers.RunModuleConstructor(assembly.ManifestModule.ModuleHandle);
        var d = LoraAdapterRegistry.Find("E2e.TinyAdapter");
        Assert.NotNull(d);
        Assert.Equal(TypeOf("TinyAdapter"), d!.AdapterType);
        Assert.Equal("TinyAdapter", d.Name);
        Assert.Equal("E2e.TinyLlama", d.ModelName);
        Assert.Equal(Const<long>(TypeOf("TinyAdapter"), "TrainableParameters"), d.TrainableParameters);
        Assert.Equal(4, d.Config().Rank);
        Assert.Equal(new[] { "q_proj", "v_proj" }, d.Config().TargetModules);
        Assert.Equal(TypeOf("EverythingAdapter"), LoraAdapterRegistry.Find("EverythingAdapter")!.AdapterType);
    }
}
