using System.Buffers.Binary;
using System.Text;

namespace LoraKit.Gguf.Tests;

/// <summary>LoraKit's GGUF reader trusts nothing in the file: each check on a file the writer made and then damaged.</summary>
public class GgufFileTests
{
    private static string Sample(TempFolder temp)
    {
        var path = temp.File("sample.gguf");
        var metadata = new List<KeyValuePair<string, GgufValue>>
        {
            new("general.architecture", GgufValue.Of("llama")),
            new("a.count", GgufValue.Of(7u)),
            new("a.coumt", GgufValue.Of(-3)),
            new("a.scale", GgufValue.Of(0.5f)),
            new("a.flag", GgufValue.Of(true)),
            new("a.names", GgufValue.Of(new[] { "x", "yz" })),
            new("a.ids", GgufValue.Of(new[] { 1, 2, 3 })),
        };
        var values = Enumerable.Range(0, 64).Select(i => i / 7f - 4f).ToArray();
        var tensors = new List<GgufTensorEntry>
        {
            GgufWriter.FromFloats("first.weight", new long[] { 32, 2 }, GgmlType.F32, () => values),
            GgufWriter.FromFloats("second.weight", new long[] { 32, 2 }, GgmlType.Q8_0, () => values),
            GgufWriter.FromFloats("third.weight", new long[] { 64 }, GgmlType.F16, () => values),
        };
        GgufWriter.Write(path, metadata, tensors);
        return path;
    }

    [Fact]
    public void Round_trip_keeps_every_value_type_and_tensor()
    {
        using var temp = new TempFolder();
        var file = GgufFile.Open(Sample(temp));
        Assert.Equal(3u, file.Version);
        Assert.Equal("llama", file["general.architecture"]!.AsString());
        Assert.Equal(7u, file["a.count"]!.Value);
        Assert.Equal(-3, file["a.coumt"]!.Value);
        Assert.Equal(0.5f, file["a.scale"]!.Value);
        Assert.Equal(true, file["a.flag"]!.Value);
        Assert.Equal(new[] { "x", "yz" }, (string[])file["a.names"]!.Value);
        Assert.Equal(new[] { 1, 2, 3 }, (int[])file["a.ids"]!.Value);
        var values = Enumerable.Range(0, 64).Select(i => i / 7f - 4f).ToArray();
        Assert.Equal(values, file.ReadFloats("first.weight"));
        Assert.Equal(values.Select(v => (float)(Half)v), file.ReadFloats("third.weight"));
        // Q8_0: within half a step of the block's scale (max |x| / 127).
        var q = file.ReadFloats("second.weight");
        for (var b = 0; b < 2; b++)
        {
            var step = values.Skip(b * 32).Take(32).Max(Math.Abs) / 127f;
            for (var i = b * 32; i < b * 32 + 32; i++) Assert.InRange(q[i] - values[i], -step * 0.51f, step * 0.51f);
        }
        Assert.All(file.Tensors, t => Assert.Equal(0, t.Offset % GgufWriter.Alignment));
    }

    /// <summary>Each damage and the words the error must contain.</summary>
    public static TheoryData<string, string> Damages => new()
    {
        { "magic", "magic" },
        { "version", "version 1" },
        { "kv-count", "metadata entries" },
        { "tensor-count", "tensors" },
        { "string-length", "more than the" },
        { "duplicate-key", "appears twice" },
        { "value-type", "not a GGUF type" },
        { "bool", "bool stored as" },
        { "dims", "dimensions" },
        { "tensor-type", "tensor type 99" },
        { "misaligned", "not a multiple of the alignment" },
        { "overlap", "overlaps" },
        { "truncated", "truncated" },
        { "cut-header", "cut off" },
    };

    [Theory]
    [MemberData(nameof(Damages))]
    public void Damaged_files_are_refused_naming_the_problem(string damage, string words)
    {
        using var temp = new TempFolder();
        var path = Sample(temp);
        var bytes = File.ReadAllBytes(path);
        int Find(string s) => IndexOf(bytes, Encoding.UTF8.GetBytes(s));
        // Tensor info of "second.weight": name, n_dims (u32), 2 dims (u64), type (u32), offset (u64).
        var second = Find("second.weight") + "second.weight".Length;
        switch (damage)
        {
            case "magic": bytes[0] = (byte)'X'; break;
            case "version": BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), 1); break;
            case "kv-count": BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(16), ulong.MaxValue / 2); break;
            case "tensor-count": BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(8), 1UL << 40); break;
            case "string-length": BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(24), 1UL << 50); break;
            case "duplicate-key": bytes[Find("a.coumt") + 5] = (byte)'n'; break;
            case "value-type": BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(Find("a.scale") + 7), 77); break;
            case "bool": bytes[Find("a.flag") + 6 + 4] = 2; break;
            case "dims": BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(second), 5); break;
            case "tensor-type": BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(second + 4 + 16), 99); break;
            case "misaligned": BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(second + 4 + 16 + 4), 260); break;
            case "overlap": BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(second + 4 + 16 + 4), 0); break;
            case "truncated": bytes = bytes[..^40]; break;
            case "cut-header": bytes = bytes[..(second + 2)]; break;
        }
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<GgufFormatException>(() => GgufFile.Open(path));
        Assert.Contains(path, e.Message);
        Assert.Contains(words, e.Message);
    }

    [Fact]
    public void A_folder_or_a_missing_file_is_refused()
    {
        using var temp = new TempFolder();
        Assert.Contains("does not exist", Assert.Throws<GgufFormatException>(() => GgufFile.Open(temp.File("none.gguf"))).Message);
        Assert.Throws<GgufFormatException>(() => GgufFile.Open(temp.Path));
    }

    private static int IndexOf(byte[] haystack, byte[] needle)
    {
        for (var i = 0; i + needle.Length <= haystack.Length; i++)
            if (haystack.AsSpan(i, needle.Length).SequenceEqual(needle)) return i;
        throw new InvalidOperationException("pattern not in the sample file");
    }
}
