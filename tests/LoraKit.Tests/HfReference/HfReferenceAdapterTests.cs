using System;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Text.Json.Nodes;
using LoraKit.Lora;
using LoraKit.Modeling;
using LoraKit.SafeTensors;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace LoraKit.Tests.HfReference;

/// <summary>
/// Adapters LoraKit saves against the folders PEFT 0.12's save_pretrained wrote: the same adapter_config.json
/// keys, values and JSON types, and the same tensors.
/// </summary>
public class HfReferenceAdapterTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    public static TheoryData<string, string> Adapters => new()
    {
        { "peft-llama-r4", "tiny-llama" }, { "peft-qwen2-r4", "tiny-qwen2" }, { "peft-gemma2-r4", "tiny-gemma2" }, { "peft-phi3-r4", "tiny-phi3" },
    };

    [Theory]
    [MemberData(nameof(Adapters))]
    public void A_peft_adapter_saved_again_by_lorakit_has_pefts_config_and_tensors(string adapter, string baseName)
    {
        var pefts = HfReferenceFiles.Folder(adapter);
        using var model = HfCheckpoint.Load(HfReferenceFiles.Folder(baseName));
        LoraAdapterFiles.Load(model, pefts);
        var saved = _temp.File(adapter);
        // PEFT's script named the base "tiny-llama" / "tiny-qwen2" (the folder as it passed it).
        LoraAdapterFiles.Save(model, "default", saved, baseName);

        var expected = JsonNode.Parse(File.ReadAllBytes(Path.Combine(pefts, "adapter_config.json")))!.AsObject();
        var actual = JsonNode.Parse(File.ReadAllBytes(Path.Combine(saved, "adapter_config.json")))!.AsObject();
        Assert.Equal(expected.Select(kv => kv.Key), actual.Select(kv => kv.Key)); // PEFT sorts its keys
        foreach (var (key, value) in expected)
        {
            if (key == "target_modules") continue;
            Assert.True(JsonNode.DeepEquals(value, actual[key]), $"{key}: PEFT wrote {value?.ToJsonString() ?? "null"}, LoraKit {actual[key]?.ToJsonString() ?? "null"}");
            Assert.Equal(value?.GetValueKind() ?? JsonValueKind.Null, actual[key]?.GetValueKind() ?? JsonValueKind.Null);
        }
        // PEFT writes a Python set (no fixed order); LoraKit writes the same names sorted.
        var peftTargets = expected["target_modules"]!.AsArray().Select(n => (string)n!).ToList();
        var ourTargets = actual["target_modules"]!.AsArray().Select(n => (string)n!).ToList();
        Assert.Equal(peftTargets.OrderBy(t => t, StringComparer.Ordinal), ourTargets);

        using var ours = SafeTensorsFile.Open(Path.Combine(saved, "adapter_model.safetensors"));
        using var theirs = SafeTensorsFile.Open(Path.Combine(pefts, "adapter_model.safetensors"));
        Assert.Equal(theirs.Tensors.Select(t => t.Name).OrderBy(n => n, StringComparer.Ordinal), ours.Tensors.Select(t => t.Name).OrderBy(n => n, StringComparer.Ordinal));
        foreach (var t in theirs.Tensors)
        {
            Assert.Equal(t.Shape, ours.Info(t.Name).Shape);
            Assert.Equal(t.DType, ours.Info(t.Name).DType);
            using var a = ours.Load(t.Name);
            using var b = theirs.Load(t.Name);
            Assert.True(a.eq(b).all().item<bool>(), $"{t.Name} differs from PEFT's");
        }
    }

    [Fact]
    public void All_linear_is_saved_as_the_module_names_it_matched()
    {
        var reference = HfReferenceFiles.Load("tiny-llama");
        // PEFT's rule: the last name of every linear module but the output head. transformers' own tensor list
        // tells which weights are linear (2-D, not the embedding, not the head).
        var expected = reference.Json.GetProperty("tensors_in_file").EnumerateObject()
            .Where(t => t.Value.GetProperty("shape").GetArrayLength() == 2 && t.Name != "model.embed_tokens.weight" && t.Name != "lm_head.weight")
            .Select(t => t.Name.Split('.')[^2]).Distinct().OrderBy(n => n, StringComparer.Ordinal).ToArray();
        Assert.Equal(7, expected.Length);

        using var model = HfCheckpoint.Load(HfReferenceFiles.Folder("tiny-llama"));
        var injection = LoraInjector.Inject(model, new LoraConfig { Rank = 2, Alpha = 4, TargetModules = new[] { LoraConfig.AllLinear } });
        var folder = _temp.File("all-linear");
        var baseAsGiven = HfReferenceFiles.Folder("tiny-llama");
        LoraAdapterFiles.Save(model, "default", folder, baseAsGiven);

        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(folder, "adapter_config.json")));
        var root = doc.RootElement;
        Assert.Equal(JsonValueKind.Array, root.GetProperty("target_modules").ValueKind);
        Assert.Equal(expected, root.GetProperty("target_modules").EnumerateArray().Select(e => e.GetString()).ToArray());
        Assert.True(root.GetProperty("inference_mode").GetBoolean());
        Assert.Equal("CAUSAL_LM", root.GetProperty("task_type").GetString());
        Assert.Equal(baseAsGiven, root.GetProperty("base_model_name_or_path").GetString());

        // The saved names adapt the same modules when loaded back.
        using var fresh = HfCheckpoint.Load(HfReferenceFiles.Folder("tiny-llama"));
        var again = LoraAdapterFiles.Load(fresh, folder);
        Assert.Equal(injection.AdaptedPaths, again.AdaptedPaths);
        Assert.Equal(21, again.AdaptedPaths.Count);
    }
}
