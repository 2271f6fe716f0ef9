using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using LoraKit.Peft;
using LoraKit.SafeTensors;
using TorchSharp;
using Xunit;

namespace LoraKit.Tests;

public class PeftAdapterConfigTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private string WriteConfig(string json)
    {
        var path = _temp.File(PeftAdapterConfig.FileName);
        File.WriteAllText(path, json);
        return path;
    }

    [Fact]
    public void Fixture_config_reads_peft_values()
    {
        var config = PeftAdapterConfig.Load(TestFiles.FixtureConfig);
        Assert.Equal("LORA", config.PeftType);
        Assert.Equal(8, config.R);
        Assert.Equal(8.0, config.LoraAlpha);
        Assert.Equal(1.0, config.Scaling);
        Assert.Equal(0.0, config.LoraDropout);
        Assert.NotNull(config.TargetModules);
        Assert.False(config.TargetModules!.IsPattern);
        Assert.Equal(new[] { "c_attn" }, config.TargetModules.Names);
        Assert.True(config.FanInFanOut);
        Assert.Equal(LoraBias.None, config.Bias);
        Assert.False(config.UseRsLora);
        Assert.False(config.UseDora);
        Assert.Equal("true", config.InitLoraWeights);
        Assert.Equal("SEQ_CLS", config.TaskType);
        Assert.Equal("gpt2", config.BaseModelNameOrPath);
        Assert.True(config.InferenceMode);
        Assert.Null(config.ModulesToSave);
        Assert.Null(config.LayersToTransform);
        Assert.Empty(config.RankPattern);
        Assert.Empty(config.AlphaPattern);
        // Keys LoraKit does not type are kept raw.
        Assert.Equal("\"megatron.core\"", config.ExtraKeys["megatron_core"].GetRawText());
        Assert.Equal(JsonValueKind.Null, config.ExtraKeys["revision"].ValueKind);
        Assert.Equal(JsonValueKind.Object, config.ExtraKeys["loftq_config"].ValueKind);
    }

    [Fact]
    public void Saving_the_fixture_config_unchanged_reproduces_peft_bytes()
    {
        var config = PeftAdapterConfig.Load(TestFiles.FixtureConfig);
        var path = _temp.File("saved.json");
        config.Save(path);
        Assert.Equal(File.ReadAllText(TestFiles.FixtureConfig), File.ReadAllText(path));
    }

    [Fact]
    public void Unknown_keys_survive_load_then_save_and_keys_are_sorted()
    {
        var path = WriteConfig("""
            {"zeta_future": {"nested": [1, 2.5, "x"], "flag": true}, "peft_type": "LORA", "r": 4, "lora_alpha": 32,
             "target_modules": ["q_proj", "v_proj"], "lora_dropout": 0.05, "alpha_future": null,
             "layers_to_transform": 3, "rank_pattern": {"q_proj": 2}, "alpha_pattern": {"v_proj": 12.5}}
            """);
        var config = PeftAdapterConfig.Load(path);
        var saved = _temp.File("saved.json");
        config.Save(saved);
        var text = File.ReadAllText(saved);

        using var doc = JsonDocument.Parse(text);
        var keys = doc.RootElement.EnumerateObject().Select(p => p.Name).ToList();
        Assert.Equal(keys.OrderBy(k => k, StringComparer.Ordinal), keys);
        Assert.Equal(JsonValueKind.Null, doc.RootElement.GetProperty("alpha_future").ValueKind);
        var future = doc.RootElement.GetProperty("zeta_future");
        Assert.Equal(2.5, future.GetProperty("nested")[1].GetDouble());
        Assert.True(future.GetProperty("flag").GetBoolean());
        Assert.Equal("0.05", doc.RootElement.GetProperty("lora_dropout").GetRawText());
        Assert.Equal("32", doc.RootElement.GetProperty("lora_alpha").GetRawText());
        Assert.Equal("3", doc.RootElement.GetProperty("layers_to_transform").GetRawText());
        Assert.Equal(2, doc.RootElement.GetProperty("rank_pattern").GetProperty("q_proj").GetInt32());
        Assert.Equal(12.5, doc.RootElement.GetProperty("alpha_pattern").GetProperty("v_proj").GetDouble());
        Assert.StartsWith("{\n  \"alpha_future\": null,\n  \"alpha_pattern\": {\n    \"v_proj\": 12.5\n  },", text);
        Assert.False(text.EndsWith('\n'));

        var again = PeftAdapterConfig.Load(saved);
        Assert.Equal(4, again.R);
        Assert.Equal(new[] { 3 }, again.LayersToTransform);
        Assert.Equal(new[] { "q_proj", "v_proj" }, again.TargetModules!.Names);
        Assert.Equal(config.ToJsonBytes(), again.ToJsonBytes());
    }

    [Fact]
    public void Target_modules_as_a_regex_string_is_kept_as_given()
    {
        var path = WriteConfig("{\"peft_type\": \"LORA\", \"r\": 8, \"target_modules\": \".*\\\\.(q|v)_proj$\"}");
        var config = PeftAdapterConfig.Load(path);
        Assert.True(config.TargetModules!.IsPattern);
        Assert.Equal(".*\\.(q|v)_proj$", config.TargetModules.Pattern);
        var saved = _temp.File("saved.json");
        config.Save(saved);
        using var doc = JsonDocument.Parse(File.ReadAllText(saved));
        Assert.Equal(".*\\.(q|v)_proj$", doc.RootElement.GetProperty("target_modules").GetString());
        Assert.Throws<NotSupportedException>(() => config.ToLoraConfig());
    }

    [Theory]
    [InlineData("\"rank_pattern\": {\"q_proj\": 16}", "rank_pattern")]
    [InlineData("\"alpha_pattern\": {\"q_proj\": 32}", "alpha_pattern")]
    [InlineData("\"layers_to_transform\": [0, 1]", "layers_to_transform")]
    [InlineData("\"layer_replication\": [[0, 2], [1, 3]]", "layer_replication")]
    [InlineData("\"use_dora\": true", "use_dora")]
    public void Settings_that_change_the_computation_are_refused_not_ignored(string setting, string key)
    {
        var config = PeftAdapterConfig.Load(WriteConfig($"{{\"peft_type\": \"LORA\", \"r\": 8, \"target_modules\": [\"q_proj\"], {setting}}}"));
        var e = Assert.Throws<NotSupportedException>(() => config.ToLoraConfig());
        Assert.Contains(key, e.Message);
        // PEFT's defaults for the same keys are fine.
        var defaults = PeftAdapterConfig.Load(WriteConfig(
            "{\"peft_type\": \"LORA\", \"r\": 8, \"target_modules\": [\"q_proj\"], \"rank_pattern\": {}, \"alpha_pattern\": {}, " +
            "\"layers_to_transform\": null, \"layer_replication\": null, \"use_dora\": false}"));
        Assert.Equal(8, defaults.ToLoraConfig().Rank);
    }

    [Fact]
    public void Missing_alpha_takes_peft_default_8()
    {
        var config = PeftAdapterConfig.Load(WriteConfig("{\"peft_type\": \"LORA\", \"r\": 16}"));
        Assert.Equal(8.0, config.LoraAlpha);
        Assert.Equal(0.5, config.Scaling);
    }

    [Fact]
    public void RsLora_scaling_is_alpha_over_square_root_of_r()
    {
        var config = PeftAdapterConfig.Load(WriteConfig("{\"peft_type\": \"LORA\", \"r\": 16, \"lora_alpha\": 8, \"use_rslora\": true}"));
        Assert.Equal(2.0, config.Scaling);
    }

    [Theory]
    [InlineData("{\"peft_type\": \"LORA\", \"r\": 8", null, "not valid JSON")]
    [InlineData("[\"LORA\"]", null, "not a JSON object")]
    [InlineData("{\"r\": 8}", "peft_type", "missing")]
    [InlineData("{\"peft_type\": \"IA3\", \"r\": 8}", "peft_type", "not \"LORA\"")]
    [InlineData("{\"peft_type\": \"LORA\"}", "r", "missing")]
    [InlineData("{\"peft_type\": \"LORA\", \"r\": 0}", "r", "not a positive integer")]
    [InlineData("{\"peft_type\": \"LORA\", \"r\": -4}", "r", "not a positive integer")]
    [InlineData("{\"peft_type\": \"LORA\", \"r\": 8.5}", "r", "not a positive integer")]
    [InlineData("{\"peft_type\": \"LORA\", \"r\": \"8\"}", "r", "not a positive integer")]
    [InlineData("{\"peft_type\": \"LORA\", \"r\": 8, \"lora_alpha\": \"16\"}", "lora_alpha", "not a number")]
    [InlineData("{\"peft_type\": \"LORA\", \"r\": 8, \"lora_dropout\": 1.5}", "lora_dropout", "outside [0, 1)")]
    [InlineData("{\"peft_type\": \"LORA\", \"r\": 8, \"bias\": \"some\"}", "bias", "\"some\"")]
    [InlineData("{\"peft_type\": \"LORA\", \"r\": 8, \"target_modules\": 5}", "target_modules", "a number")]
    [InlineData("{\"peft_type\": \"LORA\", \"r\": 8, \"use_rslora\": \"yes\"}", "use_rslora", "not true or false")]
    [InlineData("{\"peft_type\": \"LORA\", \"r\": 8, \"r\": 16}", "r", "more than once")]
    public void Invalid_config_names_file_key_and_problem(string json, string? key, string problem)
    {
        var path = WriteConfig(json);
        var ex = Assert.Throws<PeftFormatException>(() => PeftAdapterConfig.Load(path));
        Assert.Equal(path, ex.File);
        Assert.Contains(path, ex.Message);
        Assert.Equal(key, ex.Key);
        if (key is not null) Assert.Contains($"'{key}'", ex.Message);
        Assert.Contains(problem, ex.Message);
        Assert.False(string.IsNullOrWhiteSpace(ex.Fix));
    }

    [Fact]
    public void Converts_to_and_from_lora_config()
    {
        var config = PeftAdapterConfig.Load(TestFiles.FixtureConfig);
        var lora = config.ToLoraConfig();
        Assert.Equal(8, lora.Rank);
        Assert.Equal(8.0, lora.Alpha);
        Assert.Equal(0.0, lora.Dropout);
        Assert.Equal(new[] { "c_attn" }, lora.TargetModules);
        Assert.Equal(LoraBias.None, lora.Bias);
        Assert.False(lora.UseRsLora);
        Assert.Equal(LoraInitWeights.Default, lora.InitWeights);
        Assert.Equal(config.Scaling, lora.Scaling);

        var allLinear = new LoraConfig
        {
            Rank = 16, Alpha = 32, Dropout = 0.1, TargetModules = new[] { LoraConfig.AllLinear },
            Bias = LoraBias.LoraOnly, UseRsLora = true, InitWeights = LoraInitWeights.Gaussian,
        };
        // PEFT never saves the literal all-linear: it needs the modules it adapted.
        Assert.Throws<ArgumentException>(() => PeftAdapterConfig.FromLoraConfig(allLinear, "meta-llama/Llama-3.2-1B", "CAUSAL_LM"));
        var back = PeftAdapterConfig.FromLoraConfig(allLinear, "meta-llama/Llama-3.2-1B", "CAUSAL_LM",
            new[] { "model.layers.0.self_attn.q_proj", "model.layers.0.mlp.down_proj", "model.layers.1.self_attn.q_proj" });
        Assert.Equal(16, back.R);
        Assert.Equal(32.0, back.LoraAlpha);
        Assert.Equal(0.1, back.LoraDropout);
        Assert.Equal(new[] { "down_proj", "q_proj" }, back.TargetModules!.Names);
        Assert.Equal(LoraBias.LoraOnly, back.Bias);
        Assert.True(back.UseRsLora);
        Assert.Equal("gaussian", back.InitLoraWeights);
        Assert.Equal("CAUSAL_LM", back.TaskType);

        var json = Encoding.UTF8.GetString(back.ToJsonBytes());
        Assert.Contains("\"target_modules\": [\n    \"down_proj\",\n    \"q_proj\"\n  ]", json);
        Assert.Contains("\"megatron_core\": \"megatron.core\"", json); // PEFT 0.12's other keys, at its defaults
        Assert.Contains("\"loftq_config\": {}", json);
        Assert.Contains("\"bias\": \"lora_only\"", json);
        Assert.Contains("\"init_lora_weights\": \"gaussian\"", json);
        Assert.Contains("\"lora_dropout\": 0.1,", json);
        var again = PeftAdapterConfig.Parse(back.ToJsonBytes(), "memory").ToLoraConfig();
        Assert.Equal(new[] { "down_proj", "q_proj" }, again.TargetModules);
        Assert.Equal(LoraInitWeights.Gaussian, again.InitWeights);
    }
}

public class PeftAdapterTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void Fixture_adapter_parses_into_twelve_c_attn_modules_and_the_score_head()
    {
        using var adapter = PeftAdapter.Load(TestFiles.FixtureFolder);
        Assert.Equal(8, adapter.Config.R);
        Assert.Equal(8.0, adapter.Config.LoraAlpha);
        Assert.Equal(1.0, adapter.Config.Scaling);
        Assert.Equal(new[] { "c_attn" }, adapter.Config.TargetModules!.Names);
        Assert.True(adapter.Config.FanInFanOut);

        Assert.Equal(12, adapter.Modules.Count);
        Assert.Equal(Enumerable.Range(0, 12).Select(i => $"transformer.h.{i}.attn.c_attn").OrderBy(p => p, StringComparer.Ordinal),
            adapter.Modules.Select(m => m.Path).OrderBy(p => p, StringComparer.Ordinal));
        foreach (var m in adapter.Modules)
        {
            Assert.Equal($"base_model.model.{m.Path}.lora_A.weight", m.LoraA.Name);
            Assert.Equal($"base_model.model.{m.Path}.lora_B.weight", m.LoraB.Name);
            Assert.Equal(new long[] { 8, 768 }, m.LoraA.Shape);
            Assert.Equal(new long[] { 2304, 8 }, m.LoraB.Shape);
            Assert.Equal(8, m.Rank);
            Assert.Equal(768, m.InFeatures);
            Assert.Equal(2304, m.OutFeatures);
            Assert.Null(m.AdapterName);
            Assert.False(m.IsEmbedding);
        }
        Assert.Equal(12 * (8 * 768 + 2304 * 8), adapter.LoraParameterCount);
        Assert.Equal(294_912, adapter.LoraParameterCount);

        var head = Assert.Single(adapter.ModulesToSave);
        Assert.Equal("base_model.model.score.weight", head.Name);
        Assert.Equal(new long[] { 6, 768 }, head.Shape);
        Assert.Equal(4_608, adapter.ModulesToSaveParameterCount);
        Assert.Equal(25, adapter.Tensors.Count);

        using var b = adapter.Load("base_model.model.transformer.h.11.attn.c_attn.lora_B.weight");
        Assert.Equal(new long[] { 2304, 8 }, b.shape);
    }

    [Fact]
    public void Saving_the_fixture_adapter_reproduces_both_peft_files_byte_for_byte()
    {
        var target = _temp.File("adapter");
        using (var adapter = PeftAdapter.Load(TestFiles.FixtureFolder))
        {
            var tensors = adapter.Tensors.Select(t => new KeyValuePair<string, torch.Tensor>(t.Name, adapter.Load(t.Name))).ToList();
            PeftAdapter.Save(target, adapter.Config, tensors);
            foreach (var (_, t) in tensors) t.Dispose();
        }
        Assert.Equal(File.ReadAllBytes(TestFiles.FixtureWeights), File.ReadAllBytes(Path.Combine(target, PeftAdapter.WeightsFileName)));
        Assert.Equal(File.ReadAllBytes(TestFiles.FixtureConfig), File.ReadAllBytes(Path.Combine(target, PeftAdapterConfig.FileName)));

        using var reloaded = PeftAdapter.Load(target);
        Assert.Equal(new Dictionary<string, string> { ["format"] = "pt" }, reloaded.Weights.Metadata);
        Assert.Equal(294_912, reloaded.LoraParameterCount);
    }

    [Fact]
    public void Missing_weights_file_is_named()
    {
        Directory.CreateDirectory(_temp.File("a"));
        File.Copy(TestFiles.FixtureConfig, Path.Combine(_temp.File("a"), PeftAdapterConfig.FileName));
        var ex = Assert.Throws<PeftFormatException>(() => PeftAdapter.Load(_temp.File("a")));
        Assert.Equal(Path.Combine(_temp.File("a"), PeftAdapter.WeightsFileName), ex.File);
        Assert.Contains("adapter_model.safetensors", ex.Message);
        Assert.Contains("missing", ex.Message);
    }

    [Fact]
    public void Pickle_weights_are_refused_with_a_safetensors_only_message()
    {
        var folder = _temp.File("b");
        Directory.CreateDirectory(folder);
        File.Copy(TestFiles.FixtureConfig, Path.Combine(folder, PeftAdapterConfig.FileName));
        File.WriteAllBytes(Path.Combine(folder, PeftAdapter.PickleWeightsFileName), new byte[] { 0x80, 0x02 });
        var ex = Assert.Throws<PeftFormatException>(() => PeftAdapter.Load(folder));
        Assert.Equal(Path.Combine(folder, PeftAdapter.PickleWeightsFileName), ex.File);
        Assert.Contains("only safetensors", ex.Message);
        Assert.Contains("safe_serialization=True", ex.Message);
    }

    [Fact]
    public void Missing_config_file_is_named()
    {
        var folder = _temp.File("c");
        Directory.CreateDirectory(folder);
        File.Copy(TestFiles.FixtureWeights, Path.Combine(folder, PeftAdapter.WeightsFileName));
        var ex = Assert.Throws<PeftFormatException>(() => PeftAdapter.Load(folder));
        Assert.Equal(Path.Combine(folder, PeftAdapterConfig.FileName), ex.File);
        Assert.Contains("adapter_config.json", ex.Message);
    }

    private static SafeTensorEntry Zeros(string name, params long[] shape) =>
        new(name, SafeTensorDType.F32, shape, new byte[shape.Aggregate(4L, (a, d) => a * d)]);

    private string WriteAdapter(string folder, int r, params SafeTensorEntry[] entries)
    {
        var path = _temp.File(folder);
        Directory.CreateDirectory(path);
        File.WriteAllText(Path.Combine(path, PeftAdapterConfig.FileName), $"{{\"peft_type\": \"LORA\", \"r\": {r}, \"lora_alpha\": 16, \"target_modules\": [\"q_proj\"]}}");
        SafeTensorsWriter.Write(Path.Combine(path, PeftAdapter.WeightsFileName), entries, new Dictionary<string, string> { ["format"] = "pt" });
        return path;
    }

    [Fact]
    public void Adapter_name_segment_is_recognised_and_reported()
    {
        var folder = WriteAdapter("named", 2,
            Zeros("base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight", 2, 16),
            Zeros("base_model.model.model.layers.0.self_attn.q_proj.lora_B.default.weight", 32, 2),
            Zeros("base_model.model.model.embed_tokens.lora_embedding_A", 2, 100),
            Zeros("base_model.model.model.embed_tokens.lora_embedding_B", 16, 2),
            Zeros("base_model.model.model.layers.0.self_attn.q_proj.bias", 32));
        using var adapter = PeftAdapter.Load(folder);
        var q = adapter.Modules.Single(m => m.Path == "model.layers.0.self_attn.q_proj");
        Assert.Equal("default", q.AdapterName);
        Assert.Equal(16, q.InFeatures);
        Assert.Equal(32, q.OutFeatures);
        var embed = adapter.Modules.Single(m => m.Path == "model.embed_tokens");
        Assert.True(embed.IsEmbedding);
        Assert.Equal(2 * 16 + 32 * 2 + 2 * 100 + 16 * 2, adapter.LoraParameterCount);
        Assert.Equal("base_model.model.model.layers.0.self_attn.q_proj.bias", Assert.Single(adapter.ModulesToSave).Name);
        Assert.Equal(32, adapter.ModulesToSaveParameterCount);
    }

    [Fact]
    public void Lora_A_without_its_B_is_an_error_naming_the_tensor()
    {
        var folder = WriteAdapter("lonely", 2, Zeros("base_model.model.q_proj.lora_A.weight", 2, 16));
        var ex = Assert.Throws<PeftFormatException>(() => PeftAdapter.Load(folder));
        Assert.Equal("base_model.model.q_proj.lora_A.weight", ex.Key);
        Assert.Contains("no lora_B partner", ex.Message);
        Assert.EndsWith(PeftAdapter.WeightsFileName, ex.File);
    }

    [Fact]
    public void Rank_differing_from_the_config_is_an_error()
    {
        var folder = WriteAdapter("rank", 4,
            Zeros("base_model.model.q_proj.lora_A.weight", 2, 16),
            Zeros("base_model.model.q_proj.lora_B.weight", 32, 2));
        var ex = Assert.Throws<PeftFormatException>(() => PeftAdapter.Load(folder));
        Assert.Equal("base_model.model.q_proj.lora_A.weight", ex.Key);
        Assert.Contains("rank 2", ex.Message);
        Assert.Contains("r = 4", ex.Message);
    }

    [Fact]
    public void A_and_B_ranks_must_agree()
    {
        var folder = WriteAdapter("mismatch", 2,
            Zeros("base_model.model.q_proj.lora_A.weight", 2, 16),
            Zeros("base_model.model.q_proj.lora_B.weight", 32, 3));
        var ex = Assert.Throws<PeftFormatException>(() => PeftAdapter.Load(folder));
        Assert.Equal("base_model.model.q_proj.lora_B.weight", ex.Key);
        Assert.Contains("differs from lora_A", ex.Message);
    }

    [Fact]
    public void Save_writes_format_pt_metadata_and_a_loadable_folder()
    {
        var folder = _temp.File("new");
        var config = PeftAdapterConfig.FromLoraConfig(new LoraConfig { Rank = 2, Alpha = 4, TargetModules = new[] { "q_proj" } });
        using var a = torch.randn(2, 16);
        using var b = torch.zeros(32, 2);
        PeftAdapter.Save(folder, config, new Dictionary<string, torch.Tensor>
        {
            ["base_model.model.layers.0.q_proj.lora_A.weight"] = a,
            ["base_model.model.layers.0.q_proj.lora_B.weight"] = b,
        });
        Assert.Equal(new[] { PeftAdapterConfig.FileName, PeftAdapter.WeightsFileName }, Directory.GetFiles(folder).Select(Path.GetFileName).OrderBy(n => n, StringComparer.Ordinal));
        using var adapter = PeftAdapter.Load(folder);
        Assert.Equal("pt", adapter.Weights.Metadata["format"]);
        Assert.Equal(2.0, adapter.Config.Scaling);
        var module = Assert.Single(adapter.Modules);
        Assert.Equal("layers.0.q_proj", module.Path);
        using var loaded = adapter.Load(module.LoraA.Name);
        using var same = loaded.equal(a).all();
        Assert.True(same.item<bool>());
    }
}
