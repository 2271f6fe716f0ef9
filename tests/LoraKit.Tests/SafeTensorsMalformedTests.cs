using System;
using System.IO;
using System.Text;
using LoraKit.SafeTensors;
using Xunit;

namespace LoraKit.Tests;

/// <summary>Every kind of malformed file gives a SafeTensorsFormatException naming the file, the tensor and the problem.</summary>
public class SafeTensorsMalformedTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private string Path(string name = "bad.safetensors") => _temp.File(name);

    private static SafeTensorsFormatException Fails(string path, string? tensor, params string[] problemWords)
    {
        var ex = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsFile.Open(path).Dispose());
        Assert.Equal(path, ex.File);
        Assert.Contains(path, ex.Message);
        Assert.Equal(tensor, ex.Tensor);
        if (tensor is not null) Assert.Contains($"'{tensor}'", ex.Message);
        foreach (var word in problemWords) Assert.Contains(word, ex.Message, StringComparison.OrdinalIgnoreCase);
        return ex;
    }

    [Fact]
    public void A_valid_minimal_file_opens() // the baseline the malformed variants below break
    {
        var path = TestFiles.WriteRaw(Path(), "{\"a\":{\"dtype\":\"I8\",\"shape\":[2],\"data_offsets\":[0,2]}}", new byte[] { 1, 2 });
        using var file = SafeTensorsFile.Open(path);
        Assert.Equal(new byte[] { 1, 2 }, file.GetBytes("a").ToArray());
    }

    [Fact]
    public void File_shorter_than_8_bytes()
    {
        var path = Path();
        File.WriteAllBytes(path, new byte[] { 1, 2, 3, 4, 5 });
        Fails(path, null, "5 bytes", "shorter than");
    }

    [Fact]
    public void Header_length_larger_than_the_file()
    {
        var path = TestFiles.WriteRaw(Path(), Encoding.UTF8.GetBytes("{}"), declaredLength: 1000);
        Fails(path, null, "1000", "larger than");
    }

    [Theory]
    [InlineData(200_000_000UL)]
    [InlineData(ulong.MaxValue)]
    public void Header_length_over_100_MB_is_refused_before_allocating(ulong declared)
    {
        var path = TestFiles.WriteRaw(Path(), Encoding.UTF8.GetBytes("{}"), declaredLength: declared);
        Fails(path, null, declared.ToString(), "100000000");
    }

    [Fact]
    public void Header_not_utf8()
    {
        // {"a<0xFF>":{}} : a byte that can never occur in UTF-8, inside a key.
        var header = new byte[] { (byte)'{', (byte)'"', (byte)'a', 0xFF, (byte)'"', (byte)':', (byte)'{', (byte)'}', (byte)'}' };
        var path = TestFiles.WriteRaw(Path(), header);
        Fails(path, null, "UTF-8");
    }

    [Fact]
    public void Header_not_json()
    {
        var path = TestFiles.WriteRaw(Path(), "{\"a\": {\"dtype\": \"F32\",");
        Fails(path, null, "not valid JSON");
    }

    [Fact]
    public void Header_not_an_object()
    {
        var path = TestFiles.WriteRaw(Path(), "[1, 2, 3]");
        Fails(path, null, "must be a JSON object", "array");
    }

    [Fact]
    public void Tensor_entry_not_an_object()
    {
        var path = TestFiles.WriteRaw(Path(), "{\"w\": [0, 4]}", new byte[4]);
        Fails(path, "w", "must be an object", "array");
    }

    [Theory]
    [InlineData("dtype", "{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}")]
    [InlineData("shape", "{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}")]
    [InlineData("data_offsets", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}")]
    public void Tensor_entry_missing_a_key(string key, string header)
    {
        var path = TestFiles.WriteRaw(Path(), header, new byte[4]);
        Fails(path, "w", "lacks", $"'{key}'");
    }

    [Theory]
    [InlineData("\"F8_E4M3\"")]
    [InlineData("\"f32\"")]
    [InlineData("32")]
    public void Unknown_dtype(string dtype)
    {
        var path = TestFiles.WriteRaw(Path(), $"{{\"w\":{{\"dtype\":{dtype},\"shape\":[4],\"data_offsets\":[0,4]}}}}", new byte[4]);
        Fails(path, "w", "unknown", dtype.Trim('"'));
    }

    [Fact]
    public void Negative_shape()
    {
        var path = TestFiles.WriteRaw(Path(), "{\"w\":{\"dtype\":\"U8\",\"shape\":[-2,-2],\"data_offsets\":[0,4]}}", new byte[4]);
        Fails(path, "w", "shape", "negative", "-2");
    }

    [Theory]
    [InlineData("[2.5]")]
    [InlineData("[4.0]")]
    [InlineData("[\"4\"]")]
    [InlineData("[1e1]")]
    [InlineData("[99999999999999999999]")]
    public void Non_integer_shape(string shape)
    {
        var path = TestFiles.WriteRaw(Path(), $"{{\"w\":{{\"dtype\":\"U8\",\"shape\":{shape},\"data_offsets\":[0,4]}}}}", new byte[4]);
        Fails(path, "w", "shape", "not an integer");
    }

    [Fact]
    public void Shape_not_an_array()
    {
        var path = TestFiles.WriteRaw(Path(), "{\"w\":{\"dtype\":\"U8\",\"shape\":4,\"data_offsets\":[0,4]}}", new byte[4]);
        Fails(path, "w", "'shape' must be an array");
    }

    [Theory]
    [InlineData("[0]")]
    [InlineData("[0,4,8]")]
    [InlineData("{\"begin\":0}")]
    public void Data_offsets_not_two_integers(string offsets)
    {
        var path = TestFiles.WriteRaw(Path(), $"{{\"w\":{{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":{offsets}}}}}", new byte[4]);
        Fails(path, "w", "data_offsets", "two integers");
    }

    [Theory]
    [InlineData("[0,\"4\"]", "end")]
    [InlineData("[0.5,4]", "begin")]
    [InlineData("[0,-4]", "negative")]
    public void Data_offsets_with_a_bad_value(string offsets, string word)
    {
        var path = TestFiles.WriteRaw(Path(), $"{{\"w\":{{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":{offsets}}}}}", new byte[4]);
        Fails(path, "w", "data_offsets", word);
    }

    [Fact]
    public void Data_offsets_begin_after_end()
    {
        var path = TestFiles.WriteRaw(Path(), "{\"w\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[4,0]}}", new byte[4]);
        Fails(path, "w", "begin 4 is greater than end 0");
    }

    [Fact]
    public void Data_offsets_end_beyond_the_data_section()
    {
        var path = TestFiles.WriteRaw(Path(), "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", new byte[12]);
        Fails(path, "w", "end 16", "beyond the data section", "12 bytes");
    }

    [Fact]
    public void Shape_times_dtype_size_differs_from_the_span()
    {
        var path = TestFiles.WriteRaw(Path(), "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}}", new byte[12]);
        Fails(path, "w", "needs 16 bytes", "span 12");
    }

    [Fact]
    public void Shape_whose_byte_count_overflows()
    {
        var path = TestFiles.WriteRaw(Path(), "{\"w\":{\"dtype\":\"F64\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", new byte[8]);
        Fails(path, "w", "overflows");
    }

    [Fact]
    public void Overlapping_spans()
    {
        var path = TestFiles.WriteRaw(Path(),
            "{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[4,12]}}",
            new byte[12]);
        Fails(path, "b", "overlap", "'a'");
    }

    [Fact]
    public void Hole_between_spans()
    {
        var path = TestFiles.WriteRaw(Path(),
            "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[6,10]}}",
            new byte[10]);
        Fails(path, "b", "hole", "[4, 6)");
    }

    [Fact]
    public void Hole_at_the_start()
    {
        var path = TestFiles.WriteRaw(Path(), "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[2,6]}}", new byte[6]);
        Fails(path, "a", "hole", "[0, 2)");
    }

    [Fact]
    public void Hole_at_the_end_trailing_bytes()
    {
        var path = TestFiles.WriteRaw(Path(), "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}", new byte[7]);
        Fails(path, "a", "[4, 7)", "no tensor");
    }

    [Fact]
    public void Data_without_any_tensor()
    {
        var path = TestFiles.WriteRaw(Path(), "{}", new byte[3]);
        Fails(path, null, "[0, 3)", "no tensor");
    }

    [Fact]
    public void Duplicate_tensor_name()
    {
        var path = TestFiles.WriteRaw(Path(),
            "{\"w\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},\"w\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[2,4]}}",
            new byte[4]);
        Fails(path, "w", "more than once", "duplicate");
    }

    [Fact]
    public void Duplicate_key_inside_a_tensor_entry()
    {
        var path = TestFiles.WriteRaw(Path(),
            "{\"w\":{\"dtype\":\"U8\",\"shape\":[2],\"shape\":[4],\"data_offsets\":[0,4]}}", new byte[4]);
        Fails(path, "w", "duplicate key 'shape'");
    }

    [Fact]
    public void Duplicate_metadata_key()
    {
        var path = TestFiles.WriteRaw(Path(), "{\"__metadata__\":{\"format\":\"pt\",\"format\":\"np\"}}");
        Fails(path, null, "duplicate key 'format'");
    }

    [Theory]
    [InlineData("{\"__metadata__\":{\"format\":1}}", "'format' holds a number")]
    [InlineData("{\"__metadata__\":\"pt\"}", "must be an object")]
    [InlineData("{\"__metadata__\":{\"nested\":{\"a\":\"b\"}}}", "'nested' holds an object")]
    public void Metadata_not_a_string_map(string header, string word)
    {
        var path = TestFiles.WriteRaw(Path(), header);
        Fails(path, null, "__metadata__", word);
    }

    [Fact]
    public void A_zero_length_tensor_inside_another_span_is_an_overlap()
    {
        var path = TestFiles.WriteRaw(Path(),
            "{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},\"e\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[4,4]}}",
            new byte[8]);
        Fails(path, "e", "overlap");
    }

    [Fact]
    public void Zero_length_tensors_at_span_boundaries_are_valid()
    {
        var path = TestFiles.WriteRaw(Path(),
            "{\"e\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[0,0]},\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},\"z\":{\"dtype\":\"I64\",\"shape\":[3,0],\"data_offsets\":[2,2]}}",
            new byte[2]);
        using var file = SafeTensorsFile.Open(path);
        Assert.Equal(new[] { "e", "a", "z" }, new[] { file.Tensors[0].Name, file.Tensors[1].Name, file.Tensors[2].Name });
        using var e = file.Load("e");
        Assert.Equal(new long[] { 0, 3 }, e.shape);
    }

    [Fact]
    public void Missing_file_is_a_file_not_found_error()
    {
        Assert.Throws<FileNotFoundException>(() => SafeTensorsFile.Open(Path("absent.safetensors")));
    }
}
