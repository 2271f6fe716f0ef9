extern alias analyzers;
using System;
using System.IO;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis.Diagnostics;
using Xunit;
using static LoraKit.Analyzers.Tests.AnalyzerVerifier;

namespace LoraKit.Analyzers.Tests;

/// <summary>LORA2xxx on [LoraModel]/[LoraLinear] and ConfigFile models read from AdditionalFiles.</summary>
public class ModelRuleTests
{
    private static readonly string Llama2Config = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Configs", "llama2-7b.json"));

    [Fact]
    public async Task Invalid_dimension_points_at_the_argument()
    {
        var d = await VerifyAsync("""
            using LoraKit;
            [LoraModel(LoraArchitecture.Llama, {|LORA2001:HiddenSize = -4096|}, IntermediateSize = 11008, Layers = 32, AttentionHeads = 32, VocabSize = 32000)]
            public partial class Broken;
            [LoraAdapter(typeof(Broken), Rank = 8, {|LORA1001:Alpha = 8|})]
            public partial class StillChecked;
            """);
        Assert.Equal("Broken: 'HiddenSize' is -4096; give a positive integer", Single(d, "LORA2001").GetMessage());
    }

    [Fact]
    public async Task Missing_dimension_is_reported_on_the_attribute()
    {
        await VerifyAsync("""
            using LoraKit;
            [{|LORA2001:LoraModel(LoraArchitecture.Llama, HiddenSize = 4096, Layers = 32, AttentionHeads = 32, VocabSize = 32000)|}]
            public partial class NoMlp;
            """);
    }

    [Fact]
    public async Task Heads_that_do_not_divide()
    {
        var d = await VerifyAsync("""
            using LoraKit;
            [LoraModel(LoraArchitecture.Llama, HiddenSize = 4096, IntermediateSize = 11008, Layers = 32, {|LORA2002:AttentionHeads = 30|}, VocabSize = 32000)]
            public partial class OddHeads;
            [LoraModel(LoraArchitecture.Llama, HiddenSize = 4096, IntermediateSize = 11008, Layers = 32, AttentionHeads = 32, {|LORA2002:KeyValueHeads = 5|}, VocabSize = 32000)]
            public partial class OddKv;
            [LoraModel(LoraArchitecture.Llama, HiddenSize = 4096, IntermediateSize = 11008, Layers = 32, AttentionHeads = 30, HeadDim = 128, KeyValueHeads = 6, VocabSize = 32000)]
            public partial class ExplicitHeadDim;
            """);
        Assert.Contains(d, x => x.GetMessage() == "OddKv: 'KeyValueHeads' 5 key/value heads do not divide 32 attention heads; grouped-query attention needs the attention heads to be a multiple of the key/value heads");
    }

    [Fact]
    public async Task Custom_model_layers()
    {
        await VerifyAsync("""
            using LoraKit;
            [LoraModel(LoraArchitecture.Custom, OtherParameters = 1000)]
            [LoraLinear("encoder.fc1", 784, 256)]
            [{|LORA2005:LoraLinear("encoder.fc2", 256, 0)|}]
            public partial class BadSizes;
            [LoraModel(LoraArchitecture.Custom, OtherParameters = 1000)]
            [LoraLinear("blocks.fc", 64, 64, {|LORA2005:Count = 4|})]
            public partial class NoIndex;
            [{|LORA2005:LoraModel(LoraArchitecture.Custom, OtherParameters = 10)|}]
            public partial class NoLayers;
            [LoraModel(LoraArchitecture.Custom, OtherParameters = 200000)]
            [LoraLinear("blocks.{i}.fc1", 256, 1024, Count = 4)]
            [LoraLinear("blocks.{i}.fc2", 1024, 256, Count = 4)]
            [LoraLinear("head", 256, 10, IsOutputHead = true)]
            public partial class Mlp;
            [LoraAdapter(typeof(Mlp), Rank = 4, Alpha = 8, TargetModules = new[] { "fc1", {|LORA1004:"fc3"|} })]
            public partial class MlpAdapter;
            """);
    }

    [Fact]
    public async Task Adapter_of_a_class_without_LoraModel()
    {
        await VerifyAsync("""
            using LoraKit;
            public class NotAModel { }
            [LoraAdapter({|LORA2001:typeof(NotAModel)|}, Rank = 8, Alpha = 16)]
            public partial class A;
            """);
    }

    // ---- ConfigFile ----

    private const string ConfigModel = """
        using LoraKit;
        [LoraModel({|ID:ConfigFile = "models/llama2/config.json"|})]
        public partial class Llama2;
        [LoraAdapter(typeof(Llama2), {|LORA1002:Rank = 4|}, Alpha = 8)]
        public partial class SupportAdapter;
        """;

    [Fact]
    public async Task ConfigFile_found_by_path_relative_to_the_project()
    {
        var options = new TestOptions().WithFile(TestOptions.ProjectDir + "models/llama2/config.json", Llama2Config);
        var d = await VerifyAsync(ConfigModel.Replace("{|ID:ConfigFile = \"models/llama2/config.json\"|}", "ConfigFile = \"models/llama2/config.json\""), options);
        Assert.Contains("of Llama2's 6,738,415,616", Single(d, "LORA1002").GetMessage());
    }

    [Fact]
    public async Task ConfigFile_found_by_file_name_and_backslashes()
    {
        var options = new TestOptions().WithFile("/elsewhere/shared/config.json", Llama2Config);
        options.Build.Remove("ProjectDir");
        await VerifyAsync(ConfigModel.Replace("{|ID:ConfigFile = \"models/llama2/config.json\"|}", "ConfigFile = @\"models\\llama2\\config.json\""), options);
    }

    [Fact]
    public async Task ConfigFile_not_among_AdditionalFiles_is_LORA2003()
    {
        var d = await VerifyAsync(ConfigModel.Replace("{|ID:", "{|LORA2003:").Replace("{|LORA1002:Rank = 4|}", "Rank = 4"));
        Assert.Equal("models/llama2/config.json: is not among the project's AdditionalFiles; add <AdditionalFiles Include=\"models/llama2/config.json\" /> to the project",
            Single(d, "LORA2003").GetMessage());
    }

    [Theory]
    [InlineData("{ \"hidden_size\": 4096, ", "LORA2003", "is not valid JSON")]
    [InlineData("{ \"model_type\": \"gpt2\", \"hidden_size\": 768 }", "LORA2004", "is \"gpt2\", which LoraKit does not build")]
    [InlineData("{ \"model_type\": \"llama\", \"hidden_size\": 4096 }", "LORA2001", "'intermediate_size' is missing")]
    // The key table of LoraKit.Core: what the runtime would refuse is refused at compile time.
    [InlineData("{ \"model_type\": \"llama\", \"hidden_size\": 4096, \"intermediate_size\": 11008, \"num_hidden_layers\": 32, \"num_attention_heads\": 32, \"vocab_size\": 32000, \"rope_scaling\": { \"rope_type\": \"su\", \"factor\": 2.0 } }", "LORA2004", "'rope_scaling.rope_type' is \"su\", a RoPE scaling LoraKit does not implement")]
    [InlineData("{ \"model_type\": \"llama\", \"hidden_size\": 4096, \"intermediate_size\": 11008, \"num_hidden_layers\": 32, \"num_attention_heads\": 32, \"vocab_size\": 32000, \"quantization_config\": { \"bits\": 4 } }", "LORA2004", "'quantization_config' has quant_method missing")]
    [InlineData("{ \"model_type\": \"llama\", \"hidden_size\": 4096, \"intermediate_size\": 11008, \"num_hidden_layers\": 32, \"num_attention_heads\": 30, \"vocab_size\": 32000 }", "LORA2002", "30 heads do not divide hidden size 4096")]
    public async Task Invalid_config_files_are_reported_at_the_ConfigFile_argument(string json, string id, string message)
    {
        var options = new TestOptions().WithFile(TestOptions.ProjectDir + "models/llama2/config.json", json);
        var d = await VerifyAsync(ConfigModel.Replace("{|ID:", "{|" + id + ":").Replace("{|LORA1002:Rank = 4|}", "Rank = 4"), options);
        Assert.Contains(message, Single(d, id).GetMessage());
        Assert.StartsWith("models/llama2/config.json", Single(d, id).GetMessage());
    }

    [Fact]
    public async Task Unreadable_config_file_is_LORA2003()
    {
        var options = new TestOptions();
        options.AdditionalFiles.Clear();
        var text = new InMemoryAdditionalText(TestOptions.ProjectDir + "models/llama2/config.json", null);
        var (source, _) = Markup.Parse(ConfigModel.Replace("{|ID:", "{|LORA2003:"));
        var compilation = Compile(source);
        var withAnalyzers = compilation.WithAnalyzers(
            System.Collections.Immutable.ImmutableArray.Create<Microsoft.CodeAnalysis.Diagnostics.DiagnosticAnalyzer>(new analyzers::LoraKit.Analyzers.LoraAnalyzer()),
            new Microsoft.CodeAnalysis.Diagnostics.AnalyzerOptions(System.Collections.Immutable.ImmutableArray.Create<Microsoft.CodeAnalysis.AdditionalText>(text), options.ToAnalyzerOptions().AnalyzerConfigOptionsProvider));
        var d = await withAnalyzers.GetAnalyzerDiagnosticsAsync();
        Assert.Contains("cannot be read", Single(d, "LORA2003").GetMessage());
    }
}
