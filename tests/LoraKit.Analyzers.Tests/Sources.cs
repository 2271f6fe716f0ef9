namespace LoraKit.Analyzers.Tests;

/// <summary>Model declarations the tests share. Numbers are Llama-2-7B's config.json (6,738,415,616 parameters).</summary>
public static class Sources
{
    public const string Llama2_7B = """
        [LoraModel(LoraArchitecture.Llama, HiddenSize = 4096, IntermediateSize = 11008, Layers = 32,
                   AttentionHeads = 32, KeyValueHeads = 32, VocabSize = 32000)]
        public partial class Llama2_7B;

        """;

    /// <summary>A custom model of exactly 1,600,000 parameters: r=8 on fc trains 16,000 = 1 % exactly.</summary>
    public const string Exact = """
        [LoraModel(LoraArchitecture.Custom, OtherParameters = 600000)]
        [LoraLinear("fc", 1000, 1000)]
        public partial class Exact;

        """;

    public static string WithModels(string adapters) => "using LoraKit;\n\n" + Llama2_7B + Exact + adapters;
}
