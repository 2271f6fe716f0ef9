namespace LoraKit.Gguf.Tests;

/// <summary>
/// LoraKit's GGUF files in the real llama.cpp against transformers and PEFT on the hf-reference fixtures: the logits of
/// every position of the reference batch, the greedy continuations transformers generated, and llama.cpp's own
/// tokenizer giving tokenizer.json's ids.
/// </summary>
public class LlamaCppReferenceTests
{
    public static TheoryData<string> Models => new() { "tiny-llama", "tiny-qwen2", "tiny-mistral" };

    [Theory]
    [MemberData(nameof(Models))]
    public void Base_model_f32_gives_transformers_logits_greedy_tokens_and_token_ids(string model)
    {
        using var temp = new TempFolder();
        var gguf = temp.File(model + ".gguf");
        GgufExporter.ExportBase(Fixtures.Folder(model), gguf);
        using var llama = new LlamaCpp(gguf);
        AssertLogits(llama, model, 1e-3f);
        AssertGreedy(llama, model);
    }

    private static void AssertLogits(LlamaCpp llama, string reference, float tolerance)
    {
        var (ids, logits) = Fixtures.Batch(reference);
        for (var row = 0; row < ids.Length; row++)
        {
            var got = llama.Logits(ids[row]);
            for (var pos = 0; pos < ids[row].Length; pos++)
            {
                var diff = Fixtures.MaxAbsDiff(logits[row][pos], got[pos]);
                Assert.True(diff <= tolerance, $"{reference} row {row} position {pos}: max |llama.cpp − transformers| = {diff:E2} > {tolerance:E0}");
            }
        }
    }

    private static void AssertGreedy(LlamaCpp llama, string reference)
    {
        foreach (var (prompt, promptIds, newIds) in Fixtures.Greedy(reference, out var eos))
        {
            Assert.Equal(promptIds, llama.Tokenize(prompt));
            Assert.Equal(newIds, llama.Greedy(promptIds, newIds.Length, eos));
        }
    }
}
