using System;
using System.IO;
using System.Linq;
using System.Text.Json;
using LoraKit.Lora;
using LoraKit.Modeling;
using LoraKit.Peft;
using LoraKit.SafeTensors;
using LoraKit.Tests.Modeling;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace LoraKit.Tests.Lora;

public class AdapterFilesTests
{
    private static string TempFolder() => Path.Combine(Path.GetTempPath(), "lorakit-adapter-tests", Guid.NewGuid().ToString("N"));

    [Theory]
    [MemberData(nameof(TinyLlamas.Variants), MemberType = typeof(TinyLlamas))]
    public void A_tiny_llama_saved_in_hf_layout_reloads_to_identical_logits(string variant)
    {
        var model = LlamaForCausalLM.Create(TinyLlamas.Get(variant), seed: 11);
        model.eval();
        var folder = TempFolder();
        HfCheckpoint.Save(model, folder);
        Assert.True(File.Exists(Path.Combine(folder, "config.json")));
        using (var file = SafeTensorsFile.Open(Path.Combine(folder, "model.safetensors")))
        {
            Assert.Contains(file.Tensors, t => t.Name == "model.layers.0.self_attn.q_proj.weight");
            Assert.Equal(TinyLlamas.Get(variant).TieWordEmbeddings, !file.Contains("lm_head.weight"));
        }
        var reloaded = HfCheckpoint.Load(folder);
        reloaded.eval();
        var ids = TinyLlamas.Ids(TinyLlamas.Get(variant).VocabSize, 5, 2, 8);
        var a = model.forward(ids).detach();
        var b = reloaded.forward(ids).detach();
        Assert.True(a.eq(b).all().item<bool>());
    }

    [Fact]
    public void Bf16_checkpoint_loads_into_float32_close_to_the_original()
    {
        var model = LlamaForCausalLM.Create(TinyLlamas.UntiedGqa, seed: 1);
        var folder = TempFolder();
        HfCheckpoint.Save(model, folder, ScalarType.BFloat16);
        using (var file = SafeTensorsFile.Open(Path.Combine(folder, "model.safetensors")))
            Assert.All(file.Tensors, t => Assert.Equal(SafeTensorDType.BF16, t.DType));
        var reloaded = HfCheckpoint.Load(folder);
        var original = model.model.embed_tokens.weight!;
        var loaded = reloaded.model.embed_tokens.weight!;
        Assert.Equal(ScalarType.Float32, loaded.dtype);
        Assert.True(loaded.allclose(original, rtol: 1e-2, atol: 1e-3));
    }

    [Fact]
    public void A_checkpoint_missing_a_weight_names_it()
    {
        var model = LlamaForCausalLM.Create(TinyLlamas.UntiedGqa, seed: 1);
        var folder = TempFolder();
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "config.json"), LlamaForCausalLM.ToHfConfigJson(TinyLlamas.UntiedGqa));
        var partial = model.HfStateDict().Where(kv => kv.Key != "model.layers.1.mlp.up_proj.weight").ToList();
        SafeTensorsWriter.Write(Path.Combine(folder, "model.safetensors"), partial);
        var e = Assert.Throws<HfStateDictException>(() => HfCheckpoint.Load(folder));
        Assert.Contains("model.layers.1.mlp.up_proj.weight", e.Message);
    }

    [Fact]
    public void Saved_adapter_is_peft_shaped_and_reloads_to_identical_logits()
    {
        var dims = TinyLlamas.Qwen2;
        var model = LlamaForCausalLM.Create(dims, seed: 2);
        model.eval();
        LoraInjector.Inject(model, new LoraConfig { Rank = 4, Alpha = 8, Dropout = 0.05, TargetModules = new[] { "q_proj", "v_proj" } }, seed: 3);
        LoraTestHelpers.RandomiseB(model, 4);
        var folder = TempFolder();
        LoraAdapterFiles.Save(model, "default", folder, "tiny-qwen2");

        using (var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(folder, "adapter_config.json"))))
        {
            var root = doc.RootElement;
            Assert.Equal("LORA", root.GetProperty("peft_type").GetString());
            Assert.Equal(4, root.GetProperty("r").GetInt32());
            Assert.Equal(8, root.GetProperty("lora_alpha").GetDouble());
            Assert.Equal("CAUSAL_LM", root.GetProperty("task_type").GetString());
            Assert.Equal("tiny-qwen2", root.GetProperty("base_model_name_or_path").GetString());
            var keys = root.EnumerateObject().Select(p => p.Name).ToList();
            Assert.Equal(keys.OrderBy(k => k, StringComparer.Ordinal), keys); // PEFT writes sorted keys
        }
        using (var file = SafeTensorsFile.Open(Path.Combine(folder, "adapter_model.safetensors")))
        {
            var a = file.Info("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight");
            var b = file.Info("base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight");
            Assert.Equal(new long[] { 4, 32 }, a.Shape);
            Assert.Equal(new long[] { 16, 4 }, b.Shape); // v_proj out = 2 kv heads × 8
            Assert.Equal(2 * 2 * 2, file.Tensors.Count);
            Assert.Equal("pt", file.Metadata["format"]);
        }

        var fresh = LlamaForCausalLM.Create(dims, seed: 2);
        fresh.eval();
        var injection = LoraAdapterFiles.Load(fresh, folder);
        Assert.Equal(4, injection.AdaptedPaths.Count);
        var ids = TinyLlamas.Ids(dims.VocabSize, 6, 2, 7);
        Assert.True(model.forward(ids).detach().eq(fresh.forward(ids).detach()).all().item<bool>());
    }

    [Fact]
    public void Loading_into_a_model_with_other_shapes_fails_naming_the_tensor_and_leaves_no_half_load()
    {
        var model = LlamaForCausalLM.Create(TinyLlamas.UntiedGqa, seed: 2);
        LoraInjector.Inject(model, new LoraConfig { Rank = 4, Alpha = 8 });
        var folder = TempFolder();
        LoraAdapterFiles.Save(model, "default", folder);

        var other = LlamaForCausalLM.Create(TinyLlamas.UntiedGqa with { HiddenSize = 64, HeadDim = 16 }, seed: 2);
        var e = Assert.Throws<LoraException>(() => LoraAdapterFiles.Load(other, folder));
        Assert.Equal("LORA3006", e.Id);
        Assert.Contains("model.layers.0.self_attn.q_proj.lora_A.weight is [4, 32], the model expects [4, 64]", e.Message);
    }

    [Fact]
    public void Bias_mode_saves_the_trained_biases()
    {
        var model = LlamaForCausalLM.Create(TinyLlamas.Qwen2, seed: 2);
        LoraInjector.Inject(model, new LoraConfig { Rank = 2, Alpha = 4, TargetModules = new[] { "q_proj" }, Bias = LoraBias.LoraOnly });
        var folder = TempFolder();
        LoraAdapterFiles.Save(model, "default", folder);
        using var adapter = PeftAdapter.Load(folder);
        Assert.Equal(new[] { "base_model.model.model.layers.0.self_attn.q_proj.bias", "base_model.model.model.layers.1.self_attn.q_proj.bias" },
            adapter.ModulesToSave.Select(t => t.Name).OrderBy(n => n));
        var fresh = LlamaForCausalLM.Create(TinyLlamas.Qwen2, seed: 9);
        LoraAdapterFiles.Load(fresh, folder);
        Assert.True(fresh.model.layers[0].self_attn.q_proj is LoraLinear l &&
                    LinearWeights.Of(l).Bias!.eq(LinearWeights.Of(((LoraLinear)model.model.layers[0].self_attn.q_proj!)).Bias!).all().item<bool>());
    }
}
