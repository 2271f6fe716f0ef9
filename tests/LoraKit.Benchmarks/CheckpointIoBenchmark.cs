using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using LoraKit.SafeTensors;
using TorchSharp;
using static TorchSharp.torch;

namespace LoraKit.Benchmarks;

/// <summary>
/// Loading a ~1 GB safetensors checkpoint into TorchSharp tensors, against a plain sequential read of
/// the same file into memory (the physical floor for "bytes from the file into RAM"). Target ≤ 1.5×.
/// Both run with a warm page cache (the file was just written and read), median of several rounds.
/// </summary>
internal static class CheckpointIoBenchmark
{
    public static void Run(string[] args)
    {
        var megabytes = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 1024;
        var rounds = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 5;
        var dir = Path.Combine(Path.GetTempPath(), "lorakit-bench-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, "model.safetensors");
        try
        {
            // 4 MiB tensors (1024×1024 F32), like a model's weight matrices.
            var count = megabytes / 4;
            var tensors = Enumerable.Range(0, count)
                .Select(i => new KeyValuePair<string, Tensor>($"model.layers.{i}.weight", torch.full(new long[] { 1024, 1024 }, (float)i)))
                .ToList();
            // Writes: SafeTensorsWriter (temp file, flushed to disk, renamed over) against a raw write of
            // as many bytes with the same flush; five rounds, the order alternating (this VM's disk has
            // `discard` on, so freeing the previous file slows whichever write comes next).
            var rawWritePath = Path.Combine(dir, "raw.bin");
            var writes = new List<double>();
            var rawWrites = new List<double>();
            SafeTensorsWriter.Write(path, tensors);
            // Non-zero bytes: a virtual disk may treat all-zero blocks specially (zero detection, discard).
            var source = GC.AllocateUninitializedArray<byte>(checked((int)new FileInfo(path).Length));
            new Random(1).NextBytes(source);
            for (var r = 0; r < 5; r++)
            {
                if (r % 2 == 0) writes.Add(Time(() => SafeTensorsWriter.Write(path, tensors)));
                rawWrites.Add(Time(() => RawWrite(rawWritePath, source)));
                File.Delete(rawWritePath);
                if (r % 2 == 1) writes.Add(Time(() => SafeTensorsWriter.Write(path, tensors)));
            }
            foreach (var t in tensors) t.Value.Dispose();
            var bytes = new FileInfo(path).Length;
            // Best of five: single flushed writes on this VM's disk vary 0.4–1.7 s for the same bytes.
            var writeBest = writes.Min();
            var rawWriteBest = rawWrites.Min();

            var raw = new List<double>();
            var load = new List<double>();
            RawRead(path); // warm the page cache
            for (var r = 0; r < rounds; r++)
            {
                raw.Add(Time(() => RawRead(path)));
                load.Add(Time(() => LoadAll(path)));
            }
            var rawMedian = Median(raw);
            var loadMedian = Median(load);
            var gib = bytes / (1024.0 * 1024 * 1024);
            Console.WriteLine($"## Checkpoint I/O ({bytes / (1024 * 1024)} MiB safetensors, {count} tensors, median of {rounds}, warm page cache)");
            Console.WriteLine();
            Console.WriteLine("| operation | time (s) | GiB/s | ratio to raw read |");
            Console.WriteLine("|---|---|---|---|");
            Console.WriteLine($"| raw sequential read into a byte[] | {rawMedian:0.000} | {gib / rawMedian:0.00} | 1.00 |");
            Console.WriteLine($"| SafeTensorsCheckpoint load of every tensor | {loadMedian:0.000} | {gib / loadMedian:0.00} | {loadMedian / rawMedian:0.00} |");
            Console.WriteLine($"| raw sequential write of as many bytes, flushed to disk (best of 5) | {rawWriteBest:0.000} | {gib / rawWriteBest:0.00} | write reference 1.00 |");
            Console.WriteLine($"| SafeTensorsWriter, atomic (temp file, flush, rename; best of 5) | {writeBest:0.000} | {gib / writeBest:0.00} | {writeBest / rawWriteBest:0.00}× the raw write |");
            Console.WriteLine();
            Console.WriteLine($"target: load ≤ 1.5× raw read — {(loadMedian / rawMedian <= 1.5 ? "met" : "MISSED")}");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static void RawRead(string path)
    {
        var length = new FileInfo(path).Length;
        var buffer = GC.AllocateUninitializedArray<byte>(checked((int)Math.Min(length, int.MaxValue - 64)));
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        var total = 0;
        while (total < buffer.Length)
        {
            var n = stream.Read(buffer, total, buffer.Length - total);
            if (n == 0) break;
            total += n;
        }
        GC.KeepAlive(buffer);
    }

    /// <summary>Writes <paramref name="source"/> (as large as the file, so, like the tensors, not cache-hot) in 1 MiB pieces and flushes it to disk.</summary>
    private static void RawWrite(string path, byte[] source)
    {
        using var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20);
        for (var written = 0; written < source.Length; written += 1 << 20)
            stream.Write(source, written, Math.Min(1 << 20, source.Length - written));
        stream.Flush(flushToDisk: true);
    }

    private static void LoadAll(string path)
    {
        using var checkpoint = SafeTensorsCheckpoint.Open(path);
        foreach (var name in checkpoint.Names)
        {
            using var t = checkpoint.Load(name);
        }
    }

    private static double Time(Action action)
    {
        GC.Collect();
        var sw = Stopwatch.StartNew();
        action();
        return sw.Elapsed.TotalSeconds;
    }

    private static double Median(List<double> values)
    {
        var sorted = values.OrderBy(v => v).ToArray();
        return sorted[sorted.Length / 2];
    }
}
