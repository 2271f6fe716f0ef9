using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using LoraKit.Lora;
using LoraKit.Modeling;
using LoraKit.Quantization;
using LoraKit.SafeTensors;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace LoraKit.Tests.Quantization;

/// <summary>
/// The bitsandbytes 4-bit checkpoint format, both ways: <c>lorakit quantize</c>'s writer checked against an
/// independent computation from the fixture's rules and tables (this file's <see cref="Rules"/>), and the reader
/// checked by the loss the independently dequantized weights give.
/// </summary>
public class Nf4CheckpointTests
{
    private static readonly string[] DecoderLinears = { "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj" };

    private static IEnumerable<string> QuantizedNames() =>
        Enumerable.Range(0, 3).SelectMany(i => DecoderLinears.Select(l => $"model.layers.{i}.{l}.weight"));

    /// <summary>The rules of tables.json / the fixture README, written out plainly for the test.</summary>
    private static class Rules
    {
        private static readonly float[] Mid = Nf4Fixture.TableFloats("midpoints_float32_default_backend");
        private static readonly float[] Map = Nf4Fixture.TableFloats("dynamic_map_8bit");
        public static readonly float[] Code = Nf4Fixture.TableFloats("nf4_code");

        public static (byte[] Packed, float[] Absmax) Quantize(float[] x)
        {
            var blocks = (x.Length + 63) / 64;
            var absmax = new float[blocks];
            var q = new List<byte>();
            for (var b = 0; b < blocks; b++)
            {
                var block = x.Skip(b * 64).Take(64).ToArray();
                absmax[b] = block.Max(MathF.Abs);
                var inv = 1f / absmax[b];
                q.AddRange(block.Select(v => (byte)Mid.Count(m => m < Math.Clamp(v * inv, -1f, 1f))));
            }
            if (q.Count % 2 == 1) q.Add(7);
            return (Enumerable.Range(0, q.Count / 2).Select(i => (byte)(q[2 * i] << 4 | q[2 * i + 1])).ToArray(), absmax);
        }

        /// <summary>
        /// absmax − mean in blocks of 256, argmin over the 8-bit map (first index on ties). The mean is torch's float32
        /// mean, the very call bitsandbytes makes (<c>offset = absmax.mean()</c>): its summation order is part of the
        /// result (a correctly rounded mean differs by one ulp on some of these weights).
        /// </summary>
        public static (byte[] Codes, float[] Nested, float Offset) DoubleQuantize(float[] absmax)
        {
            float offset;
            using (var t = torch.tensor(absmax))
            using (var mean = t.mean())
                offset = mean.item<float>();
            var c = absmax.Select(a => a - offset).ToArray();
            var nested = new float[(c.Length + 255) / 256];
            var codes = new byte[c.Length];
            for (var b = 0; b < nested.Length; b++)
            {
                var block = c.Skip(b * 256).Take(256).ToArray();
                nested[b] = block.Max(MathF.Abs);
                var inv = 1f / nested[b];
                for (var i = 0; i < block.Length; i++)
                {
                    var s = Math.Clamp(block[i] * inv, -1f, 1f);
                    var best = 0;
                    for (var j = 1; j < Map.Length; j++)
                        if (MathF.Abs(s - Map[j]) < MathF.Abs(s - Map[best])) best = j;
                    codes[b * 256 + i] = (byte)best;
                }
            }
            return (codes, nested, offset);
        }

        public static float[] Dequantize(byte[] packed, float[] absmax, int n) =>
            Enumerable.Range(0, n).Select(i => Code[(i % 2 == 0 ? packed[i / 2] >> 4 : packed[i / 2] & 15)] * absmax[i / 64]).ToArray();

        public static float[] DequantizeAbsmax(byte[] codes, float[] nested, float offset) =>
            codes.Select((c, i) => Map[c] * nested[i / 256] + offset).ToArray();
    }

    private static float[] Floats(ReadOnlySpan<byte> bytes)
    {
        var result = new float[bytes.Length / 4];
        System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(bytes).CopyTo(result);
        return result;
    }

    private static Tensor Batch()
    {
        using var g = new Generator(77, CPU);
        return torch.randint(0, 300, new long[] { 2, 12 }, generator: g);
    }

    private static float Loss(LlamaForCausalLM model)
    {
        model.eval();
        using var ids = Batch();
        using var _ = no_grad();
        using var loss = model.Loss(ids, ids);
        return loss.item<float>();
    }

    [Fact]
    public void Quantize_writes_bitsandbytes_tensors_quant_state_and_config()
    {
        using var temp = new TempFolder();
        var output = temp.File("q");
        var quantized = Nf4Checkpoint.Quantize(Nf4Fixture.TinyLlama, output);
        Assert.Equal(QuantizedNames().OrderBy(n => n, StringComparer.Ordinal), quantized.OrderBy(n => n, StringComparer.Ordinal));

        using var source = SafeTensorsFile.Open(Path.Combine(Nf4Fixture.TinyLlama, "model.safetensors"));
        using var file = SafeTensorsFile.Open(Path.Combine(output, "model.safetensors"));
        foreach (var name in QuantizedNames())
        {
            var shape = source.Info(name).Shape;
            var (packed, absmax) = Rules.Quantize(Floats(source.GetBytes(name)));
            var (codes, nested, offset) = Rules.DoubleQuantize(absmax);
            Assert.Equal(new[] { packed.Length, 1L }, file.Info(name).Shape);
            Assert.Equal(SafeTensorDType.U8, file.Info(name).DType);
            Assert.Equal(packed, file.GetBytes(name).ToArray());
            Assert.Equal(codes, file.GetBytes(name + ".absmax").ToArray());
            Assert.Equal(SafeTensorDType.U8, file.Info(name + ".absmax").DType);
            Assert.Equal(nested, Floats(file.GetBytes(name + ".nested_absmax")));
            Assert.Equal(Rules.Code, Floats(file.GetBytes(name + ".quant_map")));
            Assert.Equal(Nf4Fixture.TableFloats("dynamic_map_8bit"), Floats(file.GetBytes(name + ".nested_quant_map")));
            var state = Encoding.UTF8.GetString(file.GetBytes(name + ".quant_state.bitsandbytes__nf4"));
            Assert.Equal($"{{\"quant_type\": \"nf4\", \"blocksize\": 64, \"dtype\": \"float32\", \"shape\": [{shape[0]}, {shape[1]}], " +
                         $"\"nested_blocksize\": 256, \"nested_dtype\": \"float32\", \"nested_offset\": {PythonRepr(offset)}}}", state);
        }
        // Everything else is stored unchanged.
        foreach (var info in source.Tensors.Where(t => !QuantizedNames().Contains(t.Name)))
            Assert.Equal(source.GetBytes(info.Name).ToArray(), file.GetBytes(info.Name).ToArray());
        Assert.Equal(QuantizedNames().Count() * 6 + source.Tensors.Count - QuantizedNames().Count(), file.Tensors.Count);

        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "config.json")));
        var q = config.RootElement.GetProperty("quantization_config");
        Assert.Equal("bitsandbytes", q.GetProperty("quant_method").GetString());
        Assert.True(q.GetProperty("load_in_4bit").GetBoolean());
        Assert.Equal("nf4", q.GetProperty("bnb_4bit_quant_type").GetString());
        Assert.True(q.GetProperty("bnb_4bit_use_double_quant").GetBoolean());
        Assert.Equal("bfloat16", q.GetProperty("bnb_4bit_compute_dtype").GetString());
        Assert.Equal("uint8", q.GetProperty("bnb_4bit_quant_storage").GetString());
        Assert.Equal(64, config.RootElement.GetProperty("hidden_size").GetInt32());
        Assert.True(File.Exists(Path.Combine(output, "tokenizer.json")));
        Assert.True(Nf4Checkpoint.IsQuantized(output));
        Assert.False(Nf4Checkpoint.IsQuantized(Nf4Fixture.TinyLlama));
    }

    /// <summary>Python's repr of the float32 offset's double, from .NET's shortest round-trip form (plain decimals here).</summary>
    private static string PythonRepr(float offset) => ((double)offset).ToString("R", System.Globalization.CultureInfo.InvariantCulture);

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_bitsandbytes_checkpoint_loads_and_gives_the_loss_of_its_dequantized_weights(bool doubleQuant)
    {
        using var temp = new TempFolder();
        var output = temp.File("q");
        Nf4Checkpoint.Quantize(Nf4Fixture.TinyLlama, output, new Nf4QuantizeOptions { DoubleQuant = doubleQuant });

        // Independent: every quantized weight dequantized by the rules, into a plain float32 model.
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        using (var file = SafeTensorsFile.Open(Path.Combine(output, "model.safetensors")))
        {
            foreach (var info in file.Tensors)
            {
                if (info.Name.Contains(".weight.", StringComparison.Ordinal)) continue;
                if (!QuantizedNames().Contains(info.Name))
                {
                    tensors[info.Name] = file.Load(info.Name);
                    continue;
                }
                var shape = JsonDocument.Parse(Encoding.UTF8.GetString(file.GetBytes(info.Name + ".quant_state.bitsandbytes__nf4"))).RootElement.GetProperty("shape")
                    .EnumerateArray().Select(e => e.GetInt64()).ToArray();
                float[] absmax;
                if (doubleQuant)
                {
                    var offset = (float)JsonDocument.Parse(Encoding.UTF8.GetString(file.GetBytes(info.Name + ".quant_state.bitsandbytes__nf4"))).RootElement.GetProperty("nested_offset").GetDouble();
                    absmax = Rules.DequantizeAbsmax(file.GetBytes(info.Name + ".absmax").ToArray(), Floats(file.GetBytes(info.Name + ".nested_absmax")), offset);
                }
                else absmax = Floats(file.GetBytes(info.Name + ".absmax"));
                tensors[info.Name] = torch.tensor(Rules.Dequantize(file.GetBytes(info.Name).ToArray(), absmax, (int)(shape[0] * shape[1]))).reshape(shape);
            }
        }
        using var plain = new LlamaForCausalLM(LoraKit.Models.HfConfig.Load(Path.Combine(Nf4Fixture.TinyLlama, "config.json")));
        plain.LoadHfStateDict(tensors);
        foreach (var t in tensors.Values) t.Dispose();
        var expected = Loss(plain);

        using var model = Nf4Checkpoint.Load(output, dtype: ScalarType.Float32, computeDtype: ScalarType.Float32);
        Assert.Equal(21, model.modules().Count(m => m is Nf4Linear));
        Assert.IsNotType<Nf4Linear>(model.lm_head);
        Assert.InRange(Loss(model) - expected, -1e-4, 1e-4);

        // The other way in: quantize on load from the 16/32-bit checkpoint.
        using var onLoad = Nf4Checkpoint.LoadQuantized(Nf4Fixture.TinyLlama, dtype: ScalarType.Float32, computeDtype: ScalarType.Float32);
        if (!doubleQuant) Assert.Equal(Loss(model), Loss(onLoad)); // the same bytes and absmax: the same loss
        using var full = HfCheckpoint.Load(Nf4Fixture.TinyLlama);
        Assert.NotEqual(Loss(full), Loss(onLoad)); // and it really is the 4-bit model
    }

    [Fact]
    public void Merge_folds_the_adapter_into_the_dequantized_base_never_a_requantized_one()
    {
        using var temp = new TempFolder();
        using var model = Nf4Checkpoint.LoadQuantized(Nf4Fixture.TinyLlama, dtype: ScalarType.Float32, computeDtype: ScalarType.Float32);
        LoraInjector.Inject(model, new LoraConfig { Rank = 4, Alpha = 8, TargetModules = new[] { "q_proj", "v_proj" }, InitWeights = LoraInitWeights.Random });
        var adapted = Loss(model);
        Assert.Throws<InvalidOperationException>(() => LoraInjector.Merge(model));
        Assert.Throws<InvalidOperationException>(() => HfCheckpoint.Save(model, temp.File("x")));

        Assert.Equal(21, Nf4Model.Dequantize(model, ScalarType.Float32).Count);
        Assert.False(Nf4Model.IsQuantized(model));
        LoraInjector.Merge(model);
        HfCheckpoint.Save(model, temp.File("merged"));
        using var merged = HfCheckpoint.Load(temp.File("merged"));
        Assert.InRange(Loss(merged) - adapted, -1e-4, 1e-4);
    }

    [Fact]
    public void A_missing_quant_state_tensor_or_a_quantized_source_is_a_clear_error()
    {
        using var temp = new TempFolder();
        var output = temp.File("q");
        Nf4Checkpoint.Quantize(Nf4Fixture.TinyLlama, output);
        var refused = Assert.Throws<Nf4FormatException>(() => Nf4Checkpoint.Quantize(output, temp.File("again")));
        Assert.Contains("quantization_config", refused.Message);

        // Drop one nested_absmax from the file.
        var path = Path.Combine(output, "model.safetensors");
        var missing = "model.layers.1.mlp.up_proj.weight.nested_absmax";
        List<SafeTensorEntry> entries;
        using (var file = SafeTensorsFile.Open(path))
            entries = file.Tensors.Where(t => t.Name != missing).Select(t => new SafeTensorEntry(t.Name, t.DType, t.Shape, file.GetBytes(t.Name).ToArray())).ToList();
        SafeTensorsWriter.Write(path, entries);
        var error = Assert.Throws<Nf4FormatException>(() => Nf4Checkpoint.Load(output));
        Assert.Contains(missing, error.Message);
    }
}
