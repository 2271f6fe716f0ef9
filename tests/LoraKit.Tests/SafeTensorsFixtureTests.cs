using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using LoraKit.SafeTensors;
using TorchSharp;
using Xunit;

namespace LoraKit.Tests;

/// <summary>The reader and writer against a file written by Python's safetensors (via PEFT).</summary>
public class SafeTensorsFixtureTests
{
    [Fact]
    public void Fixture_is_in_the_test_output_folder()
    {
        Assert.True(File.Exists(TestFiles.FixtureWeights), TestFiles.FixtureWeights);
        Assert.True(File.Exists(TestFiles.FixtureConfig), TestFiles.FixtureConfig);
        Assert.StartsWith(AppContext.BaseDirectory, TestFiles.FixtureWeights);
    }

    [Fact]
    public void Reads_every_tensor_as_the_header_written_by_python_lists_it()
    {
        // Expected facts from a hand parse of the header, not from the reader under test.
        var (json, _) = TestFiles.ReadHeaderByHand(TestFiles.FixtureWeights);
        using var doc = JsonDocument.Parse(json);
        var expected = doc.RootElement.EnumerateObject()
            .Where(p => p.Name != "__metadata__")
            .Select(p => (
                Name: p.Name,
                DType: p.Value.GetProperty("dtype").GetString(),
                Shape: p.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray(),
                Begin: p.Value.GetProperty("data_offsets")[0].GetInt64(),
                End: p.Value.GetProperty("data_offsets")[1].GetInt64()))
            .ToList();

        using var file = SafeTensorsFile.Open(TestFiles.FixtureWeights);
        Assert.Equal(expected.Count, file.Tensors.Count);
        for (var i = 0; i < expected.Count; i++)
        {
            var t = file.Tensors[i];
            Assert.Equal(expected[i].Name, t.Name);
            Assert.Equal(expected[i].DType, t.DType.HeaderName());
            Assert.Equal(expected[i].Shape, t.Shape);
            Assert.Equal(expected[i].Begin, t.Begin);
            Assert.Equal(expected[i].End, t.End);
        }
        Assert.Equal(new Dictionary<string, string> { ["format"] = "pt" }, file.Metadata);
    }

    [Fact]
    public void Fixture_holds_twelve_lora_pairs_and_the_score_head_all_f32()
    {
        using var file = SafeTensorsFile.Open(TestFiles.FixtureWeights);
        var expectedNames = new List<string> { "base_model.model.score.weight" };
        for (var i = 0; i < 12; i++)
        {
            expectedNames.Add($"base_model.model.transformer.h.{i}.attn.c_attn.lora_A.weight");
            expectedNames.Add($"base_model.model.transformer.h.{i}.attn.c_attn.lora_B.weight");
        }
        Assert.Equal(expectedNames.OrderBy(n => n, StringComparer.Ordinal), file.Tensors.Select(t => t.Name).OrderBy(n => n, StringComparer.Ordinal));
        Assert.All(file.Tensors, t => Assert.Equal(SafeTensorDType.F32, t.DType));
        Assert.Equal(new long[] { 6, 768 }, file.Info("base_model.model.score.weight").Shape);
        for (var i = 0; i < 12; i++)
        {
            Assert.Equal(new long[] { 8, 768 }, file.Info($"base_model.model.transformer.h.{i}.attn.c_attn.lora_A.weight").Shape);
            Assert.Equal(new long[] { 2304, 8 }, file.Info($"base_model.model.transformer.h.{i}.attn.c_attn.lora_B.weight").Shape);
        }
        Assert.Equal(new FileInfo(TestFiles.FixtureWeights).Length - 8 - file.HeaderLength, file.DataLength);
        Assert.Equal(12 * (8 * 768 + 2304 * 8) * 4 + 6 * 768 * 4, file.DataLength);
        Assert.True(file.Contains("base_model.model.score.weight"));
        Assert.False(file.Contains("base_model.model.score.bias"));
        Assert.Throws<KeyNotFoundException>(() => file.Info("nope"));
    }

    [Fact]
    public void Load_fills_a_float32_tensor_with_the_file_bytes()
    {
        const string name = "base_model.model.transformer.h.3.attn.c_attn.lora_A.weight";
        var raw = File.ReadAllBytes(TestFiles.FixtureWeights);
        var (json, dataStart) = TestFiles.ReadHeaderByHand(TestFiles.FixtureWeights);
        using var doc = JsonDocument.Parse(json);
        var begin = doc.RootElement.GetProperty(name).GetProperty("data_offsets")[0].GetInt64();
        var expected = new float[8 * 768];
        Buffer.BlockCopy(raw, (int)(dataStart + begin), expected, 0, expected.Length * 4);

        using var file = SafeTensorsFile.Open(TestFiles.FixtureWeights);
        using var tensor = file.Load(name);
        Assert.Equal(torch.ScalarType.Float32, tensor.dtype);
        Assert.Equal(new long[] { 8, 768 }, tensor.shape);
        Assert.Equal(DeviceType.CPU, tensor.device_type);
        Assert.Equal(expected, tensor.data<float>().ToArray());
        Assert.Contains(expected, v => v != 0f); // trained A is not all zeros, so the comparison means something
        Assert.True(file.GetBytes(name).SequenceEqual(raw.AsSpan((int)(dataStart + begin), expected.Length * 4)));
    }

    [Fact]
    public void Rewriting_the_fixture_from_raw_bytes_reproduces_the_python_file_byte_for_byte()
    {
        using var temp = new TempFolder();
        var target = temp.File("copy.safetensors");
        using (var file = SafeTensorsFile.Open(TestFiles.FixtureWeights))
        {
            var entries = file.Tensors.Select(t => new SafeTensorEntry(t.Name, t.DType, t.Shape, file.GetBytes(t.Name).ToArray())).ToList();
            SafeTensorsWriter.Write(target, entries, file.Metadata);
        }
        Assert.Equal(File.ReadAllBytes(TestFiles.FixtureWeights), File.ReadAllBytes(target));
    }

    [Fact]
    public void Rewriting_the_fixture_from_torch_tensors_reproduces_the_python_file_byte_for_byte()
    {
        using var temp = new TempFolder();
        var target = temp.File("copy.safetensors");
        using (var file = SafeTensorsFile.Open(TestFiles.FixtureWeights))
        {
            // Given in reverse header order: the writer itself must restore Python's layout.
            var tensors = file.Tensors.Reverse().Select(t => new KeyValuePair<string, torch.Tensor>(t.Name, file.Load(t.Name))).ToList();
            SafeTensorsWriter.Write(target, tensors, file.Metadata);
            foreach (var (_, t) in tensors) t.Dispose();
        }
        Assert.Equal(File.ReadAllBytes(TestFiles.FixtureWeights), File.ReadAllBytes(target));
    }

    [Fact]
    public void Read_write_read_keeps_names_dtypes_shapes_bytes_and_metadata()
    {
        using var temp = new TempFolder();
        var first = temp.File("first.safetensors");
        var second = temp.File("second.safetensors");
        using (var original = SafeTensorsFile.Open(TestFiles.FixtureWeights))
            SafeTensorsWriter.Write(first, original, order: SafeTensorsOrder.AsGiven);
        using (var once = SafeTensorsFile.Open(first))
            SafeTensorsWriter.Write(second, once);

        using var a = SafeTensorsFile.Open(TestFiles.FixtureWeights);
        using var b = SafeTensorsFile.Open(second);
        Assert.Equal(a.Metadata, b.Metadata);
        Assert.Equal(a.Tensors.Select(t => t.Name).OrderBy(n => n, StringComparer.Ordinal), b.Tensors.Select(t => t.Name).OrderBy(n => n, StringComparer.Ordinal));
        foreach (var t in a.Tensors)
        {
            var u = b.Info(t.Name);
            Assert.Equal(t.DType, u.DType);
            Assert.Equal(t.Shape, u.Shape);
            Assert.True(a.GetBytes(t.Name).SequenceEqual(b.GetBytes(t.Name)), t.Name);
        }
    }
}
