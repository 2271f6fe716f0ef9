using System.IO;
using LoraKit.Data;
using LoraKit.Inference;
using Xunit;

namespace LoraKit.Tests.Inference;

public sealed class EosTokensTests
{
    [Fact]
    public void Generation_config_comes_first_then_config_then_the_tokenizer()
    {
        using var dir = new TempFolder();
        Assert.Equal(new[] { ByteTokenizer.Eos }, EosTokens.Of(dir.Path, ByteTokenizer.Instance));
        File.WriteAllText(dir.File("config.json"), "{\"eos_token_id\": 7}");
        Assert.Equal(new[] { 7 }, EosTokens.Of(dir.Path, ByteTokenizer.Instance));
        File.WriteAllText(dir.File("generation_config.json"), "{\"eos_token_id\": [128001, 128008, 128009]}");
        Assert.Equal(new[] { 128001, 128008, 128009 }, EosTokens.Of(dir.Path, ByteTokenizer.Instance));
    }

    [Fact]
    public void A_bad_value_names_the_file_and_key()
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir.File("generation_config.json"), "{\"eos_token_id\": \"</s>\"}");
        var e = Assert.Throws<InvalidDataException>(() => EosTokens.Of(dir.Path, ByteTokenizer.Instance));
        Assert.Contains("generation_config.json", e.Message);
        Assert.Contains("eos_token_id", e.Message);
    }
}
