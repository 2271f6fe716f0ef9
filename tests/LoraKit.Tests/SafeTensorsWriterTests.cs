using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using LoraKit.SafeTensors;
using TorchSharp;
using Xunit;

namespace LoraKit.Tests;

public class SafeTensorsWriterTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    [Theory]
    [InlineData("a")]
    [InlineData("ab")]
    [InlineData("abc")]
    [InlineData("abcd")]
    [InlineData("abcde")]
    [InlineData("abcdef")]
    [InlineData("abcdefg")]
    [InlineData("abcdefgh")]
    public void Header_is_padded_with_spaces_to_a_multiple_of_8(string name)
    {
        var path = _temp.File("aligned.safetensors");
        SafeTensorsWriter.Write(path, new[] { new SafeTensorEntry(name, SafeTensorDType.F64, new long[] { 1 }, BitConverter.GetBytes(2.5)) });

        var bytes = File.ReadAllBytes(path);
        var n = (long)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.Equal(0, n % 8);
        Assert.Equal(8 + n + 8, bytes.Length);
        var header = System.Text.Encoding.UTF8.GetString(bytes, 8, (int)n);
        var json = header.TrimEnd(' ');
        Assert.True(n - json.Length < 8);
        Assert.EndsWith("}", json);
        Assert.Equal($"{{\"{name}\":{{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}}}", json);
        Assert.Equal(2.5, BitConverter.ToDouble(bytes, (int)(8 + n)));
    }

    [Fact]
    public void Empty_file_matches_the_reference_bytes()
    {
        // The reference implementation serializes no tensors and no metadata to "{}" plus 6 spaces.
        var path = _temp.File("empty.safetensors");
        SafeTensorsWriter.Write(path, Array.Empty<SafeTensorEntry>());
        Assert.Equal(new byte[] { 8, 0, 0, 0, 0, 0, 0, 0, (byte)'{', (byte)'}', 32, 32, 32, 32, 32, 32 }, File.ReadAllBytes(path));
        using var file = SafeTensorsFile.Open(path);
        Assert.Empty(file.Tensors);
        Assert.Empty(file.Metadata);
    }

    [Fact]
    public void Python_order_is_by_dtype_alignment_then_name_and_as_given_keeps_the_order()
    {
        var entries = new[]
        {
            Entry("z_bool", SafeTensorDType.BOOL, 1),
            Entry("b_f32", SafeTensorDType.F32, 1),
            Entry("a_f32", SafeTensorDType.F32, 1),
            Entry("f16", SafeTensorDType.F16, 1),
            Entry("bf16", SafeTensorDType.BF16, 1),
            Entry("i64", SafeTensorDType.I64, 1),
            Entry("u8", SafeTensorDType.U8, 1),
            Entry("f64", SafeTensorDType.F64, 1),
        };
        var python = _temp.File("python.safetensors");
        var given = _temp.File("given.safetensors");
        SafeTensorsWriter.Write(python, entries);
        SafeTensorsWriter.Write(given, entries, order: SafeTensorsOrder.AsGiven);

        Assert.Equal(new[] { "i64", "f64", "a_f32", "b_f32", "bf16", "f16", "u8", "z_bool" }, HeaderKeys(python));
        Assert.Equal(entries.Select(e => e.Name), HeaderKeys(given));
        using var file = SafeTensorsFile.Open(python);
        // Laid out in header order, back to back.
        long offset = 0;
        foreach (var t in file.Tensors)
        {
            Assert.Equal(offset, t.Begin);
            offset = t.End;
        }
    }

    [Fact]
    public void Metadata_comes_first_with_sorted_keys()
    {
        var path = _temp.File("meta.safetensors");
        SafeTensorsWriter.Write(path, new[] { Entry("w", SafeTensorDType.U8, 2) },
            new Dictionary<string, string> { ["z"] = "1", ["format"] = "pt", ["quote\"d"] = "a\\b\n" });
        var (json, _) = TestFiles.ReadHeaderByHand(path);
        Assert.StartsWith("{\"__metadata__\":{\"format\":\"pt\",\"quote\\\"d\":\"a\\\\b\\n\",\"z\":\"1\"},\"w\":", json);
        using var file = SafeTensorsFile.Open(path);
        Assert.Equal("a\\b\n", file.Metadata["quote\"d"]);
    }

    [Fact]
    public void Raw_entry_with_the_wrong_byte_count_is_rejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => SafeTensorsWriter.Write(_temp.File("x.safetensors"),
            new[] { new SafeTensorEntry("w", SafeTensorDType.F32, new long[] { 3 }, new byte[8]) }));
        Assert.Contains("'w'", ex.Message);
        Assert.Contains("needs 12 bytes", ex.Message);
        Assert.False(File.Exists(_temp.File("x.safetensors")));
    }

    [Fact]
    public void Duplicate_names_are_rejected()
    {
        Assert.Throws<ArgumentException>(() => SafeTensorsWriter.Write(_temp.File("x.safetensors"),
            new[] { Entry("w", SafeTensorDType.U8, 1), Entry("w", SafeTensorDType.U8, 1) }));
    }

    [Fact]
    public void A_failing_enumerator_leaves_the_existing_file_intact_and_no_temp_file()
    {
        var path = _temp.File("model.safetensors");
        File.WriteAllBytes(path, new byte[] { 1, 2, 3 });

        static IEnumerable<KeyValuePair<string, torch.Tensor>> Failing()
        {
            yield return new("a", torch.ones(4));
            throw new InvalidOperationException("enumeration failed");
        }

        var ex = Assert.Throws<InvalidOperationException>(() => SafeTensorsWriter.Write(path, Failing()));
        Assert.Equal("enumeration failed", ex.Message);
        Assert.Equal(new byte[] { 1, 2, 3 }, File.ReadAllBytes(path));
        Assert.Equal(new[] { path }, Directory.GetFiles(_temp.Path));
    }

    [Fact]
    public void A_failure_after_the_header_was_written_leaves_the_existing_file_intact_and_no_temp_file()
    {
        var path = _temp.File("model.safetensors");
        File.WriteAllBytes(path, new byte[] { 1, 2, 3 });
        using var good = torch.ones(1000);
        // A meta tensor has a shape and dtype (so the header is written) but no data to copy.
        using var meta = torch.empty(new long[] { 1000 }, torch.ScalarType.Float32, device: new torch.Device(DeviceType.META));
        var ex = Assert.ThrowsAny<Exception>(() => SafeTensorsWriter.Write(path, new Dictionary<string, torch.Tensor> { ["a"] = good, ["b"] = meta }));
        Assert.Contains("meta tensor", ex.Message); // failed while copying data, after the header went to the temp file

        Assert.Equal(new byte[] { 1, 2, 3 }, File.ReadAllBytes(path));
        Assert.Equal(new[] { path }, Directory.GetFiles(_temp.Path));
    }

    [Fact]
    public void A_successful_write_replaces_the_existing_file()
    {
        var path = _temp.File("model.safetensors");
        File.WriteAllBytes(path, new byte[] { 1, 2, 3 });
        using var t = torch.arange(6, torch.ScalarType.Int32).reshape(2, 3);
        SafeTensorsWriter.Write(path, new Dictionary<string, torch.Tensor> { ["t"] = t });
        using var file = SafeTensorsFile.Open(path);
        Assert.Equal(new long[] { 2, 3 }, file.Info("t").Shape);
        Assert.Equal(new[] { path }, Directory.GetFiles(_temp.Path));
    }

    [Fact]
    public void Half_bfloat16_int64_bool_and_scalar_tensors_round_trip_through_torchsharp()
    {
        using var f16 = torch.tensor(new float[] { 1f, -2f, 0.5f, 65504f }).to_type(torch.ScalarType.Float16).reshape(2, 2);
        using var bf16 = torch.tensor(new float[] { 1f, -3.5f, 1e30f }).to_type(torch.ScalarType.BFloat16);
        using var i64 = torch.tensor(new long[] { long.MinValue, -1, 0, long.MaxValue });
        using var flags = torch.tensor(new bool[] { true, false, false, true, true, false }).reshape(3, 2);
        using var scalar = torch.tensor(3.25);
        using var f32 = torch.tensor(new float[] { 1.5f, float.NegativeInfinity, float.Epsilon });
        using var i32 = torch.tensor(new int[] { int.MinValue, 7 });
        using var i16 = torch.tensor(new short[] { short.MinValue, 7 });
        using var i8 = torch.tensor(new sbyte[] { sbyte.MinValue, 7 });
        using var u8 = torch.tensor(new byte[] { 255, 7 });
        using var empty = torch.zeros(new long[] { 0, 5 });
        var tensors = new Dictionary<string, torch.Tensor>
        {
            ["f16"] = f16, ["bf16"] = bf16, ["i64"] = i64, ["flags"] = flags, ["scalar"] = scalar, ["f32"] = f32,
            ["i32"] = i32, ["i16"] = i16, ["i8"] = i8, ["u8"] = u8, ["empty"] = empty,
        };
        var path = _temp.File("dtypes.safetensors");
        SafeTensorsWriter.Write(path, tensors);

        using var file = SafeTensorsFile.Open(path);
        var expectedDTypes = new Dictionary<string, SafeTensorDType>
        {
            ["f16"] = SafeTensorDType.F16, ["bf16"] = SafeTensorDType.BF16, ["i64"] = SafeTensorDType.I64, ["flags"] = SafeTensorDType.BOOL,
            ["scalar"] = SafeTensorDType.F64, ["f32"] = SafeTensorDType.F32, ["i32"] = SafeTensorDType.I32, ["i16"] = SafeTensorDType.I16,
            ["i8"] = SafeTensorDType.I8, ["u8"] = SafeTensorDType.U8, ["empty"] = SafeTensorDType.F32,
        };
        foreach (var (name, original) in tensors)
        {
            Assert.Equal(expectedDTypes[name], file.Info(name).DType);
            using var loaded = file.Load(name);
            Assert.Equal(original.dtype, loaded.dtype);
            Assert.Equal(original.shape, loaded.shape);
            using var same = original.equal(loaded).all();
            Assert.True(same.item<bool>(), name);
        }

        // Independent checks of the stored bytes: IEEE half 1.0 = 0x3C00, bfloat16 1.0 = 0x3F80, little-endian.
        Assert.Equal(new byte[] { 0x00, 0x3C, 0x00, 0xC0 }, file.GetBytes("f16")[..4].ToArray());
        Assert.Equal(new byte[] { 0x80, 0x3F, 0x60, 0xC0 }, file.GetBytes("bf16")[..4].ToArray());
        Assert.Equal(new byte[] { 1, 0, 0, 1, 1, 0 }, file.GetBytes("flags").ToArray());
        Assert.Equal(BitConverter.GetBytes(long.MinValue), file.GetBytes("i64")[..8].ToArray());
        Assert.Equal(BitConverter.GetBytes(3.25), file.GetBytes("scalar").ToArray());
        Assert.Empty(file.Info("scalar").Shape);
        Assert.Equal(1, file.Info("scalar").ElementCount);
        using var loadedScalar = file.Load("scalar");
        Assert.Equal(0, loadedScalar.dim());
        Assert.Equal(3.25, loadedScalar.item<double>());
        Assert.Equal(0, file.Info("empty").ByteLength);
    }

    [Fact]
    public void Non_contiguous_tensors_are_written_in_logical_order()
    {
        using var t = torch.arange(6, torch.ScalarType.Float32).reshape(2, 3).t(); // [[0,3],[1,4],[2,5]]
        Assert.False(t.is_contiguous());
        var path = _temp.File("t.safetensors");
        SafeTensorsWriter.Write(path, new Dictionary<string, torch.Tensor> { ["t"] = t });
        using var file = SafeTensorsFile.Open(path);
        Assert.Equal(new long[] { 3, 2 }, file.Info("t").Shape);
        using var loaded = file.Load("t");
        Assert.Equal(new float[] { 0, 3, 1, 4, 2, 5 }, loaded.data<float>().ToArray());
    }

    [Fact]
    public void Loaded_tensors_own_their_memory_after_the_file_is_closed()
    {
        var path = _temp.File("own.safetensors");
        SafeTensorsWriter.Write(path, new[] { new SafeTensorEntry("w", SafeTensorDType.I32, new long[] { 2 }, BitConverter.GetBytes(7).Concat(BitConverter.GetBytes(-9)).ToArray()) });
        torch.Tensor loaded;
        using (var file = SafeTensorsFile.Open(path)) loaded = file.Load("w");
        using (loaded)
        {
            File.Delete(path);
            Assert.Equal(new[] { 7, -9 }, loaded.data<int>().ToArray());
        }
    }

    [Fact]
    public void Reading_after_dispose_throws()
    {
        var path = _temp.File("d.safetensors");
        SafeTensorsWriter.Write(path, new[] { Entry("w", SafeTensorDType.U8, 1) });
        var file = SafeTensorsFile.Open(path);
        file.Dispose();
        Assert.Throws<ObjectDisposedException>(() => file.Load("w"));
    }

    private static SafeTensorEntry Entry(string name, SafeTensorDType dtype, long n) =>
        new(name, dtype, new[] { n }, new byte[n * dtype.ElementSize()]);

    private static List<string> HeaderKeys(string path)
    {
        var (json, _) = TestFiles.ReadHeaderByHand(path);
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.EnumerateObject().Select(p => p.Name).ToList();
    }
}

/// <summary>
/// Tensors over 1 GB are copied in chunks through narrowed views (a span cannot pass 2 GB); the same
/// code runs here with tiny chunks so the chunk arithmetic is checked without multi-GB files.
/// </summary>
public class SafeTensorsChunkedCopyTests
{
    [Theory]
    [InlineData(4)]   // one element per chunk
    [InlineData(12)]  // chunks that do not divide the tensor
    [InlineData(1)]   // smaller than an element: rounds up to one element
    public void Chunked_fill_and_write_match_a_single_copy(long chunkBytes)
    {
        var values = Enumerable.Range(0, 10).Select(i => i * 1.5f - 3f).ToArray();
        var bytes = values.SelectMany(BitConverter.GetBytes).ToArray();

        using var tensor = torch.empty(new long[] { 2, 5 }, torch.ScalarType.Float32);
        SafeTensorsFile.Fill(tensor, bytes, chunkBytes);
        Assert.Equal(values, tensor.data<float>().ToArray());

        using var stream = new MemoryStream();
        SafeTensorsWriter.WriteTensor(stream, tensor, "t", bytes.Length, chunkBytes);
        Assert.Equal(bytes, stream.ToArray());
    }
}
