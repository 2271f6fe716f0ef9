using System.Linq;
using System.Text;
using System.Threading.Tasks;
using LoraKit.Inference;
using Xunit;

namespace LoraKit.Tests.Inference;

/// <summary>Greedy decoding against transformers' <c>generate(do_sample=False, max_new_tokens=32)</c> on the fixture checkpoints.</summary>
public sealed class ReferenceGenerationTests
{
    public static Xunit.TheoryData<string, string?> Models() => HfReference.ModelData();

    [Theory]
    [MemberData(nameof(Models))]
    public void Greedy_tokens_equal_transformers_with_and_without_the_cache(string baseName, string? adapter)
    {
        var reference = HfReference.Reference("generate", baseName, adapter);
        using var model = adapter is null
            ? LoraKitModel.Load(HfReference.Folder(baseName))
            : LoraKitModel.Load(HfReference.Folder(baseName), HfReference.Folder(adapter));
        Assert.Equal(new[] { reference.GetProperty("eos_token_id").GetInt32() }, model.EosTokenIds);
        Assert.Equal(3, reference.GetProperty("greedy").GetArrayLength());
        foreach (var example in reference.GetProperty("greedy").EnumerateArray())
        {
            var promptIds = example.GetProperty("prompt_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            var expected = example.GetProperty("new_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            Assert.Equal(promptIds, model.EncodePrompt(example.GetProperty("prompt").GetString()!));
            foreach (var cache in new[] { true, false })
            {
                var result = model.GenerateTokens(promptIds, new GenerationOptions { MaxNewTokens = 32, UseCache = cache });
                Assert.Equal(expected, result.NewIds);
                Assert.Equal(expected.Length < 32 ? StopReason.EndOfSequence : StopReason.MaxNewTokens, result.StopReason);
            }
        }
    }

    [Fact]
    public async Task Streamed_pieces_make_up_the_text_of_transformers_tokens()
    {
        var example = HfReference.Reference("generate", "tiny-qwen2", "peft-qwen2-r4").GetProperty("greedy")[0];
        var expected = example.GetProperty("new_ids").EnumerateArray().Select(e => e.GetInt32()).Where(i => i != 298).ToArray();
        using var model = LoraKitModel.Load(HfReference.Folder("tiny-qwen2"), HfReference.Folder("peft-qwen2-r4"));
        var text = new StringBuilder();
        await foreach (var piece in model.Generate(example.GetProperty("prompt").GetString()!, new GenerationOptions { MaxNewTokens = 32 }))
        {
            Assert.NotEqual("", piece);
            text.Append(piece);
        }
        Assert.Equal(model.Tokenizer.Decode(expected), text.ToString());
    }

    [Fact]
    public void An_adapter_attached_as_a_typed_wrapper_does_is_the_one_that_runs()
    {
        // What a generated adapter's Load(model, folder) does: LoraAdapterFiles.Load under the adapter's own name.
        using var model = LoraKitModel.Load(HfReference.Folder("tiny-llama"));
        LoraKit.Lora.LoraAdapterFiles.Load(model.Model, HfReference.Folder("peft-llama-r4"), "TypedAdapter");
        Assert.Equal("TypedAdapter", model.ActiveAdapter);
        var example = HfReference.Reference("generate", "tiny-llama", "peft-llama-r4").GetProperty("greedy")[2];
        var ids = example.GetProperty("prompt_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        Assert.Equal(example.GetProperty("new_ids").EnumerateArray().Select(e => e.GetInt32()), model.GenerateTokens(ids, new GenerationOptions { MaxNewTokens = 32 }).NewIds);
        model.UseAdapter(null);
        Assert.Null(model.ActiveAdapter);
        var bare = HfReference.Reference("generate", "tiny-llama", null).GetProperty("greedy")[2];
        Assert.Equal(bare.GetProperty("new_ids").EnumerateArray().Select(e => e.GetInt32()), model.GenerateTokens(ids, new GenerationOptions { MaxNewTokens = 32 }).NewIds);
    }

    [Fact]
    public void An_eos_id_ends_generation_and_stays_out_of_the_text()
    {
        var example = HfReference.Reference("generate", "tiny-mistral", null).GetProperty("greedy")[1];
        var ids = example.GetProperty("prompt_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var expected = example.GetProperty("new_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        using var model = LoraKitModel.Load(HfReference.Folder("tiny-mistral"));
        // Treat transformers' 5th greedy token as an end-of-sequence id (a list, as generation_config.json may hold).
        var result = model.GenerateTokens(ids, new GenerationOptions { MaxNewTokens = 32, EosTokenIds = new[] { 298, expected[4] } });
        var stop = System.Array.IndexOf(expected, expected[4]);
        Assert.Equal(expected.Take(stop + 1), result.NewIds);
        Assert.Equal(StopReason.EndOfSequence, result.StopReason);
        Assert.Equal(model.Tokenizer.Decode(expected.Take(stop).ToArray()), result.Text);
    }
}
