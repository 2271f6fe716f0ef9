using System;
using System.Buffers.Binary;
using System.IO;
using System.Text;

namespace LoraKit.Tests;

/// <summary>A fresh temporary folder, deleted on dispose.</summary>
internal sealed class TempFolder : IDisposable
{
    public TempFolder()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "lorakit-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

internal static class TestFiles
{
    public static string FixtureFolder => Path.Combine(AppContext.BaseDirectory, "Fixtures", "peft-gpt2-seqcls");
    public static string FixtureWeights => Path.Combine(FixtureFolder, "adapter_model.safetensors");
    public static string FixtureConfig => Path.Combine(FixtureFolder, "adapter_config.json");

    /// <summary>Writes u64 LE header length, the header (as given, no padding), then the data.</summary>
    public static string WriteRaw(string path, string headerJson, byte[]? data = null)
    {
        var header = Encoding.UTF8.GetBytes(headerJson);
        return WriteRaw(path, header, data);
    }

    public static string WriteRaw(string path, byte[] header, byte[]? data = null, ulong? declaredLength = null)
    {
        using var stream = new FileStream(path, FileMode.Create);
        Span<byte> prefix = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(prefix, declaredLength ?? (ulong)header.Length);
        stream.Write(prefix);
        stream.Write(header);
        if (data is not null) stream.Write(data);
        return path;
    }

    /// <summary>Reads a safetensors file's header JSON by hand (independent of the reader under test).</summary>
    public static (string Json, long DataStart) ReadHeaderByHand(string path)
    {
        var bytes = System.IO.File.ReadAllBytes(path);
        var n = (long)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        return (Encoding.UTF8.GetString(bytes, 8, (int)n), 8 + n);
    }
}
