using LoraKit.Builtin;
using LoraKit.Data;
using LoraKit.Inference;
using LoraKit.Lora;
using LoraKit.Modeling;
using TorchSharp;

namespace LoraKit.Gguf.Tests;

/// <summary>
/// Where no transformers reference exists, llama.cpp against LoraKit itself (whose forward the LoraKit.Tests hold to
/// transformers and PEFT): an adapter on every linear layer with rsLoRA (k_proj's lora_b permuted with the key/value
/// heads, the MLP, α·√r), and a builtin-shaped model with LoraKit's byte tokenizer. TorchSharp and llama.cpp run in
/// the same process.
/// </summary>
public class LlamaCppLoraKitTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static readonly int[] Ids = { 297, 286, 274, 278, 292, 258, 276, 259, 46, 258, 277, 278, 72, 101, 108, 265 };

    [Fact]
    public void Rslora_adapter_on_every_linear_layer_gives_lorakit_logits_applied_and_merged()
    {
        using var temp = new TempFolder();
        var baseFolder = Fixtures.Folder("tiny-llama");
        var adapterFolder = Path.Combine(temp.Path, "all-linear");
        using (var model = HfCheckpoint.Load(baseFolder))
        {
            var config = new LoraConfig { Rank = 8, Alpha = 4, TargetModules = new[] { LoraConfig.AllLinear }, UseRsLora = true, InitWeights = LoraInitWeights.Random };
            LoraInjector.Inject(model, config, "default", seed: 11);
            LoraAdapterFiles.Save(model, "default", adapterFolder);
        }
        float[][] expected;
        using (var lorakit = LoraKitModel.Load(baseFolder, adapterFolder))
            expected = LoraKitLogits(lorakit, Ids);

        var baseFile = temp.File("base.gguf");
        var loraFile = temp.File("lora.gguf");
        var mergedFile = temp.File("merged.gguf");
        GgufExporter.ExportBase(baseFolder, baseFile);
        GgufExporter.ExportAdapter(baseFolder, adapterFolder, loraFile);
        GgufExporter.ExportMerged(baseFolder, adapterFolder, mergedFile);
        var lora = GgufFile.Open(loraFile);
        Assert.Equal(3 * 7 * 2, lora.Tensors.Count);
        Assert.Equal(4 * MathF.Sqrt(8), (float)lora["adapter.lora.alpha"]!.Value, 5);

        float[][] without;
        using (var plain = new LlamaCpp(baseFile)) without = plain.Logits(Ids);
        Assert.True(Fixtures.MaxAbsDiff(without[^1], expected[^1]) > 1e-2f, "the adapter must change the logits for this test to mean anything");
        foreach (var (file, lorafile) in new[] { (baseFile, loraFile), (mergedFile, (string?)null) })
        {
            using var llama = new LlamaCpp(file, lorafile);
            var got = llama.Logits(Ids);
            for (var p = 0; p < Ids.Length; p++)
            {
                var diff = Fixtures.MaxAbsDiff(expected[p], got[p]);
                Assert.True(diff <= 1e-3f, $"{(lorafile is null ? "merged" : "adapter")} position {p}: max |llama.cpp − LoraKit| = {diff:E2}");
            }
        }
    }

    /// <summary>
    /// Config variants the fixtures do not cover, against LoraKit's forward: a Gemma 2 with another rope_theta (its
    /// sliding layers read rope.freq_base_swa), a Phi-3 rotating half of each head (Phi-4-mini's partial_rotary_factor,
    /// rope.dimension_count) with tied embeddings (no output.weight). Gemma 2 within 2e-3 (ggml's float16 GELU table, see
    /// LlamaCppReferenceTests).
    /// </summary>
    [Theory]
    [InlineData("tiny-gemma2", "{\"rope_theta\": 100.0}", 2e-3f)]
    [InlineData("tiny-phi3", "{\"partial_rotary_factor\": 0.5, \"tie_word_embeddings\": true}", 1e-3f)]
    public void Config_variants_give_lorakit_logits(string model, string edits, float tolerance)
    {
        using var temp = new TempFolder();
        var folder = TokenizerAndRefusalTests.CopyModel(model, temp.Path);
        TokenizerAndRefusalTests.EditConfig(folder, json =>
        {
            foreach (var (key, value) in System.Text.Json.Nodes.JsonNode.Parse(edits)!.AsObject()) json[key] = value?.DeepClone();
        });
        float[][] expected;
        using (var lorakit = LoraKitModel.Load(folder))
            expected = LoraKitLogits(lorakit, Ids);
        var gguf = temp.File("variant.gguf");
        GgufExporter.ExportBase(folder, gguf);
        using var llama = new LlamaCpp(gguf);
        var got = llama.Logits(Ids);
        var max = 0f;
        for (var p = 0; p < Ids.Length; p++)
        {
            var diff = Fixtures.MaxAbsDiff(expected[p], got[p]);
            Assert.True(diff <= tolerance, $"{model} {edits} position {p}: max |llama.cpp − LoraKit| = {diff:E2}");
            max = Math.Max(max, diff);
        }
        output.WriteLine($"{model} {edits}: max |llama.cpp − LoraKit| = {max:E2}");
    }

    /// <summary>
    /// Phi-3 LongRoPE (no transformers fixture: tiny-phi3's weights at 512 positions of an original 256, so the
    /// attention factor √(1 + ln 2 / ln 256) applies): rope_factors_short/long and rope.scaling.attn_factor, exported at
    /// the original context, give LoraKit's logits in llama.cpp run with that context; run with a larger one, llama.cpp
    /// takes the long factors for every sequence, which is why a larger context is refused.
    /// </summary>
    [Fact]
    public void Phi3_longrope_gives_lorakit_logits_within_its_original_context()
    {
        using var temp = new TempFolder();
        var folder = TokenizerAndRefusalTests.CopyModel("tiny-phi3", temp.Path);
        TokenizerAndRefusalTests.EditConfig(folder, json =>
        {
            json["max_position_embeddings"] = 512;
            json["original_max_position_embeddings"] = 256;
            json["rope_scaling"] = System.Text.Json.Nodes.JsonNode.Parse(TokenizerAndRefusalTests.LongRopeScaling);
        });
        float[][] expected;
        using (var lorakit = LoraKitModel.Load(folder))
            expected = LoraKitLogits(lorakit, Ids);
        var gguf = temp.File("phi3-longrope.gguf");
        Assert.Equal("rope_scaling", Assert.Throws<GgufExportException>(() => GgufExporter.ExportBase(folder, gguf)).Key);
        GgufExporter.ExportBase(folder, gguf, new GgufExportOptions { ContextLength = 256 });
        var file = GgufFile.Open(gguf);
        Assert.True(file.TryGetTensor("rope_factors_short.weight", out var shortFactors));
        Assert.Equal(new long[] { 8 }, shortFactors.Dimensions);
        Assert.Equal(MathF.Sqrt(1 + MathF.Log(2) / MathF.Log(256)), (float)file["phi3.rope.scaling.attn_factor"]!.Value, 5);

        using (var llama = new LlamaCpp(gguf, context: 256))
        {
            var got = llama.Logits(Ids);
            var max = 0f;
            for (var p = 0; p < Ids.Length; p++)
            {
                var diff = Fixtures.MaxAbsDiff(expected[p], got[p]);
                Assert.True(diff <= 1e-3f, $"position {p}: max |llama.cpp − LoraKit| = {diff:E2}");
                max = Math.Max(max, diff);
            }
            output.WriteLine($"phi3 longrope: max |llama.cpp − LoraKit| = {max:E2}");
        }
        using (var longContext = new LlamaCpp(gguf, context: 512))
            Assert.True(Fixtures.MaxAbsDiff(expected[^1], longContext.Logits(Ids)[^1]) > 1e-2f, "llama.cpp at a context above the original one should use the long factors");
    }

    /// <summary>
    /// A model of the builtin preset's shape (random weights: pretraining the real one takes a minute) in a builtin
    /// folder: its byte tokenizer written as gpt2 byte symbols without merges, so llama.cpp maps UTF-8 bytes to LoraKit's ids.
    /// </summary>
    [Fact]
    public void Builtin_shaped_model_gives_lorakit_logits_greedy_tokens_and_byte_ids()
    {
        using var temp = new TempFolder();
        var folder = Path.Combine(temp.Path, "builtin");
        using (var model = LlamaForCausalLM.Create(BuiltinModel.Dimensions, seed: 5))
        {
            model.InitializeWeights(5, std: 0.08);
            HfCheckpoint.Save(model, folder);
        }
        File.WriteAllText(Path.Combine(folder, BuiltinModel.MarkerFileName), "{\"tokenizer\": \"byte\"}");
        var gguf = temp.File("builtin.gguf");
        GgufExporter.ExportBase(folder, gguf);

        using var lorakit = LoraKitModel.Load(folder);
        using var llama = new LlamaCpp(gguf);
        foreach (var text in new[] { "date: 2024-03-07\n", "naïve café — 日本語 🙂 tabs\tand  spaces", "<s> is text here" })
        {
            var ids = lorakit.EncodePrompt(text);
            Assert.Equal(ids, llama.Tokenize(text, special: false)); // LoraKit's byte tokenizer reads "<s>" as three bytes
            var expected = LoraKitLogits(lorakit, ids);
            var got = llama.Logits(ids);
            Assert.True(Fixtures.MaxAbsDiff(expected[^1], got[^1]) <= 1e-3f, $"{text}: last-position logits differ by {Fixtures.MaxAbsDiff(expected[^1], got[^1]):E2}");
            var greedy = lorakit.GenerateTokens(ids, new GenerationOptions { MaxNewTokens = 12, EosTokenIds = new[] { ByteTokenizer.Eos } }).NewIds;
            Assert.Equal(greedy, llama.Greedy(ids, 12, ByteTokenizer.Eos));
        }
    }

    private static float[][] LoraKitLogits(LoraKitModel model, IReadOnlyList<int> ids)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var input = torch.tensor(ids.Select(i => (long)i).ToArray(), new long[] { 1, ids.Count });
        var logits = model.Model.forward(input)[0].to(torch.ScalarType.Float32).contiguous();
        var flat = logits.data<float>().ToArray();
        var vocab = (int)logits.shape[1];
        return Enumerable.Range(0, ids.Count).Select(p => flat.AsSpan(p * vocab, vocab).ToArray()).ToArray();
    }
}
