using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using LoraKit.SafeTensors;
using Xunit;

namespace LoraKit.Tests;

public class SafeTensorsCheckpointTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private static SafeTensorEntry Floats(string name, params float[] values) =>
        new(name, SafeTensorDType.F32, new long[] { values.Length }, values.SelectMany(BitConverter.GetBytes).ToArray());

    private void WriteTwoShards()
    {
        SafeTensorsWriter.Write(_temp.File("model-00001-of-00002.safetensors"), new[] { Floats("embed.weight", 1, 2, 3), Floats("layers.0.w", 4, 5) });
        SafeTensorsWriter.Write(_temp.File("model-00002-of-00002.safetensors"), new[] { Floats("layers.1.w", 6), Floats("lm_head.weight", 7, 8, 9, 10) });
    }

    private void WriteIndex(string weightMapJson) =>
        File.WriteAllText(_temp.File(SafeTensorsCheckpoint.IndexFileName),
            "{\n  \"metadata\": {\"total_size\": 40, \"format\": \"pt\"},\n  \"weight_map\": " + weightMapJson + "\n}");

    private const string GoodMap = "{\"embed.weight\": \"model-00001-of-00002.safetensors\", \"layers.0.w\": \"model-00001-of-00002.safetensors\", " +
                                   "\"layers.1.w\": \"model-00002-of-00002.safetensors\", \"lm_head.weight\": \"model-00002-of-00002.safetensors\"}";

    [Fact]
    public void Two_shard_checkpoint_loads_every_tensor()
    {
        WriteTwoShards();
        WriteIndex(GoodMap);

        using var checkpoint = SafeTensorsCheckpoint.Open(_temp.Path);
        Assert.Equal(_temp.File(SafeTensorsCheckpoint.IndexFileName), checkpoint.IndexPath);
        Assert.Equal(new[] { "embed.weight", "layers.0.w", "layers.1.w", "lm_head.weight" }, checkpoint.Names);
        Assert.Equal(2, checkpoint.Files.Count);
        Assert.Equal("40", checkpoint.IndexMetadata["total_size"]);
        Assert.Equal("pt", checkpoint.IndexMetadata["format"]);

        var expected = new Dictionary<string, float[]>
        {
            ["embed.weight"] = new float[] { 1, 2, 3 },
            ["layers.0.w"] = new float[] { 4, 5 },
            ["layers.1.w"] = new float[] { 6 },
            ["lm_head.weight"] = new float[] { 7, 8, 9, 10 },
        };
        foreach (var (name, values) in expected)
        {
            Assert.Equal(new long[] { values.Length }, checkpoint.Info(name).Shape);
            using var t = checkpoint.Load(name);
            Assert.Equal(values, t.data<float>().ToArray());
        }
        Assert.EndsWith("model-00002-of-00002.safetensors", checkpoint.FileOf("lm_head.weight").Path);
        Assert.Throws<KeyNotFoundException>(() => checkpoint.Info("absent"));
    }

    [Fact]
    public void The_index_file_itself_can_be_opened()
    {
        WriteTwoShards();
        WriteIndex(GoodMap);
        using var checkpoint = SafeTensorsCheckpoint.Open(_temp.File(SafeTensorsCheckpoint.IndexFileName));
        Assert.Equal(4, checkpoint.Names.Count);
    }

    [Fact]
    public void Missing_shard_file_names_the_file_and_the_tensor()
    {
        WriteTwoShards();
        File.Delete(_temp.File("model-00002-of-00002.safetensors"));
        WriteIndex(GoodMap);

        var ex = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsCheckpoint.Open(_temp.Path));
        Assert.Equal(_temp.File("model-00002-of-00002.safetensors"), ex.File);
        Assert.Equal("layers.1.w", ex.Tensor);
        Assert.Contains("model-00002-of-00002.safetensors", ex.Message);
        Assert.Contains("'layers.1.w'", ex.Message);
        Assert.Contains("does not exist", ex.Message);
    }

    [Fact]
    public void Tensor_missing_from_its_shard_names_the_shard_and_the_tensor()
    {
        WriteTwoShards();
        WriteIndex(GoodMap.Replace("\"layers.1.w\": \"model-00002-of-00002.safetensors\"", "\"layers.1.w\": \"model-00001-of-00002.safetensors\""));

        var ex = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsCheckpoint.Open(_temp.Path));
        Assert.Equal(_temp.File("model-00001-of-00002.safetensors"), ex.File);
        Assert.Equal("layers.1.w", ex.Tensor);
        Assert.Contains("does not contain it", ex.Message);
    }

    [Theory]
    [InlineData("../outside.safetensors")]
    [InlineData("/etc/passwd")]
    [InlineData("sub/../../outside.safetensors")]
    public void Shard_path_escaping_the_folder_is_refused(string shard)
    {
        WriteTwoShards();
        WriteIndex(GoodMap.Replace("\"lm_head.weight\": \"model-00002-of-00002.safetensors\"", $"\"lm_head.weight\": \"{shard}\""));

        var ex = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsCheckpoint.Open(_temp.Path));
        Assert.Equal(_temp.File(SafeTensorsCheckpoint.IndexFileName), ex.File);
        Assert.Equal("lm_head.weight", ex.Tensor);
        Assert.Contains("outside the checkpoint folder", ex.Message);
    }

    [Theory]
    [InlineData("{\"metadata\": {}}", "weight_map")]
    [InlineData("[1]", "must be a JSON object")]
    [InlineData("{\"weight_map\": {\"a\": 3}}", "shard file name")]
    [InlineData("{\"weight_map\": {\"a\": \"x\", \"a\": \"y\"}}", "more than once")]
    [InlineData("{\"weight_map\": ", "not valid JSON")]
    public void Malformed_index_is_refused(string json, string word)
    {
        File.WriteAllText(_temp.File(SafeTensorsCheckpoint.IndexFileName), json);
        var ex = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsCheckpoint.Open(_temp.Path));
        Assert.Equal(_temp.File(SafeTensorsCheckpoint.IndexFileName), ex.File);
        Assert.Contains(word, ex.Message);
    }

    [Fact]
    public void Folder_with_a_single_model_file()
    {
        SafeTensorsWriter.Write(_temp.File(SafeTensorsCheckpoint.SingleFileName), new[] { Floats("b", 2), Floats("a", 1) }, order: SafeTensorsOrder.AsGiven);
        using var checkpoint = SafeTensorsCheckpoint.Open(_temp.Path);
        Assert.Null(checkpoint.IndexPath);
        Assert.Equal(new[] { "b", "a" }, checkpoint.Names);
        using var a = checkpoint.Load("a");
        Assert.Equal(1f, a.data<float>()[0]);
    }

    [Fact]
    public void Folder_without_a_checkpoint()
    {
        var ex = Assert.Throws<FileNotFoundException>(() => SafeTensorsCheckpoint.Open(_temp.Path));
        Assert.Contains(SafeTensorsCheckpoint.IndexFileName, ex.Message);
    }
}
