using System;
using System.IO;
using System.Linq;
using System.Text.Json;
using LoraKit.SafeTensors;

namespace LoraKit.Tests.Quantization;

/// <summary>bitsandbytes 0.50.1's NF4 vectors (Fixtures/hf-reference/nf4, see its PROVENANCE.md).</summary>
internal static class Nf4Fixture
{
    public static string Folder => Path.Combine(AppContext.BaseDirectory, "Fixtures", "hf-reference", "nf4");
    public static string TinyLlama => Path.Combine(AppContext.BaseDirectory, "Fixtures", "hf-reference", "tiny-llama");
    public static string TinyData => Path.Combine(AppContext.BaseDirectory, "Fixtures", "hf-reference", "data", "tiny.jsonl");

    private static readonly Lazy<JsonDocument> s_tables = new(() => JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Folder, "tables.json"))));
    private static readonly Lazy<JsonDocument> s_randn = new(() => JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Folder, "randn_256x64.json"))));

    public static JsonElement Tables => s_tables.Value.RootElement;
    public static JsonElement Randn => s_randn.Value.RootElement;

    public static float[] TableFloats(string key) => Tables.GetProperty(key).EnumerateArray().Select(e => (float)e.GetDouble()).ToArray();

    /// <summary>A tensor of randn_256x64.safetensors as raw little-endian bytes.</summary>
    public static byte[] Bytes(string name)
    {
        using var file = SafeTensorsFile.Open(Path.Combine(Folder, "randn_256x64.safetensors"));
        return file.GetBytes(name).ToArray();
    }

    public static float[] Floats(string name)
    {
        var bytes = Bytes(name);
        var result = new float[bytes.Length / 4];
        Buffer.BlockCopy(bytes, 0, result, 0, bytes.Length);
        return result;
    }

    public static byte[] Hex(string hex) => Convert.FromHexString(hex);
}
