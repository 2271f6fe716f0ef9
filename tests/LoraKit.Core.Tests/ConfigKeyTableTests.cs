using System.IO;
using System.Linq;
using LoraKit.Json;
using LoraKit.Models;
using Xunit;

namespace LoraKit.Core.Tests;

/// <summary>Real config.json files (Configs/, see PROVENANCE.md) and the key table: honoured, irrelevant or refused.</summary>
public class ConfigKeyTableTests
{
    public static readonly TheoryData<string, long> RealConfigs = new()
    {
        { "llama2-7b", 6_738_415_616L },
        { "llama3.1-8b", 8_030_261_248L },
        { "llama3.2-1b", 1_235_814_400L },
        { "mistral-7b-v0.3", 7_248_023_552L },
        { "qwen2.5-0.5b", 494_032_768L },
        { "qwen2.5-1.5b", 1_543_714_304L },
        { "smollm2-135m", 134_515_008L },
        { "tinyllama", 1_100_048_384L },
        { "gemma-2-2b", 2_614_341_888L },
        { "gemma-2-9b-it", 9_241_705_984L },
        { "phi-3-mini-4k-instruct", 3_821_079_552L },
        { "phi-3.5-mini-instruct", 3_821_079_552L },
    };

    [Theory]
    [MemberData(nameof(RealConfigs))]
    public void Real_configs_are_accepted_with_their_published_parameter_count(string name, long parameters)
    {
        Assert.Equal(parameters, HfConfig.LoadShape(TestFiles.Config(name)).TotalParameters);
    }

    [Theory]
    [MemberData(nameof(RealConfigs))]
    public void Every_key_of_the_real_configs_is_in_the_table(string name, long _)
    {
        var root = JsonValue.Parse(File.ReadAllText(TestFiles.Config(name)));
        var unknown = root.Members.Select(m => m.Key).Where(k => !HfConfigKeys.TryGet(k, out ConfigKeyRule _)).ToList();
        Assert.Empty(unknown);
        Assert.DoesNotContain(root.Members, m => HfConfigKeys.TryGet(m.Key, out var r) && r.Role == ConfigKeyRole.Refused && m.Value.Kind != JsonKind.Null);
    }

    [Fact]
    public void Llama3_rope_is_honoured()
    {
        foreach (var (name, factor) in new[] { ("llama3.1-8b", 8.0), ("llama3.2-1b", 32.0) })
        {
            var d = HfConfig.Load(TestFiles.Config(name));
            Assert.Equal(new RopeScaling { Type = RopeType.Llama3, Factor = factor, LowFrequencyFactor = 1, HighFrequencyFactor = 4, OriginalMaxPositionEmbeddings = 8192 }, d.RopeScaling);
            Assert.Equal(500000.0, d.RopeTheta);
        }
        Assert.Equal(64, HfConfig.Load(TestFiles.Config("llama3.2-1b")).EffectiveHeadDim);
    }

    [Fact]
    public void Real_configs_without_a_window_attend_fully()
    {
        foreach (var name in new[] { "mistral-7b-v0.3", "qwen2.5-0.5b", "qwen2.5-1.5b", "llama2-7b" })
        {
            var d = HfConfig.Load(TestFiles.Config(name));
            Assert.Equal(0, d.SlidingWindow);
            Assert.Null(d.RopeScaling);
        }
    }

    [Fact]
    public void A_bitsandbytes_nf4_quantization_config_is_accepted()
    {
        // As transformers' BitsAndBytesConfig.to_dict writes it into a …-bnb-4bit checkpoint's config.json.
        var d = Parse("""
            "quantization_config": { "_load_in_4bit": true, "_load_in_8bit": false, "bnb_4bit_compute_dtype": "bfloat16",
              "bnb_4bit_quant_storage": "uint8", "bnb_4bit_quant_type": "nf4", "bnb_4bit_use_double_quant": true,
              "llm_int8_enable_fp32_cpu_offload": false, "llm_int8_has_fp16_weight": false, "llm_int8_skip_modules": null,
              "llm_int8_threshold": 6.0, "load_in_4bit": true, "load_in_8bit": false, "quant_method": "bitsandbytes" }
            """);
        Assert.Equal(64, d.HiddenSize);
    }

    private const string Minimal = """
        { "model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 4,
          "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 100 }
        """;

    private static LlamaDimensions Parse(string extra, string type = "llama") =>
        HfConfig.Parse(Minimal.Replace("\"llama\"", $"\"{type}\"").Replace("\"vocab_size\": 100", "\"vocab_size\": 100, " + extra), "m/config.json");

    private static ModelDescriptionException Refused(string extra, string type = "llama") =>
        Assert.Throws<ModelDescriptionException>(() => Parse(extra, type));

    [Theory]
    [InlineData("\"rope_scaling\": {\"rope_type\": \"su\", \"factor\": 2.0}", "LORA2004", "'rope_scaling.rope_type' is \"su\", a RoPE scaling LoraKit does not implement; supported: default, linear, dynamic, llama3, yarn, longrope")]
    [InlineData("\"rope_scaling\": {\"type\": \"mrope\"}", "LORA2004", "'rope_scaling.type' is \"mrope\"")]
    [InlineData("\"rope_scaling\": {\"rope_type\": \"linear\"}", "LORA2001", "'rope_scaling.factor' is missing")]
    [InlineData("\"rope_scaling\": {\"rope_type\": \"linear\", \"factor\": \"2\"}", "LORA2001", "'rope_scaling.factor' is a string, not a number")]
    [InlineData("\"rope_scaling\": {\"rope_type\": \"linear\", \"factor\": 2.0, \"mscale\": 1.0}", "LORA2004", "'rope_scaling.mscale' is not read by rope_type \"linear\"")]
    [InlineData("\"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0, \"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0}", "LORA2001", "'rope_scaling.original_max_position_embeddings' is missing")]
    [InlineData("\"rope_scaling\": [1, 2]", "LORA2001", "'rope_scaling' is a array, not an object")]
    [InlineData("\"quantization_config\": {\"quant_method\": \"gptq\"}", "LORA2004", "'quantization_config' has quant_method \"gptq\"; LoraKit loads bitsandbytes 4-bit checkpoints only")]
    [InlineData("\"quantization_config\": {\"quant_method\": \"bitsandbytes\", \"load_in_8bit\": true}", "LORA2004", "'quantization_config' is not 4-bit")]
    [InlineData("\"quantization_config\": {\"quant_method\": \"bitsandbytes\", \"load_in_4bit\": true, \"bnb_4bit_quant_type\": \"fp4\"}", "LORA2004", "only \"nf4\" is supported")]
    [InlineData("\"quantization_config\": {\"quant_method\": \"bitsandbytes\", \"load_in_4bit\": true, \"bnb_4bit_quant_type\": \"nf4\", \"llm_int8_skip_modules\": [\"lm_head\", \"mlp\"]}", "LORA2004", "lists llm_int8_skip_modules")]
    [InlineData("\"attn_logit_softcapping\": 50.0", "LORA2004", "'attn_logit_softcapping' is a Gemma 2 key that transformers' llama does not read")]
    [InlineData("\"architectures\": [\"Phi3ForCausalLM\"]", "LORA2004", "'architectures' names Phi3ForCausalLM while model_type is \"llama\"")]
    [InlineData("\"architectures\": [\"GemmaForCausalLM\"]", "LORA2004", "'architectures' names GemmaForCausalLM, a class LoraKit does not build")]
    [InlineData("\"auto_map\": {\"AutoModelForCausalLM\": \"x.Y\"}", "LORA2004", "'auto_map' names custom modeling code")]
    [InlineData("\"architectures\": [\"MistralForCausalLM\"]", "LORA2004", "while model_type is \"llama\"")]
    [InlineData("\"hidden_act\": \"gelu\"", "LORA2004", "'hidden_act' is \"gelu\"")]
    [InlineData("\"attention_dropout\": 0.1", "LORA2004", "'attention_dropout' is 0.1")]
    [InlineData("\"sliding_window\": 4096", "LORA2004", "transformers' Llama has no sliding-window attention")]
    [InlineData("\"rope_interleaved\": true", "LORA2004", "'rope_interleaved' is true")]
    [InlineData("\"partial_rotary_factor\": 0.5", "LORA2004", "'partial_rotary_factor' is 0.5")]
    [InlineData("\"logit_scale\": 0.5", "LORA2004", "'logit_scale' is not a key LoraKit knows")]
    [InlineData("\"rope_theta\": 10000.0, \"rope_parameters\": {\"rope_type\": \"default\", \"rope_theta\": 500000.0}", "LORA2004", "'rope_parameters.rope_theta' is 500000.0 while the top-level rope_theta is 10000.0")]
    public void Keys_that_change_the_math_and_are_not_implemented_are_refused(string extra, string id, string fragment)
    {
        var e = Refused(extra);
        Assert.Equal(id, e.Id);
        Assert.StartsWith($"{id}: m/config.json(", e.Message); // file and line
        Assert.Contains(fragment, e.Message);
        Assert.DoesNotContain("\n", e.Message);
    }

    [Fact]
    public void Attention_bias_in_a_qwen2_config_is_refused_because_transformers_ignores_it()
    {
        var e = Refused("\"attention_bias\": true", "qwen2");
        Assert.Equal("LORA2004", e.Id);
        Assert.Contains("ignores it", e.Message);
    }

    [Fact]
    public void Unknown_keys_that_do_not_look_mathematical_are_accepted()
    {
        var d = Parse("\"speculators_version\": \"1.0\", \"_name_or_path\": \"x\", \"custom_note\": \"hi\"");
        Assert.Equal(64, d.HiddenSize);
        Assert.True(HfConfigKeys.LooksMathematical("attn_scale"));
        Assert.False(HfConfigKeys.LooksMathematical("speculators_version"));
    }

    [Fact]
    public void Legacy_type_and_transformers_5_rope_parameters_are_read()
    {
        Assert.Equal(new RopeScaling { Type = RopeType.Linear, Factor = 2 }, Parse("\"rope_scaling\": {\"type\": \"linear\", \"factor\": 2.0}").RopeScaling);
        Assert.Equal(new RopeScaling { Type = RopeType.Dynamic, Factor = 2 }, Parse("\"rope_scaling\": {\"rope_type\": \"dynamic\", \"factor\": 2.0}").RopeScaling);
        var v5 = Parse("\"rope_parameters\": {\"rope_type\": \"default\", \"rope_theta\": 1000000.0}");
        Assert.Equal(1_000_000.0, v5.RopeTheta);
        Assert.Null(v5.RopeScaling);
        Assert.Null(Parse("\"rope_scaling\": {\"rope_type\": \"default\"}").RopeScaling);
    }

    [Fact]
    public void Yarn_in_transformers_5_rope_parameters_uses_factor_as_given()
    {
        // transformers 5 writes original_max_position_embeddings = max_position_embeddings itself and applies factor as
        // given (checked against its logits in LoraKit.Tests' hf-rope fixture); the legacy rope_scaling form of the same
        // numbers — the Qwen2.5 model card's {factor 4, original 32768, type yarn} with max 32768 — means the same in the
        // current release (and in 4.47, which read no original context), so it is accepted as the same scaling.
        var v5 = Parse("\"max_position_embeddings\": 16, \"rope_parameters\": {\"rope_type\": \"yarn\", \"factor\": 4.0, \"original_max_position_embeddings\": 16, \"rope_theta\": 10000.0}");
        Assert.Equal(new RopeScaling { Type = RopeType.Yarn, Factor = 4, OriginalMaxPositionEmbeddings = 16 }, v5.RopeScaling);
        var legacy = Parse("\"max_position_embeddings\": 16, \"rope_scaling\": {\"type\": \"yarn\", \"factor\": 4.0, \"original_max_position_embeddings\": 16}");
        Assert.Equal(v5.RopeScaling, legacy.RopeScaling);
        Assert.Equal(64, RopeMath.LongestSequence(legacy));
    }

    [Fact]
    public void Longrope_derives_its_factor_from_the_original_context()
    {
        var factors = "[" + string.Join(", ", Enumerable.Repeat("1.0", 8)) + "]";
        var d = Parse($"\"max_position_embeddings\": 8192, \"original_max_position_embeddings\": 2048, \"rope_scaling\": {{\"rope_type\": \"longrope\", \"short_factor\": {factors}, \"long_factor\": {factors}}}");
        Assert.Equal(4.0, d.RopeScaling!.Factor);
        Assert.Equal(2048, RopeMath.OriginalContext(d));
        var e = Refused("\"rope_scaling\": {\"rope_type\": \"longrope\", \"factor\": 2.0, \"short_factor\": [1.0], \"long_factor\": [1.0]}");
        Assert.Contains("'rope_scaling.short_factor' holds 1 entries", e.Message);
    }

    [Fact]
    public void Mistral_window_applies_to_every_layer_and_defaults_to_4096()
    {
        var d = Parse("\"sliding_window\": 16", "mistral");
        Assert.Equal(16, d.SlidingWindow);
        Assert.All(Enumerable.Range(0, 4), i => Assert.Equal(16, d.AttentionWindow(i)));
        Assert.Equal(4096, Parse("\"head_dim\": 16", "mistral").SlidingWindow); // MistralConfig's default
        Assert.Equal(0, Parse("\"sliding_window\": null", "mistral").SlidingWindow);
    }

    [Fact]
    public void Qwen2_window_applies_from_max_window_layers_on_when_turned_on()
    {
        Assert.Equal(0, Parse("\"sliding_window\": 16, \"max_window_layers\": 2", "qwen2").SlidingWindow); // use_sliding_window defaults to false
        var d = Parse("\"use_sliding_window\": true, \"sliding_window\": 16, \"max_window_layers\": 2", "qwen2");
        Assert.Equal(new[] { 0, 0, 16, 16 }, Enumerable.Range(0, 4).Select(d.AttentionWindow));
        var typed = Parse("\"use_sliding_window\": true, \"sliding_window\": 16, \"layer_types\": [\"full_attention\", \"sliding_attention\", \"sliding_attention\", \"sliding_attention\"]", "qwen2");
        Assert.Equal(new[] { 0, 16, 16, 16 }, Enumerable.Range(0, 4).Select(typed.AttentionWindow));
        var e = Refused("\"use_sliding_window\": true, \"sliding_window\": 16, \"layer_types\": [\"sliding_attention\", \"full_attention\", \"sliding_attention\", \"full_attention\"]", "qwen2");
        Assert.Equal("LORA2004", e.Id);
    }

    [Fact]
    public void The_table_names_each_key_once_with_a_meaning()
    {
        Assert.Equal(HfConfigKeys.All.Count, HfConfigKeys.All.Select(r => r.Key).Distinct().Count());
        Assert.All(HfConfigKeys.All, r => Assert.False(string.IsNullOrWhiteSpace(r.Meaning)));
        Assert.True(HfConfigKeys.TryGet("pretraining_tp", out var tp) && tp.Role == ConfigKeyRole.Irrelevant);
        Assert.True(HfConfigKeys.TryGet("attn_logit_softcapping", out var cap) && cap.Role == ConfigKeyRole.Honoured);
        Assert.True(HfConfigKeys.TryGet("no_rope_layers", out var noRope) && noRope.Role == ConfigKeyRole.Refused);
        Assert.True(HfConfigKeys.TryGet("quantization_config", out var q) && q.Role == ConfigKeyRole.Honoured);
    }
}
