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
        AssertNearLoraKit(expected, llama.Logits(Ids), tolerance, $"{model} {edits}");
    }

    /// <summary>
    /// A Gemma 2 shaped like the real ones where the fixture is not (random weights): head_dim 24 apart from
    /// hidden/heads = 16 (Gemma-2-2B: 256 vs 288) with query_pre_attn_scalar = head_dim, five layers (windowed 0, 2, 4),
    /// a window of 3 over 16 tokens: LoraKit's logits within 3e-3. ggml's float16 GELU table through five layers moves
    /// them by 1.8e-3 at position 0 already (one token: no attention or window arithmetic) and by 0.6–1.2e-3 after it;
    /// a window off by one, a missing norm + 1 or a wrong head_dim would move them by 1e-1 or more.
    /// </summary>
    [Fact]
    public void Gemma2_with_its_own_head_dim_and_a_short_window_gives_lorakit_logits()
    {
        using var temp = new TempFolder();
        var source = TokenizerAndRefusalTests.CopyModel("tiny-gemma2", temp.Path);
        TokenizerAndRefusalTests.EditConfig(source, json =>
        {
            json["head_dim"] = 24;
            json["query_pre_attn_scalar"] = 24;
            json["num_hidden_layers"] = 5;
            json["sliding_window"] = 3;
        });
        var folder = Path.Combine(temp.Path, "gemma2-shaped");
        using (var model = LlamaForCausalLM.Create(LoraKit.Models.HfConfig.Load(Path.Combine(source, "config.json")), seed: 7))
        {
            model.InitializeWeights(7, std: 0.08);
            HfCheckpoint.Save(model, folder);
        }
        foreach (var f in new[] { "tokenizer.json", "tokenizer_config.json" }) File.Copy(Path.Combine(source, f), Path.Combine(folder, f));
        float[][] expected;
        using (var lorakit = LoraKitModel.Load(folder))
            expected = LoraKitLogits(lorakit, Ids);
        var gguf = temp.File("gemma2-shaped.gguf");
        GgufExporter.ExportBase(folder, gguf);
        Assert.Equal(24L, GgufFile.Open(gguf)["gemma2.attention.key_length"]!.AsInteger());
        using var llama = new LlamaCpp(gguf);
        AssertNearLoraKit(expected, llama.Logits(Ids), 3e-3f, "gemma2 head_dim 24, window 3, 5 layers");
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
            AssertNearLoraKit(expected, llama.Logits(Ids), 1e-3f, "phi3 longrope");
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

    /// <summary>llama.cpp's logits within <paramref name="tolerance"/> of LoraKit's at every position; the largest difference (and each position's) to the test output.</summary>
    private void AssertNearLoraKit(float[][] expected, float[][] got, float tolerance, string what)
    {
        var diffs = expected.Select((e, p) => Fixtures.MaxAbsDiff(e, got[p])).ToArray();
        output.WriteLine($"{what}: max |llama.cpp − LoraKit| = {diffs.Max():E2}; per position {string.Join(" ", diffs.Select(d => d.ToString("E1")))}");
        for (var p = 0; p < diffs.Length; p++)
            Assert.True(diffs[p] <= tolerance, $"{what} position {p}: max |llama.cpp − LoraKit| = {diffs[p]:E2} > {tolerance:E0}");
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
