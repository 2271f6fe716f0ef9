namespace LoraKit.Generators.Tests;

/// <summary>The model descriptions the tests share.</summary>
public static class Sources
{
    /// <summary>The seed's Llama-2-7B and its recommended adapter (r=8, α=16 on q/v).</summary>
    public const string Llama = """
        using LoraKit;

        namespace Support.Models
        {
            [LoraModel(LoraArchitecture.Llama, HiddenSize = 4096, IntermediateSize = 11008, Layers = 32,
                       AttentionHeads = 32, KeyValueHeads = 32, VocabSize = 32000)]
            public partial class Llama2_7B;

            [LoraAdapter(typeof(Llama2_7B), Rank = 8, Alpha = 16, Dropout = 0.05, TargetModules = new[] { "q_proj", "v_proj" })]
            public partial class SupportAdapter;
        }
        """;

    /// <summary>Llama-3-8B: grouped-query attention (8 KV heads), so k/v are narrower than q/o.</summary>
    public const string Gqa = """
        using LoraKit;

        namespace Gqa;

        [LoraModel(LoraArchitecture.Llama, HiddenSize = 4096, IntermediateSize = 14336, Layers = 32,
                   AttentionHeads = 32, KeyValueHeads = 8, VocabSize = 128256)]
        internal partial class Llama3_8B;

        [LoraAdapter(typeof(Llama3_8B), Rank = 16, Alpha = 32, TargetModules = new[] { "q_proj", "k_proj", "v_proj", "o_proj" })]
        internal partial class AttentionAdapter;
        """;

    /// <summary>all-linear with rsLoRA and LoraOnly biases on a biased, tied model.</summary>
    public const string AllLinear = """
        using LoraKit;

        namespace Tiny.Adapters;

        [LoraModel(LoraArchitecture.Llama, HiddenSize = 64, IntermediateSize = 128, Layers = 2, AttentionHeads = 4,
                   KeyValueHeads = 2, VocabSize = 100, TieWordEmbeddings = true, AttentionBias = true)]
        public partial class TinyBiased;

        [LoraAdapter(typeof(TinyBiased), Rank = 4, Alpha = 8, UseRsLora = true, Bias = LoraBias.LoraOnly, TargetModules = new[] { LoraConfig.AllLinear })]
        public partial class EverythingAdapter;
        """;

    /// <summary>A custom model: a repeated block (per-layer type), a single encoder layer and an output head.</summary>
    public const string Custom = """
        using LoraKit;

        namespace Vision;

        [LoraModel(LoraArchitecture.Custom, OtherParameters = 1000)]
        [LoraLinear("encoder.fc1", 784, 256, Bias = true)]
        [LoraLinear("blocks.{i}.attn.qkv", 256, 768, Count = 4)]
        [LoraLinear("blocks.{i}.mlp.fc", 256, 256, Count = 4)]
        [LoraLinear("head", 256, 10, IsOutputHead = true)]
        public partial class Mlp;

        [LoraAdapter(typeof(Mlp), Rank = 4, Alpha = 8, TargetModules = new[] { "encoder.fc1", "qkv", "fc" })]
        public partial class MlpAdapter;
        """;

    /// <summary>Classes in the global namespace.</summary>
    public const string NoNamespace = """
        using LoraKit;

        [LoraModel(LoraArchitecture.Llama, HiddenSize = 256, IntermediateSize = 688, Layers = 4, AttentionHeads = 4,
                   KeyValueHeads = 2, VocabSize = 259)]
        public partial class Builtin;

        [LoraAdapter(typeof(Builtin), TargetModules = new[] { "q_proj", "v_proj" })]
        public partial class GlobalAdapter;
        """;

    /// <summary>A model whose dimensions come from a config.json AdditionalFile.</summary>
    public const string ConfigFile = """
        using LoraKit;

        namespace FromConfig;

        [LoraModel(ConfigFile = "models/smol/config.json")]
        public partial class Smol;

        [LoraAdapter(typeof(Smol), Rank = 8, Alpha = 16, TargetModules = new[] { "q_proj", "v_proj" })]
        public partial class SmolAdapter;
        """;

    public const string SmolConfigPath = GeneratorHarness.ProjectDir + "models/smol/config.json";

    public const string SmolConfig = """
        {
          "architectures": ["LlamaForCausalLM"],
          "model_type": "llama",
          "hidden_size": 576,
          "intermediate_size": 1536,
          "num_hidden_layers": 30,
          "num_attention_heads": 9,
          "num_key_value_heads": 3,
          "vocab_size": 49152,
          "tie_word_embeddings": true,
          "rope_theta": 100000,
          "rms_norm_eps": 1e-05,
          "max_position_embeddings": 8192
        }
        """;
}
