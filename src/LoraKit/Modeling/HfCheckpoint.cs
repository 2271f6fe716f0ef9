using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using LoraKit.Models;
using LoraKit.SafeTensors;
using TorchSharp;
using static TorchSharp.torch;

namespace LoraKit.Modeling;

/// <summary>
/// A Hugging Face model folder: <c>config.json</c> plus <c>model.safetensors</c> or a sharded
/// <c>model.safetensors.index.json</c>. Loads onto CPU or CUDA in F32/F16/BF16 and saves in the same layout.
/// </summary>
public static class HfCheckpoint
{
    public const string ConfigFileName = "config.json";

    /// <summary>Tokenizer and generation files copied along when a checkpoint is derived from another.</summary>
    public static readonly IReadOnlyList<string> CompanionFiles = new[]
    {
        "tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json", "vocab.json", "merges.txt",
    };

    /// <summary>Builds the model from config.json and copies every weight in; missing or unknown weights are reported by name.</summary>
    public static LlamaForCausalLM Load(string folder, Device? device = null, ScalarType dtype = ScalarType.Float32)
    {
        var configPath = Path.Combine(folder, ConfigFileName);
        if (!File.Exists(configPath))
            throw new FileNotFoundException($"{folder} has no {ConfigFileName}; a Hugging Face model folder holds config.json and model.safetensors.", configPath);
        var dims = HfConfig.Load(configPath);
        var model = new LlamaForCausalLM(dims, device, dtype);
        using var checkpoint = SafeTensorsCheckpoint.Open(folder);
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var name in checkpoint.Names) tensors[name] = checkpoint.Load(name);
            model.LoadHfStateDict(tensors);
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
        return model;
    }

    /// <summary>
    /// Writes config.json and model.safetensors (each atomically) into <paramref name="folder"/>, in
    /// <paramref name="dtype"/> when given. A tied model omits lm_head.weight, as Hugging Face does.
    /// </summary>
    public static void Save(LlamaForCausalLM model, string folder, ScalarType? dtype = null)
    {
        if (Quantization.Nf4Model.IsQuantized(model))
            throw new InvalidOperationException("the model has 4-bit (NF4) layers, which a 16/32-bit checkpoint cannot hold; dequantize them first " +
                                                "(Nf4Model.Dequantize), or write a bitsandbytes 4-bit checkpoint with lorakit quantize");
        Directory.CreateDirectory(folder);
        var state = model.HfStateDict();
        var outType = dtype ?? state.Values.First().dtype;
        var tensors = state.Select(kv => new KeyValuePair<string, Tensor>(kv.Key, kv.Value.to(outType, CPU).contiguous())).ToList();
        SafeTensorsWriter.Write(Path.Combine(folder, SafeTensorsCheckpoint.SingleFileName), tensors, new Dictionary<string, string> { ["format"] = "pt" });
        AtomicFile.Write(Path.Combine(folder, ConfigFileName), s =>
        {
            var bytes = Encoding.UTF8.GetBytes(LlamaForCausalLM.ToHfConfigJson(model.Dimensions, outType));
            s.Write(bytes, 0, bytes.Length);
        });
        foreach (var t in tensors) t.Value.Dispose();
    }
}
