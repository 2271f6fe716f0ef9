using System.Linq;
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
}
