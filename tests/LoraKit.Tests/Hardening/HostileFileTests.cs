using System;
using System.IO;
using System.Linq;
using System.Text;
using LoraKit.Builtin;
using LoraKit.Data;
using Xunit;

namespace LoraKit.Tests.Hardening;

/// <summary>The runtime's readers of strangers' files on the inputs of issue 25: each a clean error naming the file and the place.</summary>
public class HostileFileTests
{
    private static readonly string TinyLlama = Path.Combine(AppContext.BaseDirectory, "Fixtures", "hf-reference", "tiny-llama");

    private static string ModelCopy()
    {
        var dir = Path.Combine(Path.GetTempPath(), "lorakit-hostile", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        foreach (var f in Directory.GetFiles(TinyLlama)) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
        return dir;
    }

    /// <summary>Replaces the first <paramref name="from"/> in <paramref name="file"/>.</summary>
    private static void Edit(string file, string from, string to)
    {
        var text = File.ReadAllText(file);
        var at = text.IndexOf(from, StringComparison.Ordinal);
        Assert.True(at >= 0, $"{from} not in {file}");
        File.WriteAllText(file, text[..at] + to + text[(at + from.Length)..]);
    }

    [Theory]
    [InlineData("{\"text\": \"a\\ud800b\"}", "lone UTF-16 surrogate")]
    [InlineData("{\"text\": \"a\\udc00\"}", "lone UTF-16 surrogate")]
    [InlineData("{\"messages\": [{\"role\": \"user\", \"role\": \"assistant\", \"content\": \"x\"}]}", "key \"role\" appears twice in \"messages\"")]
    [InlineData("{\"text\": \"x\", \"meta\": {\"a\": 1, \"a\": 2}}", "key \"a\" appears twice in \"meta\"")]
    public void Jsonl_lines_that_readers_disagree_on_are_bad_lines(string line, string problem)
    {
        var e = Assert.Throws<DataException>(() => JsonlDataset.Parse("d.jsonl", Encoding.UTF8.GetBytes("{\"text\": \"fine\"}\n" + line + "\n")));
        Assert.Contains("d.jsonl:2: ", e.Message);
        Assert.Contains(problem, e.Message);
        Assert.Equal(2, e.Line);
    }

    [Fact]
    public void A_surrogate_pair_escape_is_one_character()
    {
        var d = JsonlDataset.Parse("d.jsonl", Encoding.UTF8.GetBytes("{\"text\": \"\\ud834\\udd1e\"}\n"));
        Assert.Equal("𝄞", d.Examples[0].Text);
    }

    [Fact]
    public void A_device_is_not_read_as_a_dataset()
    {
        if (!File.Exists("/dev/zero")) return;
        var e = Assert.Throws<DataException>(() => JsonlDataset.Load("/dev/zero"));
        Assert.Contains("'/dev/zero' is not a regular file", e.Message);
    }

    [Theory]
    [InlineData("\"type\": \"ByteLevel\"", "\"type\": 5", "pre_tokenizer.type")]
    [InlineData("\"id\": 297", "\"id\": \"297\"", "added_tokens[0]")]
    public void Tokenizer_json_values_of_the_wrong_kind_name_the_field(string from, string to, string field)
    {
        var model = ModelCopy();
        Edit(Path.Combine(model, "tokenizer.json"), from, to);
        var e = Assert.Throws<DataException>(() => HfTokenizer.FromFolder(model));
        Assert.Contains(Path.Combine(model, "tokenizer.json"), e.Message);
        Assert.Contains(field, e.Message);
    }

    [Fact]
    public void Invalid_utf8_in_a_tokenizer_key_is_refused_with_its_line()
    {
        var model = ModelCopy();
        var path = Path.Combine(model, "tokenizer.json");
        var bytes = File.ReadAllBytes(path);
        var at = Encoding.UTF8.GetString(bytes).IndexOf("\"<s>\"", StringComparison.Ordinal) + 1;
        bytes[at] = 0xFF;
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<DataException>(() => HfTokenizer.FromFolder(model));
        Assert.Contains("not valid JSON (line 8: a string is not text", e.Message);
    }

    [Fact]
    public void A_tokenizer_with_ids_beyond_vocab_size_is_refused_naming_both_files()
    {
        var model = ModelCopy();
        Edit(Path.Combine(model, "config.json"), "\"vocab_size\": 300", "\"vocab_size\": 298");
        var e = Assert.Throws<DataException>(() => BaseModelSource.Open(model));
        Assert.Contains("token ids up to 299", e.Message);
        Assert.Contains(Path.Combine(model, "config.json"), e.Message);
        Assert.Contains("tokenizer.json", e.Message);
    }

    [Fact]
    public void The_model_refuses_an_id_outside_its_vocabulary_before_the_embedding()
    {
        using var model = LoraKit.Modeling.HfCheckpoint.Load(TinyLlama);
        using var ids = TorchSharp.torch.tensor(new long[] { 1, 2, 300 }).reshape(1, 3);
        var e = Assert.Throws<ArgumentException>(() => model.forward(ids));
        Assert.Contains("token id 300 is outside the model's vocabulary (0 … 299", e.Message);
        using var empty = TorchSharp.torch.zeros(1, 0, TorchSharp.torch.ScalarType.Int64);
        Assert.Throws<ArgumentException>(() => model.forward(empty));
    }
}
