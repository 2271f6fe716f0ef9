using System.Text.Json;
using System.Text.Json.Nodes;
using LoraKit.IO;
using LoraKit.Models;
using LoraKit.Modeling;
using LoraKit.SafeTensors;
using TorchSharp;
using static TorchSharp.torch;

namespace LoraKit.Quantization;

/// <summary>A quantized checkpoint file that does not follow bitsandbytes' format; the message names the file, the key and the fix.</summary>
public sealed class Nf4FormatException : IOException
{
    public Nf4FormatException(string message) : base(message) { }
}

/// <summary>What <see cref="Nf4Checkpoint.Quantize"/> writes.</summary>
public sealed record Nf4QuantizeOptions
{
    public int BlockSize { get; init; } = Nf4.DefaultBlockSize;

    /// <summary>Double quantization of the absmax values (bnb_4bit_use_double_quant); on by default.</summary>
    public bool DoubleQuant { get; init; } = true;

    /// <summary>
    /// Cast every tensor to this dtype first, as transformers does with torch_dtype before quantizing (the quant
    /// state's dtype then names it); null keeps each tensor's stored dtype.
    /// </summary>
    public ScalarType? Dtype { get; init; }

    /// <summary>bnb_4bit_compute_dtype written into quantization_config.</summary>
    public ScalarType ComputeDtype { get; init; } = ScalarType.BFloat16;
}

/// <summary>
/// bitsandbytes' 4-bit checkpoint format as transformers saves it (the "…-bnb-4bit" model repositories): each
/// quantized linear's <c>weight</c> is the packed uint8 [(n + 1) / 2, 1] codes, beside <c>weight.absmax</c>
/// (float32, or uint8 codes under double quantization), <c>weight.quant_map</c> (the 16 NF4 values),
/// <c>weight.nested_absmax</c> and <c>weight.nested_quant_map</c> (double quantization only) and
/// <c>weight.quant_state.bitsandbytes__nf4</c> (the JSON of QuantState.as_dict's non-tensor entries, as uint8);
/// config.json carries <c>quantization_config</c>. The rest of the model is stored as usual.
/// </summary>
public static class Nf4Checkpoint
{
    public const string QuantizationConfigKey = "quantization_config";
    public const string AbsmaxSuffix = ".absmax";
    public const string QuantMapSuffix = ".quant_map";
    public const string NestedAbsmaxSuffix = ".nested_absmax";
    public const string NestedQuantMapSuffix = ".nested_quant_map";
    public const string QuantStateSuffix = ".quant_state.bitsandbytes__" + Nf4.QuantType;

    /// <summary>
    /// True when the folder's config.json declares a bitsandbytes 4-bit checkpoint. A config.json that is not a
    /// well-formed object (bad JSON, a key twice) is not one: the loader that reads it next reports its problem with
    /// the file, the key and the fix.
    /// </summary>
    public static bool IsQuantized(string folder)
    {
        var configPath = Path.Combine(folder, HfCheckpoint.ConfigFileName);
        if (!File.Exists(configPath)) return false;
        try
        {
            return StrictJson.ReadNode(configPath, InputLimits.JsonFileBytes, "model config") is JsonObject config && config[QuantizationConfigKey] is JsonObject q && IsBitsAndBytes4Bit(q);
        }
        catch (Exception e) when (e is JsonException or ArgumentException or InvalidOperationException or IOException)
        {
            return false;
        }
    }

    /// <summary>
    /// The one way a base model folder is loaded for training, evaluation and generation: a bitsandbytes 4-bit
    /// checkpoint as stored (4-bit), a 16/32-bit one quantized on load when <paramref name="quantizeOnLoad"/>, else as
    /// stored in <paramref name="dtype"/>.
    /// </summary>
    public static LlamaForCausalLM LoadBase(string folder, Device? device, ScalarType dtype, bool quantizeOnLoad) =>
        quantizeOnLoad || IsQuantized(folder) ? LoadQuantized(folder, device, dtype) : HfCheckpoint.Load(folder, device, dtype);

    /// <summary>
    /// Loads a model: a bitsandbytes 4-bit checkpoint as stored (its NF4 layers kept 4-bit), or a 16/32-bit one
    /// quantized on load (<see cref="Nf4Model.QuantizeInPlace"/>). The rest of the model is built in <paramref name="dtype"/>.
    /// <paramref name="computeDtype"/> overrides the checkpoint's bnb_4bit_compute_dtype; quantizing on load, null
    /// computes in <paramref name="dtype"/> (see <see cref="Nf4Options.ComputeDtype"/>).
    /// </summary>
    public static LlamaForCausalLM LoadQuantized(string folder, Device? device = null, ScalarType dtype = ScalarType.BFloat16,
        ScalarType? computeDtype = null, int blockSize = Nf4.DefaultBlockSize)
    {
        if (IsQuantized(folder)) return Load(folder, device, dtype, computeDtype);
        var model = HfCheckpoint.Load(folder, device, dtype);
        Nf4Model.QuantizeInPlace(model, new Nf4Options { BlockSize = blockSize, ComputeDtype = computeDtype });
        return model;
    }

    /// <summary>Loads a pre-quantized bitsandbytes NF4 checkpoint; every quantized tensor is validated before use.</summary>
    public static LlamaForCausalLM Load(string folder, Device? device = null, ScalarType dtype = ScalarType.BFloat16, ScalarType? computeDtype = null)
    {
        var configPath = Path.Combine(folder, HfCheckpoint.ConfigFileName);
        if (!File.Exists(configPath))
            throw new FileNotFoundException($"{folder} has no {HfCheckpoint.ConfigFileName}; a Hugging Face model folder holds config.json and model.safetensors.", configPath);
        // The config key table (Core) decides which quantization_config LoraKit loads — bitsandbytes, 4-bit, nf4, uint8
        // storage, every decoder linear quantized — and refuses the rest with LORA2004 naming the file, line and key.
        // Core's strict reader goes first: it refuses a key twice, a lone surrogate and a file that is not regular.
        var dims = HfConfig.Load(configPath);
        var quantization = StrictJson.ReadNode(configPath, InputLimits.JsonFileBytes, "model config")?[QuantizationConfigKey] as JsonObject
            ?? throw new Nf4FormatException($"{configPath} has no {QuantizationConfigKey}; this is not a bitsandbytes 4-bit checkpoint (load it with HfCheckpoint.Load, or quantize on load)");
        LlamaForCausalLM.RequireFitsMachine(dims, device, dtype, configPath);
        var compute = computeDtype ?? ParseComputeDtype(quantization, configPath);

        var model = new LlamaForCausalLM(dims, device, dtype);
        try
        {
            using var checkpoint = SafeTensorsCheckpoint.Open(folder);
            var consumed = new HashSet<string>(StringComparer.Ordinal);
            foreach (var slot in Nf4Model.DecoderSlots(model))
            {
                var linear = (TorchSharp.Modules.Linear)slot.Current;
                var shape = linear.weight!.shape;
                var prefix = slot.Path + ".weight";
                var (blocks, sourceDtype) = ReadQuantized(checkpoint, prefix, shape, consumed);
                using var bias = linear.bias is null ? null : torch.zeros(shape[0], dtype: dtype);
                slot.Replace(new Nf4Linear(blocks, shape[0], shape[1], bias, compute, linear.weight.device, sourceDtype));
                linear.Dispose();
            }
            var rest = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            try
            {
                foreach (var name in checkpoint.Names.Where(n => !consumed.Contains(n))) rest[name] = checkpoint.Load(name);
                model.LoadHfStateDict(rest);
            }
            finally
            {
                foreach (var t in rest.Values) t.Dispose();
            }
        }
        catch
        {
            model.Dispose();
            throw;
        }
        return model;
    }

    private static (Nf4Blocks Blocks, string SourceDtype) ReadQuantized(SafeTensorsCheckpoint checkpoint, string prefix, long[] shape, HashSet<string> consumed)
    {
        string Where(string name) => $"{checkpoint.FileOf(name).Path}: tensor '{name}'";
        byte[] Bytes(string name, SafeTensorDType dtype)
        {
            if (!checkpoint.Contains(name))
                throw new Nf4FormatException($"{checkpoint.Path} has no tensor '{name}'; a bitsandbytes 4-bit checkpoint stores it beside each quantized weight (re-save with transformers + bitsandbytes, or run lorakit quantize on the 16-bit model)");
            var info = checkpoint.Info(name);
            if (info.DType != dtype) throw new Nf4FormatException($"{Where(name)} is {info.DType.HeaderName()}, bitsandbytes stores {dtype.HeaderName()}");
            consumed.Add(name);
            return checkpoint.FileOf(name).GetBytes(name).ToArray();
        }
        float[] Floats(string name) => MemoryMarshalFloats(Bytes(name, SafeTensorDType.F32));

        var stateName = prefix + QuantStateSuffix;
        if (!checkpoint.Contains(stateName) && checkpoint.Names.Any(n => n.StartsWith(prefix + ".quant_state.", StringComparison.Ordinal)))
            throw new Nf4FormatException($"{checkpoint.Path}: '{prefix}' is quantized with another 4-bit type than nf4 (found {checkpoint.Names.First(n => n.StartsWith(prefix + ".quant_state.", StringComparison.Ordinal))}); only NF4 is supported");
        var state = QuantState.Parse(Encoding.UTF8.GetString(Bytes(stateName, SafeTensorDType.U8)), Where(stateName));
        long count = shape[0] * shape[1];
        if (!state.Shape.SequenceEqual(shape))
            throw new Nf4FormatException($"{Where(stateName)} gives shape [{string.Join(", ", state.Shape)}]; the model's config.json makes this weight [{string.Join(", ", shape)}]");
        var packed = Bytes(prefix, SafeTensorDType.U8);
        var packedInfo = checkpoint.Info(prefix);
        if (packed.Length != Nf4.PackedBytes(count) || packedInfo.Shape.Length != 2 || packedInfo.Shape[1] != 1)
            throw new Nf4FormatException($"{Where(prefix)} is [{string.Join(", ", packedInfo.Shape)}]; {count} NF4 values pack into [{Nf4.PackedBytes(count)}, 1]");
        var map = Floats(prefix + QuantMapSuffix);
        if (!map.SequenceEqual(Nf4.CodeBook))
            throw new Nf4FormatException($"{Where(prefix + QuantMapSuffix)} is not bitsandbytes' NF4 code book");
        var blocks = Nf4.Blocks(count, state.BlockSize);
        float[] absmax;
        if (state.Nested is { } nested)
        {
            var codes = Bytes(prefix + AbsmaxSuffix, SafeTensorDType.U8);
            var nestedAbsmax = Floats(prefix + NestedAbsmaxSuffix);
            var nestedMap = Floats(prefix + NestedQuantMapSuffix);
            if (codes.Length != blocks)
                throw new Nf4FormatException($"{Where(prefix + AbsmaxSuffix)} holds {codes.Length} codes; {count} values in blocks of {state.BlockSize} need {blocks}");
            if (nestedMap.Length != 256)
                throw new Nf4FormatException($"{Where(prefix + NestedQuantMapSuffix)} holds {nestedMap.Length} values; the 8-bit map has 256");
            if (nestedAbsmax.Length != Nf4.Blocks(blocks, nested.BlockSize))
                throw new Nf4FormatException($"{Where(prefix + NestedAbsmaxSuffix)} holds {nestedAbsmax.Length} values; {blocks} absmax codes in blocks of {nested.BlockSize} need {Nf4.Blocks(blocks, nested.BlockSize)}");
            absmax = Nf4.DequantizeAbsmax(codes, nestedAbsmax, nested.Offset, nested.BlockSize, nestedMap);
        }
        else
        {
            absmax = Floats(prefix + AbsmaxSuffix);
            if (absmax.Length != blocks)
                throw new Nf4FormatException($"{Where(prefix + AbsmaxSuffix)} holds {absmax.Length} values; {count} values in blocks of {state.BlockSize} need {blocks}");
        }
        return (new Nf4Blocks(packed, absmax, state.BlockSize, count), state.Dtype);
    }

    private static float[] MemoryMarshalFloats(byte[] bytes)
    {
        var result = new float[bytes.Length / 4];
        Buffer.BlockCopy(bytes, 0, result, 0, result.Length * 4);
        return result;
    }

    /// <summary>
    /// Writes <paramref name="output"/> as transformers + bitsandbytes save a model loaded with
    /// BitsAndBytesConfig(load_in_4bit, nf4, blocksize, double quant): every decoder linear weight NF4, everything
    /// else as stored (or cast to <see cref="Nf4QuantizeOptions.Dtype"/>), config.json with quantization_config,
    /// and the tokenizer and generation files copied. Returns the paths of the quantized weights.
    /// </summary>
    public static IReadOnlyList<string> Quantize(string source, string output, Nf4QuantizeOptions? options = null)
    {
        options ??= new Nf4QuantizeOptions();
        if (!Nf4.IsValidBlockSize(options.BlockSize))
            throw new ArgumentOutOfRangeException(nameof(options), $"NF4 block size {options.BlockSize} is not a power of two from {Nf4.MinBlockSize} to {Nf4.MaxBlockSize}");
        var configPath = Path.Combine(source, HfCheckpoint.ConfigFileName);
        if (!File.Exists(configPath))
            throw new FileNotFoundException($"{source} has no {HfCheckpoint.ConfigFileName}; a Hugging Face model folder holds config.json and model.safetensors.", configPath);
        var shape = HfConfig.LoadShape(configPath);
        var config = StrictJson.ReadNode(configPath, InputLimits.JsonFileBytes, "model config") as JsonObject
            ?? throw new Nf4FormatException($"{configPath} is not a JSON object");
        if (config[QuantizationConfigKey] is not null)
            throw new Nf4FormatException($"{configPath} already has {QuantizationConfigKey}: the model is quantized; give the 16/32-bit model to quantize");
        var linears = shape.Linears.Where(l => !l.IsOutputHead).SelectMany(l => l.InstancePaths()).Select(p => p + ".weight").ToHashSet(StringComparer.Ordinal);

        var entries = new List<SafeTensorEntry>();
        var quantized = new List<string>();
        using (var checkpoint = SafeTensorsCheckpoint.Open(source))
        {
            foreach (var missing in linears.Where(n => !checkpoint.Contains(n)).Take(1))
                throw new Nf4FormatException($"{checkpoint.Path} has no tensor '{missing}', which {configPath} implies; is this the model's folder?");
            foreach (var name in checkpoint.Names)
            {
                using var scope = NewDisposeScope();
                var tensor = checkpoint.Load(name);
                if (options.Dtype is { } cast && tensor.is_floating_point()) tensor = tensor.to_type(cast);
                if (!linears.Contains(name))
                {
                    entries.Add(Raw(name, tensor));
                    continue;
                }
                var values = LoraKit.IO.TensorData.Floats(tensor);
                var blocks = Nf4.Quantize(values, options.BlockSize);
                entries.AddRange(Entries(name, blocks, tensor.shape, Nf4Model.DtypeName(tensor.dtype), options.DoubleQuant));
                quantized.Add(name);
            }
        }

        Directory.CreateDirectory(output);
        SafeTensorsWriter.Write(Path.Combine(output, SafeTensorsCheckpoint.SingleFileName), entries, new Dictionary<string, string> { ["format"] = "pt" });
        config[QuantizationConfigKey] = QuantizationConfig(options);
        if (options.Dtype is { } d) config["torch_dtype"] = Nf4Model.DtypeName(d);
        var json = config.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
        AtomicFile.WriteAllBytes(Path.Combine(output, HfCheckpoint.ConfigFileName), Encoding.UTF8.GetBytes(json + "\n"));
        foreach (var file in HfCheckpoint.CompanionFiles)
        {
            var from = Path.Combine(source, file);
            if (File.Exists(from)) File.Copy(from, Path.Combine(output, file), overwrite: false);
        }
        return quantized;
    }

    /// <summary>
    /// The safetensors entries of one quantized weight, named and shaped as bitsandbytes' Linear4bit state dict
    /// (QuantState.as_dict(packed=True) under "weight."). The double-quantization offset is the float32 mean of
    /// the absmax values, computed by torch as bitsandbytes does.
    /// </summary>
    public static IReadOnlyList<SafeTensorEntry> Entries(string weightName, Nf4Blocks blocks, long[] shape, string sourceDtype, bool doubleQuant)
    {
        var list = new List<SafeTensorEntry>
        {
            new(weightName, SafeTensorDType.U8, new[] { (long)blocks.Packed.Length, 1 }, blocks.Packed),
        };
        var state = new QuantState(blocks.BlockSize, sourceDtype, shape, null);
        if (doubleQuant)
        {
            var nested = Nf4.QuantizeAbsmax(blocks.Absmax, TorchMean(blocks.Absmax));
            list.Add(new(weightName + AbsmaxSuffix, SafeTensorDType.U8, new[] { (long)nested.Codes.Length }, nested.Codes));
            list.Add(new(weightName + QuantMapSuffix, SafeTensorDType.F32, new[] { 16L }, FloatBytes(Nf4.CodeBook)));
            list.Add(new(weightName + NestedAbsmaxSuffix, SafeTensorDType.F32, new[] { (long)nested.NestedAbsmax.Length }, FloatBytes(nested.NestedAbsmax)));
            list.Add(new(weightName + NestedQuantMapSuffix, SafeTensorDType.F32, new[] { 256L }, FloatBytes(Nf4.DynamicMap)));
            state = state with { Nested = new NestedState(nested.NestedBlockSize, "float32", nested.Offset) };
        }
        else
        {
            list.Add(new(weightName + AbsmaxSuffix, SafeTensorDType.F32, new[] { (long)blocks.Absmax.Length }, FloatBytes(blocks.Absmax)));
            list.Add(new(weightName + QuantMapSuffix, SafeTensorDType.F32, new[] { 16L }, FloatBytes(Nf4.CodeBook)));
        }
        var stateBytes = Encoding.UTF8.GetBytes(state.ToJson());
        list.Add(new(weightName + QuantStateSuffix, SafeTensorDType.U8, new[] { (long)stateBytes.Length }, stateBytes));
        return list;
    }

    /// <summary>torch's float32 mean (the offset bitsandbytes subtracts before double quantization).</summary>
    public static float TorchMean(float[] values)
    {
        using var t = torch.tensor(values);
        using var mean = t.mean();
        return mean.item<float>();
    }

    /// <summary>transformers' BitsAndBytesConfig.to_dict() for these options, keys sorted as save_pretrained writes them.</summary>
    public static JsonObject QuantizationConfig(Nf4QuantizeOptions options) => new()
    {
        ["_load_in_4bit"] = true,
        ["_load_in_8bit"] = false,
        ["bnb_4bit_compute_dtype"] = Nf4Model.DtypeName(options.ComputeDtype),
        ["bnb_4bit_quant_storage"] = "uint8",
        ["bnb_4bit_quant_type"] = Nf4.QuantType,
        ["bnb_4bit_use_double_quant"] = options.DoubleQuant,
        ["llm_int8_enable_fp32_cpu_offload"] = false,
        ["llm_int8_has_fp16_weight"] = false,
        ["llm_int8_skip_modules"] = null,
        ["llm_int8_threshold"] = 6.0,
        ["load_in_4bit"] = true,
        ["load_in_8bit"] = false,
        ["quant_method"] = "bitsandbytes",
    };

    private static bool IsBitsAndBytes4Bit(JsonObject q) =>
        q["quant_method"]?.GetValue<string>() == "bitsandbytes" && (q["load_in_4bit"]?.GetValue<bool>() ?? q["_load_in_4bit"]?.GetValue<bool>() ?? false);

    private static ScalarType ParseComputeDtype(JsonObject q, string configPath)
    {
        var name = q["bnb_4bit_compute_dtype"]?.ToString() ?? "float32";
        if (!Nf4Model.TryParseDtypeName(name, out var dtype))
            throw new Nf4FormatException($"{configPath}: {QuantizationConfigKey}.bnb_4bit_compute_dtype \"{name}\" is not float32, bfloat16 or float16");
        return dtype;
    }

    private static SafeTensorEntry Raw(string name, Tensor tensor)
    {
        var t = tensor.cpu().contiguous();
        var bytes = new byte[t.numel() * t.ElementSize];
        t.bytes.CopyTo(bytes);
        return new SafeTensorEntry(name, SafeTensorDTypes.FromScalarType(t.dtype), t.shape, bytes);
    }

    private static byte[] FloatBytes(IReadOnlyList<float> values)
    {
        var array = values as float[] ?? values.ToArray();
        var bytes = new byte[array.Length * 4];
        Buffer.BlockCopy(array, 0, bytes, 0, bytes.Length);
        return bytes;
    }

    internal sealed record NestedState(int BlockSize, string Dtype, float Offset);

    /// <summary>The non-tensor entries of bitsandbytes' QuantState.as_dict, packed as JSON (json.dumps' default separators).</summary>
    internal sealed record QuantState(int BlockSize, string Dtype, long[] Shape, NestedState? Nested)
    {
        public string ToJson()
        {
            var sb = new StringBuilder();
            sb.Append("{\"quant_type\": \"").Append(Nf4.QuantType).Append("\", \"blocksize\": ").Append(BlockSize.ToString(CultureInfo.InvariantCulture))
              .Append(", \"dtype\": \"").Append(Dtype).Append("\", \"shape\": [")
              .Append(string.Join(", ", Shape.Select(s => s.ToString(CultureInfo.InvariantCulture)))).Append(']');
            if (Nested is { } n)
                sb.Append(", \"nested_blocksize\": ").Append(n.BlockSize.ToString(CultureInfo.InvariantCulture))
                  .Append(", \"nested_dtype\": \"").Append(n.Dtype).Append("\", \"nested_offset\": ").Append(PythonFloat.Repr(n.Offset));
            return sb.Append('}').ToString();
        }

        public static QuantState Parse(string json, string where)
        {
            JsonObject o;
            try
            {
                StrictJson.Check(Encoding.UTF8.GetBytes(json));
                o = JsonNode.Parse(json) as JsonObject ?? throw new Nf4FormatException($"{where} is not a JSON object");
            }
            catch (JsonException e)
            {
                throw new Nf4FormatException($"{where} is not valid JSON: {e.Message}");
            }
            T Get<T>(string key) => o[key] is { } v ? v.GetValue<T>() : throw new Nf4FormatException($"{where} has no \"{key}\"; bitsandbytes' QuantState writes it");
            var type = Get<string>("quant_type");
            if (type != Nf4.QuantType) throw new Nf4FormatException($"{where}: quant_type \"{type}\" is not nf4");
            var blockSize = Get<int>("blocksize");
            if (!Nf4.IsValidBlockSize(blockSize))
                throw new Nf4FormatException($"{where}: blocksize {blockSize} is not a power of two from {Nf4.MinBlockSize} to {Nf4.MaxBlockSize}");
            var dtype = Get<string>("dtype");
            if (!Nf4Model.TryParseDtypeName(dtype, out _)) throw new Nf4FormatException($"{where}: dtype \"{dtype}\" is not float32, bfloat16 or float16");
            var shape = (o["shape"] as JsonArray ?? throw new Nf4FormatException($"{where} has no \"shape\" list")).Select(s => s!.GetValue<long>()).ToArray();
            NestedState? nested = null;
            if (o.ContainsKey("nested_blocksize") || o.ContainsKey("nested_offset"))
            {
                var nestedBlock = Get<int>("nested_blocksize");
                if (nestedBlock < 1) throw new Nf4FormatException($"{where}: nested_blocksize {nestedBlock} is not positive");
                var nestedDtype = Get<string>("nested_dtype");
                if (nestedDtype != "float32") throw new Nf4FormatException($"{where}: nested_dtype \"{nestedDtype}\" is not float32");
                nested = new NestedState(nestedBlock, nestedDtype, (float)Get<double>("nested_offset"));
            }
            return new QuantState(blockSize, dtype, shape, nested);
        }
    }
}

/// <summary>Python's repr() of a float (json.dumps writes floats so): the shortest round-trip digits, "e" notation below 1e-4 and from 1e16.</summary>
public static class PythonFloat
{
    public static string Repr(double value)
    {
        if (double.IsNaN(value)) return "NaN";
        if (double.IsInfinity(value)) return value > 0 ? "Infinity" : "-Infinity";
        if (value == 0) return 1 / value < 0 ? "-0.0" : "0.0";
        // Shortest round-trip digits: from "R", split into digits and decimal exponent.
        var shortest = value.ToString("R", CultureInfo.InvariantCulture);
        var negative = shortest.StartsWith('-');
        if (negative) shortest = shortest.Substring(1);
        var ePos = shortest.IndexOfAny(new[] { 'E', 'e' });
        var mantissa = ePos < 0 ? shortest : shortest.Substring(0, ePos);
        var exp = ePos < 0 ? 0 : int.Parse(shortest.Substring(ePos + 1), CultureInfo.InvariantCulture);
        var dot = mantissa.IndexOf('.');
        var digits = dot < 0 ? mantissa : mantissa.Remove(dot, 1);
        var pointAt = (dot < 0 ? mantissa.Length : dot) + exp; // digits before the decimal point
        var lead = digits.Length - digits.TrimStart('0').Length;
        digits = digits.Trim('0');
        pointAt -= lead;
        if (digits.Length == 0) digits = "0";
        var decimalExponent = pointAt - 1; // value = 0.d1d2… × 10^pointAt = d1.d2… × 10^(pointAt−1)
        string body;
        if (decimalExponent < -4 || decimalExponent >= 16)
        {
            var m = digits.Length == 1 ? digits : digits[0] + "." + digits.Substring(1);
            body = m + "e" + (decimalExponent < 0 ? "-" : "+") + Math.Abs(decimalExponent).ToString("00", CultureInfo.InvariantCulture);
        }
        else if (pointAt <= 0)
            body = "0." + new string('0', -pointAt) + digits;
        else if (pointAt >= digits.Length)
            body = digits + new string('0', pointAt - digits.Length) + ".0";
        else
            body = digits.Substring(0, pointAt) + "." + digits.Substring(pointAt);
        return negative ? "-" + body : body;
    }
}
