using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.Json;
using LLama;
using LLama.Native;
using LLama.Common;
using LoraKit.Data;
using LoraKit.Gguf;
using LoraKit.Inference;
using LoraKit.Modeling;
using LoraKit.Models;

namespace LoraKit.Benchmarks;

/// <summary>
/// GGUF export and llama.cpp decoding on a SmolLM2-135M-shaped model (random weights; a synthetic byte-level
/// tokenizer of its 49,152 ids), all ratios from one run, medians of interleaved rounds with their spread:
/// - export time (f32: read the checkpoint, convert, write) ÷ a raw write of the same number of bytes;
/// - greedy decode tokens/s of the exported Q8_0 file under LLamaSharp (llama.cpp b10221, CPU) ÷ LoraKit's own
///   generate (TorchSharp, fp32, KV cache) on the same CPU, prompt and thread (one each).
/// </summary>
internal static class GgufBenchmark
{
    public static void Run(string[] args)
    {
        var rounds = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 3;
        var newTokens = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 64;
        var inv = CultureInfo.InvariantCulture;
        var cpu = QloraBenchmark.CpuInfo.Read().Model;
        // One thread each: llama.cpp's thread pool spin-waits, and on a shared, oversubscribed machine two threads make
        // it tens of times slower; TorchSharp is held to the same single thread, so the ratio compares the engines.
        var threads = 1;
        TorchSharp.torch.set_num_threads(threads);
        var root = Path.Combine(Path.GetTempPath(), "lorakit-gguf-bench-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(root);
        try
        {
            var dims = ModelPresets.TryGet("smollm2-135m", out var d) ? d : throw new InvalidOperationException("no smollm2-135m preset");
            var folder = Path.Combine(root, "smollm2-shape");
            using (var model = LlamaForCausalLM.Create(dims, seed: 1)) HfCheckpoint.Save(model, folder);
            WriteTokenizer(folder, dims.VocabSize);

            var loadAverage = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "?";
            Console.WriteLine($"## GGUF export and llama.cpp decoding (SmolLM2-135M shape; {cpu}, {Environment.ProcessorCount} cores, load average {loadAverage}; decode on {threads} thread; {rounds} interleaved rounds, median [min–max])");
            Console.WriteLine();
            Console.WriteLine("| measurement | value | ratio |");
            Console.WriteLine("|---|---|---|");

            var export = new List<double>();
            var load = new List<double>();
            var raw = new List<double>();
            long bytes = 0;
            for (var r = 0; r < rounds; r++)
            {
                var file = Path.Combine(root, $"f32-{r}.gguf");
                var loading = Stopwatch.StartNew();
                HfCheckpoint.Load(folder).Dispose();
                load.Add(loading.Elapsed.TotalSeconds);
                var clock = Stopwatch.StartNew();
                GgufExporter.ExportBase(folder, file);
                export.Add(clock.Elapsed.TotalSeconds);
                bytes = new FileInfo(file).Length;
                File.Delete(file);
                raw.Add(RawWrite(Path.Combine(root, $"raw-{r}.bin"), bytes));
            }
            var exportRatios = export.Zip(raw, (e, w) => e / w).ToList();
            Console.WriteLine(string.Create(inv, $"| export f32 ({bytes / 1048576.0:0} MiB): read, convert, write | {Median(export):0.00} s [{export.Min():0.00}–{export.Max():0.00}] | {Median(exportRatios):0.0}× a raw write [{exportRatios.Min():0.0}–{exportRatios.Max():0.0}] |"));
            Console.WriteLine(string.Create(inv, $"| of which loading the checkpoint into LoraKit's model (HfCheckpoint.Load alone) | {Median(load):0.00} s [{load.Min():0.00}–{load.Max():0.00}] | |"));
            Console.WriteLine(string.Create(inv, $"| raw write of the same bytes (flushed to disk) | {Median(raw):0.00} s [{raw.Min():0.00}–{raw.Max():0.00}] | |"));

            NativeLibraryConfig.All.WithLogCallback((_, _) => { }); // llama.cpp's load log would fill the table
            var q8 = Path.Combine(root, "q8_0.gguf");
            GgufExporter.ExportBase(folder, q8, new GgufExportOptions { Type = GgufOutputType.Q8_0 });
            var prompt = Enumerable.Range(0, 16).Select(i => 1000 + i * 37).ToArray();
            using var lorakit = new LoraKitModel(HfCheckpoint.Load(folder), HfTokenizer.FromFolder(folder), eosTokenIds: Array.Empty<int>(), name: "smollm2-shape");
            var p = new ModelParams(q8) { ContextSize = 256, GpuLayerCount = 0, Threads = threads, BatchThreads = threads };
            using var weights = LLamaWeights.LoadFromFile(p);
            using var context = weights.CreateContext(p);
            lorakit.GenerateTokens(prompt, new GenerationOptions { MaxNewTokens = 4 }); // warm-up
            LlamaTokensPerSecond(context, prompt, 4);
            var llama = new List<double>();
            var own = new List<double>();
            for (var r = 0; r < rounds; r++)
            {
                llama.Add(LlamaTokensPerSecond(context, prompt, newTokens));
                var clock = Stopwatch.StartNew();
                var n = lorakit.GenerateTokens(prompt, new GenerationOptions { MaxNewTokens = newTokens }).NewIds.Count;
                own.Add(n / clock.Elapsed.TotalSeconds);
            }
            var decodeRatios = llama.Zip(own, (a, b) => a / b).ToList();
            Console.WriteLine(string.Create(inv, $"| greedy decode, Q8_0 GGUF in LLamaSharp ({newTokens} new tokens after 16) | {Median(llama):0.0} tokens/s [{llama.Min():0.0}–{llama.Max():0.0}] | {Median(decodeRatios):0.00}× LoraKit [{decodeRatios.Min():0.00}–{decodeRatios.Max():0.00}] |"));
            Console.WriteLine(string.Create(inv, $"| greedy decode, LoraKit generate (fp32 TorchSharp, KV cache) | {Median(own):0.0} tokens/s [{own.Min():0.0}–{own.Max():0.0}] | |"));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    /// <summary>Seconds to write <paramref name="bytes"/> bytes (1 MiB chunks) and flush them to disk, as the exporter's atomic write does.</summary>
    private static double RawWrite(string path, long bytes)
    {
        var chunk = new byte[1 << 20];
        new Random(1).NextBytes(chunk);
        var clock = Stopwatch.StartNew();
        using (var s = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
        {
            for (long done = 0; done < bytes; done += chunk.Length) s.Write(chunk, 0, (int)Math.Min(chunk.Length, bytes - done));
            s.Flush(flushToDisk: true);
        }
        var seconds = clock.Elapsed.TotalSeconds;
        File.Delete(path);
        return seconds;
    }

    private static double LlamaTokensPerSecond(LLamaContext context, int[] prompt, int newTokens)
    {
        var clock = Stopwatch.StartNew();
        var n = LoraKitApp.GgufChat.Greedy(context, prompt, newTokens, _ => false).Count();
        return n / clock.Elapsed.TotalSeconds;
    }

    /// <summary>A byte-level BPE tokenizer.json of <paramref name="vocab"/> ids: the 256 byte symbols, then filler tokens, no merges.</summary>
    private static void WriteTokenizer(string folder, int vocab)
    {
        var symbols = GgufVocabulary.ByteSymbols();
        var entries = new Dictionary<string, int>();
        for (var i = 0; i < vocab; i++) entries[i < 256 ? symbols[i] : $"tok{i}"] = i;
        var json = new Dictionary<string, object?>
        {
            ["version"] = "1.0",
            ["added_tokens"] = Array.Empty<object>(),
            ["normalizer"] = null,
            ["pre_tokenizer"] = new Dictionary<string, object> { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = true },
            ["post_processor"] = null,
            ["decoder"] = new Dictionary<string, object> { ["type"] = "ByteLevel", ["add_prefix_space"] = true, ["trim_offsets"] = true, ["use_regex"] = true },
            ["model"] = new Dictionary<string, object?> { ["type"] = "BPE", ["dropout"] = null, ["unk_token"] = null, ["byte_fallback"] = false, ["vocab"] = entries, ["merges"] = Array.Empty<string>() },
        };
        File.WriteAllText(Path.Combine(folder, "tokenizer.json"), JsonSerializer.Serialize(json));
        File.WriteAllText(Path.Combine(folder, "tokenizer_config.json"), $"{{\"eos_token\": \"tok{vocab - 1}\"}}");
    }

    private static double Median(IReadOnlyList<double> values) => QloraBenchmark.Median(values);
}
