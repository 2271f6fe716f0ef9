using System;
using System.IO;
using System.Linq;
using System.Text.Json.Nodes;
using LoraKit.Lora;
using LoraKit.Modeling;
using LoraKit.SafeTensors;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace LoraKit.Tests.HfReference;

/// <summary>
/// LoraKit's merge of tiny-llama + peft-llama-r4 against PEFT's own <c>merge_and_unload()</c> + save_pretrained
/// of the same pair (<c>peft-llama-r4-merged</c>): every tensor within 1e-6, the same names, shapes and
/// dtypes, and config.json equal key for key.
/// </summary>
public class HfReferenceMergeTests : IDisposable
{
    /// <summary>Largest allowed |LoraKit − PEFT| of a merged weight.</summary>
    private const double WeightTolerance = 1e-6;

    private readonly TempFolder _temp = new();
    private readonly ITestOutputHelper _output;

    public HfReferenceMergeTests(ITestOutputHelper output) => _output = output;

    public void Dispose() => _temp.Dispose();

    private static string Base => HfReferenceFiles.Folder("tiny-llama");

    [Fact]
    public void Merged_weights_and_config_equal_pefts_merged_folder()
    {
        var merged = _temp.File("merged");
        // PEFT's script loaded the base as "tiny-llama" (its working folder held it), which transformers records as _name_or_path.
        var injection = LoraAdapterFiles.MergeIntoCheckpoint(Base, HfReferenceFiles.Folder("peft-llama-r4"), merged, baseNameOrPath: "tiny-llama");
        Assert.Equal(6, injection.AdaptedPaths.Count);

        using (var ours = SafeTensorsFile.Open(Path.Combine(merged, "model.safetensors")))
        using (var peft = SafeTensorsFile.Open(Path.Combine(HfReferenceFiles.Folder("peft-llama-r4-merged"), "model.safetensors")))
        {
            Assert.Equal(peft.Tensors.Select(t => t.Name).OrderBy(n => n, StringComparer.Ordinal), ours.Tensors.Select(t => t.Name).OrderBy(n => n, StringComparer.Ordinal));
            Assert.Equal("pt", ours.Metadata["format"]);
            var worst = 0.0;
            foreach (var expected in peft.Tensors)
            {
                var actual = ours.Info(expected.Name);
                Assert.Equal(expected.DType, actual.DType);
                Assert.Equal(expected.Shape, actual.Shape);
                using var a = ours.Load(expected.Name);
                using var e = peft.Load(expected.Name);
                var diff = (a.to(ScalarType.Float64) - e.to(ScalarType.Float64)).abs().max().item<double>();
                worst = Math.Max(worst, diff);
                Assert.True(diff <= WeightTolerance, $"{expected.Name}: max |LoraKit − PEFT| = {diff:E3}");
            }
            _output.WriteLine($"max |merged weight − PEFT's| = {worst:E2}");
        }

        var ourConfig = ReadObject(Path.Combine(merged, "config.json"));
        var peftConfig = ReadObject(Path.Combine(HfReferenceFiles.Folder("peft-llama-r4-merged"), "config.json"));
        AssertSameKeysAndValues(peftConfig, ourConfig, except: "transformers_version");
        // Every key of the base survives unchanged, in its order.
        var baseConfig = ReadObject(Path.Combine(Base, "config.json"));
        AssertSameKeysAndValues(baseConfig, ourConfig.Where(kv => kv.Key != "_name_or_path"));

        foreach (var file in new[] { "generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json" })
            Assert.Equal(File.ReadAllBytes(Path.Combine(Base, file)), File.ReadAllBytes(Path.Combine(merged, file)));
        Assert.Equal(new[] { merged }, Directory.GetDirectories(_temp.Path)); // no temporary folder left beside it
    }

    [Fact]
    public void Merged_checkpoint_gives_pefts_logits()
    {
        var merged = _temp.File("merged");
        LoraAdapterFiles.MergeIntoCheckpoint(Base, HfReferenceFiles.Folder("peft-llama-r4"), merged);
        var reference = HfReferenceFiles.Load("peft-llama-r4");
        using var model = HfCheckpoint.Load(merged);
        model.eval();
        using var noGrad = torch.no_grad();
        using var logits = model.forward(reference.Batch.Ids());
        using var expected = reference.Batch.ExpectedLogits();
        var diff = (logits.to(ScalarType.Float64) - expected).abs().max().item<double>();
        using var loss = LlamaForCausalLM.CausalLmLoss(logits, reference.Batch.LabelTensor());
        var mergedLoss = reference.Json.GetProperty("merged").GetProperty("loss").GetDouble();
        _output.WriteLine($"merged: max |Δlogit| vs PEFT unmerged {diff:E2}; loss {loss.item<float>()} vs PEFT merged {mergedLoss}");
        Assert.True(diff <= 1e-4, $"max |logit − PEFT| = {diff:E3}");
        Assert.True(Math.Abs(loss.item<float>() - mergedLoss) <= 1e-5);
    }

    [Fact]
    public void A_bf16_merge_changes_only_torch_dtype()
    {
        var merged = _temp.File("merged-bf16");
        LoraAdapterFiles.MergeIntoCheckpoint(Base, HfReferenceFiles.Folder("peft-llama-r4"), merged, ScalarType.BFloat16);
        var config = ReadObject(Path.Combine(merged, "config.json"));
        Assert.Equal("bfloat16", (string?)config["torch_dtype"]);
        Assert.Equal(Base, (string?)config["_name_or_path"]);
        var baseConfig = ReadObject(Path.Combine(Base, "config.json"));
        AssertSameKeysAndValues(baseConfig, config.Where(kv => kv.Key != "_name_or_path"), except: "torch_dtype");
        using var file = SafeTensorsFile.Open(Path.Combine(merged, "model.safetensors"));
        Assert.All(file.Tensors, t => Assert.Equal(SafeTensorDType.BF16, t.DType));
    }

    [Fact]
    public void Merge_refuses_a_non_empty_folder_before_loading_anything()
    {
        var target = _temp.File("taken");
        Directory.CreateDirectory(target);
        File.WriteAllText(Path.Combine(target, "keep.txt"), "mine");
        var e = Assert.Throws<IOException>(() => LoraAdapterFiles.MergeIntoCheckpoint(Base, HfReferenceFiles.Folder("peft-llama-r4"), target));
        Assert.Contains(target, e.Message);
        Assert.Contains("not empty", e.Message);
        Assert.Equal(new[] { Path.Combine(target, "keep.txt") }, Directory.GetFileSystemEntries(target));
    }

    [Fact]
    public void A_base_config_that_cannot_be_kept_faithfully_stops_the_merge_and_writes_nothing()
    {
        // A base whose config.json repeats a key: readers disagree on which value counts (Python's json takes the
        // later one), so Core's reader refuses it (LORA2003) before anything is loaded or written.
        var baseCopy = _temp.File("base");
        Directory.CreateDirectory(baseCopy);
        foreach (var f in Directory.GetFiles(Base)) File.Copy(f, Path.Combine(baseCopy, Path.GetFileName(f)));
        var text = File.ReadAllText(Path.Combine(Base, "config.json"));
        File.WriteAllText(Path.Combine(baseCopy, "config.json"), text.Replace("\"use_cache\": true,", "\"use_cache\": true,\n  \"use_cache\": false,", StringComparison.Ordinal));
        var merged = _temp.File("merged");
        var e = Assert.Throws<LoraKit.Models.ModelDescriptionException>(() => LoraAdapterFiles.MergeIntoCheckpoint(baseCopy, HfReferenceFiles.Folder("peft-llama-r4"), merged));
        Assert.Contains(Path.Combine(baseCopy, "config.json"), e.Message);
        Assert.Contains("use_cache", e.Message);
        Assert.Contains("appears twice", e.Message);
        Assert.False(Directory.Exists(merged));
        Assert.Equal(new[] { baseCopy }, Directory.GetDirectories(_temp.Path));
    }

    [Fact]
    public void Derived_config_follows_the_dtype_key_the_base_uses()
    {
        // transformers ≥ 4.56 writes "dtype" instead of "torch_dtype".
        var newer = "{\n  \"architectures\": [\"LlamaForCausalLM\"],\n  \"dtype\": \"bfloat16\",\n  \"rope_theta\": 500000.0,\n  \"rms_norm_eps\": 1e-05\n}\n"u8;
        var derived = JsonNode.Parse(HfCheckpoint.DerivedConfigJson(newer, "config.json", ScalarType.Float32, "meta-llama/Llama-3.2-1B"))!.AsObject();
        Assert.Equal(new[] { "_name_or_path", "architectures", "dtype", "rope_theta", "rms_norm_eps" }, derived.Select(kv => kv.Key));
        Assert.Equal("float32", (string?)derived["dtype"]);
        Assert.Equal("meta-llama/Llama-3.2-1B", (string?)derived["_name_or_path"]);
        var text = System.Text.Encoding.UTF8.GetString(HfCheckpoint.DerivedConfigJson(newer, "config.json", ScalarType.BFloat16, null));
        Assert.Contains("\"rope_theta\": 500000.0,", text); // numbers keep their text
        Assert.Contains("\"rms_norm_eps\": 1e-05", text);
        Assert.DoesNotContain("_name_or_path", text);
        Assert.EndsWith("}\n", text, StringComparison.Ordinal);

        // No dtype key: float32 is transformers' default, so only another dtype adds torch_dtype.
        var none = "{\"model_type\": \"llama\"}"u8;
        Assert.False(JsonNode.Parse(HfCheckpoint.DerivedConfigJson(none, "c", ScalarType.Float32, null))!.AsObject().ContainsKey("torch_dtype"));
        Assert.Equal("float16", (string?)JsonNode.Parse(HfCheckpoint.DerivedConfigJson(none, "c", ScalarType.Float16, null))!["torch_dtype"]);
    }

    private static JsonObject ReadObject(string path) => JsonNode.Parse(File.ReadAllBytes(path))!.AsObject();

    /// <summary>The same keys in the same order with deep-equal values (JSON kinds included), leaving out <paramref name="except"/>.</summary>
    private static void AssertSameKeysAndValues(System.Collections.Generic.IEnumerable<System.Collections.Generic.KeyValuePair<string, JsonNode?>> expected,
        System.Collections.Generic.IEnumerable<System.Collections.Generic.KeyValuePair<string, JsonNode?>> actual, string? except = null)
    {
        var e = expected.Where(kv => kv.Key != except).ToList();
        var a = actual.Where(kv => kv.Key != except).ToList();
        Assert.Equal(e.Select(kv => kv.Key), a.Select(kv => kv.Key));
        foreach (var (key, value) in e)
        {
            var other = a.Single(kv => kv.Key == key).Value;
            Assert.True(JsonNode.DeepEquals(value, other), $"{key}: expected {value?.ToJsonString() ?? "null"}, got {other?.ToJsonString() ?? "null"}");
        }
    }
}
