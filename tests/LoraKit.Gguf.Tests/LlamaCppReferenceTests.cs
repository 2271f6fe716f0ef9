using Xunit.Abstractions;

namespace LoraKit.Gguf.Tests;

/// <summary>
/// LoraKit's GGUF files in the real llama.cpp against transformers and PEFT on the hf-reference fixtures: the logits of
/// every position of the reference batch, the greedy continuations transformers generated, and llama.cpp's own
/// tokenizer giving tokenizer.json's ids.
/// </summary>
public class LlamaCppReferenceTests(ITestOutputHelper output)
{
    public static TheoryData<string> Models => new() { "tiny-llama", "tiny-qwen2", "tiny-mistral", "tiny-gemma2", "tiny-phi3" };

    [Theory]
    [MemberData(nameof(Models))]
    public void Base_model_f32_gives_transformers_logits_greedy_tokens_and_token_ids(string model)
    {
        using var temp = new TempFolder();
        var gguf = temp.File(model + ".gguf");
        GgufExporter.ExportBase(Fixtures.Folder(model), gguf);
        using var llama = new LlamaCpp(gguf);
        AssertLogits(llama, model, F32Tolerance(model));
        AssertGreedy(llama, model);
    }

    public static TheoryData<string, string> Adapters => new()
    {
        { "tiny-llama", "peft-llama-r4" }, { "tiny-qwen2", "peft-qwen2-r4" }, { "tiny-gemma2", "peft-gemma2-r4" }, { "tiny-phi3", "peft-phi3-r4" },
    };

    /// <summary>The PEFT adapter as llama.cpp's LoRA GGUF, applied by llama.cpp itself: PEFT's logits and greedy tokens (q_proj's lora_b permuted as the base).</summary>
    [Theory]
    [MemberData(nameof(Adapters))]
    public void Adapter_applied_by_llama_cpp_gives_peft_logits_and_greedy_tokens(string model, string adapter)
    {
        using var temp = new TempFolder();
        var baseFile = temp.File("base.gguf");
        var loraFile = temp.File("lora.gguf");
        GgufExporter.ExportBase(Fixtures.Folder(model), baseFile);
        var result = GgufExporter.ExportAdapter(Fixtures.Folder(model), Fixtures.Folder(adapter), loraFile);
        Assert.Equal("LoRA adapter", result.Kind);
        using var llama = new LlamaCpp(baseFile, loraFile);
        AssertLogits(llama, adapter, F32Tolerance(model));
        AssertGreedy(llama, adapter);
    }

    /// <summary>Base and adapter merged into one file: PEFT's logits and greedy tokens.</summary>
    [Theory]
    [MemberData(nameof(Adapters))]
    public void Merged_file_gives_peft_logits_and_greedy_tokens(string model, string adapter)
    {
        using var temp = new TempFolder();
        var merged = temp.File("merged.gguf");
        GgufExporter.ExportMerged(Fixtures.Folder(model), Fixtures.Folder(adapter), merged);
        using var llama = new LlamaCpp(merged);
        AssertLogits(llama, adapter, F32Tolerance(model));
        AssertGreedy(llama, adapter);
    }

    [Theory]
    [InlineData(GgufOutputType.F16)]
    [InlineData(GgufOutputType.BF16)]
    public void Half_precision_files_stay_within_2e_2_of_transformers(GgufOutputType type)
    {
        using var temp = new TempFolder();
        var gguf = temp.File("half.gguf");
        GgufExporter.ExportBase(Fixtures.Folder("tiny-llama"), gguf, new GgufExportOptions { Type = type });
        var file = GgufFile.Open(gguf);
        Assert.Equal(type == GgufOutputType.F16 ? GgmlType.F16 : GgmlType.BF16, file.Tensors.Single(t => t.Name == "blk.0.attn_q.weight").Type);
        Assert.Equal(GgmlType.F32, file.Tensors.Single(t => t.Name == "blk.0.attn_norm.weight").Type);
        using var llama = new LlamaCpp(gguf);
        AssertLogits(llama, "tiny-llama", type == GgufOutputType.F16 ? 2e-2f : 1e-1f);
    }

    /// <summary>
    /// Q8_0 (what one ships to a CPU): blocks of 32 int8 with a float16 scale where rows are whole blocks, float16 for
    /// ffn_down's 176-wide rows, as llama.cpp's converter falls back; llama.cpp's logits stay near transformers'.
    /// </summary>
    [Fact]
    public void Q8_0_file_loads_and_stays_near_transformers()
    {
        using var temp = new TempFolder();
        var gguf = temp.File("q8.gguf");
        var result = GgufExporter.ExportBase(Fixtures.Folder("tiny-llama"), gguf, new GgufExportOptions { Type = GgufOutputType.Q8_0 });
        var file = GgufFile.Open(gguf);
        Assert.Equal(GgmlType.Q8_0, file.Tensors.Single(t => t.Name == "blk.0.attn_q.weight").Type);
        Assert.Equal(GgmlType.F16, file.Tensors.Single(t => t.Name == "blk.0.ffn_down.weight").Type);
        Assert.Contains(result.Notes, n => n.Contains("blk.0.ffn_down.weight", StringComparison.Ordinal));
        Assert.Equal(7L, file["general.file_type"]!.AsInteger());
        using var llama = new LlamaCpp(gguf);
        // llama.cpp also rounds the activations to 8 bits in Q8_0 products; a wrong block layout would be off by whole units.
        AssertLogits(llama, "tiny-llama", 0.15f);
    }

    /// <summary>
    /// Llama 3.x RoPE as a rope_freqs tensor, computed from rope_scaling's original_max_position_embeddings (64 here,
    /// where llama.cpp's own converter would read the absent top-level key as 8192): transformers' logits on 24 tokens.
    /// </summary>
    [Fact]
    public void Llama3_rope_scaling_travels_as_rope_freqs_and_gives_transformers_logits()
    {
        using var temp = new TempFolder();
        var folder = Path.Combine(temp.Path, "llama3");
        Directory.CreateDirectory(folder);
        var source = Path.Combine(Fixtures.RopeRoot, "llama-llama3");
        foreach (var f in new[] { "config.json", "model.safetensors" }) File.Copy(Path.Combine(source, f), Path.Combine(folder, f));
        // The rope fixture has no tokenizer; the tiny models' (same 300 ids) stands in.
        foreach (var f in new[] { "tokenizer.json", "tokenizer_config.json" }) File.Copy(Path.Combine(Fixtures.Folder("tiny-llama"), f), Path.Combine(folder, f));
        var gguf = temp.File("llama3.gguf");
        GgufExporter.ExportBase(folder, gguf);
        Assert.True(GgufFile.Open(gguf).TryGetTensor("rope_freqs.weight", out var freqs));
        Assert.Equal(new long[] { 8 }, freqs.Dimensions);
        var (ids, logits) = Fixtures.Rope("llama-llama3");
        using var llama = new LlamaCpp(gguf);
        var got = llama.Logits(ids);
        for (var pos = 0; pos < ids.Length; pos++)
        {
            var diff = Fixtures.MaxAbsDiff(logits[pos], got[pos]);
            Assert.True(diff <= 1e-3f, $"llama3 position {pos}: max |llama.cpp − transformers| = {diff:E2}");
        }
    }

    /// <summary>
    /// The f32 tolerance: 1e-3, and 2e-3 for Gemma 2, whose GeGLU llama.cpp's CPU backend computes through ggml's
    /// float16 GELU table (ggml-cpu/vec.h defines GGML_GELU_FP16: ggml_vec_geglu_f32 rounds each input to float16 and
    /// reads a float16 result) where transformers computes float32. That alone moves tiny-gemma2's logits by ~5e-4–1.1e-3
    /// at every position, position 0 included (BOS attending to itself: no attention or window arithmetic involved);
    /// an export error (a norm without its + 1, a wrong window or scale) moves them by 1e-1 or more.
    /// </summary>
    private static float F32Tolerance(string model) => model.Contains("gemma2", StringComparison.Ordinal) ? 2e-3f : 1e-3f;

    private void AssertLogits(LlamaCpp llama, string reference, float tolerance)
    {
        var (ids, logits) = Fixtures.Batch(reference);
        var (max, last) = (0f, 0f);
        for (var row = 0; row < ids.Length; row++)
        {
            var got = llama.Logits(ids[row]);
            for (var pos = 0; pos < ids[row].Length; pos++)
            {
                var diff = Fixtures.MaxAbsDiff(logits[row][pos], got[pos]);
                Assert.True(diff <= tolerance, $"{reference} row {row} position {pos}: max |llama.cpp − transformers| = {diff:E2} > {tolerance:E0}");
                max = Math.Max(max, diff);
                if (pos == ids[row].Length - 1) last = Math.Max(last, diff);
            }
        }
        output.WriteLine($"{reference}: max |llama.cpp − transformers| = {max:E2} over every position, {last:E2} at the last");
    }

    private static void AssertGreedy(LlamaCpp llama, string reference)
    {
        foreach (var (prompt, promptIds, newIds) in Fixtures.Greedy(reference, out var eos))
        {
            Assert.Equal(promptIds, llama.Tokenize(prompt, special: true));
            Assert.Equal(newIds, llama.Greedy(promptIds, newIds.Length, eos));
        }
    }
}
