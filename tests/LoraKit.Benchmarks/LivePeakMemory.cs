using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using LoraKit.Training;
using static TorchSharp.torch;

namespace LoraKit.Benchmarks;

/// <summary>
/// The one way the benchmarks measure the live peak memory of training on a CPU: each case runs in its own
/// process (<see cref="Measure"/> starts it, <see cref="RunChild"/> is its body); the figure is that process's
/// peak RSS while it trains minus the RSS it had once libtorch was loaded and warm (the runtime's fixed cost,
/// which the estimate leaves to <see cref="Memory.MemoryOptions.OverheadBytes"/>).
/// </summary>
internal static class LivePeakMemory
{
    /// <summary>
    /// glibc's malloc serves blocks below its (self-raising, up to 32 MiB) mmap threshold from the heap and
    /// keeps them when freed, so a CPU run's peak RSS also counts freed activation blocks it could not reuse.
    /// A fixed low threshold makes every tensor-sized block an mmap that is returned on free: RSS then
    /// tracks the live tensors — what the estimate (and a GPU's caching allocator) is about.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string> LiveTensors = new Dictionary<string, string> { ["MALLOC_MMAP_THRESHOLD_"] = "65536" };

    /// <summary>What one child measured: the warm runtime's RSS, the peak while building the model, the RSS once built, the peak while training.</summary>
    public sealed record Reading(long BaselineBytes, long BuildPeakBytes, long BuiltBytes, long TrainPeakBytes)
    {
        /// <summary>Peak while training (model, LoRA state, activations, logits) above the warm runtime.</summary>
        public long Live => TrainPeakBytes - BaselineBytes;

        /// <summary>What the built model holds before training (its weights, LoRA weights) above the warm runtime.</summary>
        public long Resident => BuiltBytes - BaselineBytes;

        /// <summary>Peak while the model was built (e.g. a 16/32-bit model before it was quantized) above the warm runtime.</summary>
        public long Build => BuildPeakBytes - BaselineBytes;
    }

    /// <summary>Runs this benchmark program with <paramref name="childArgs"/> in a fresh process and reads what it measured.</summary>
    public static Reading Measure(IReadOnlyDictionary<string, string>? environment, params string[] childArgs)
    {
        var inv = CultureInfo.InvariantCulture;
        var output = TrainingStepBenchmark.RunSelf(environment, childArgs);
        var fields = output.Split('\n').First(l => l.StartsWith("rss ", StringComparison.Ordinal)).Split(' ');
        return new Reading(long.Parse(fields[1], inv), long.Parse(fields[2], inv), long.Parse(fields[3], inv), long.Parse(fields[4], inv));
    }

    /// <summary>
    /// Child-process body: warm the runtime (and run <paramref name="warmUp"/>, e.g. one step of a tiny model of the same
    /// kind, so the code the run loads and compiles counts as the runtime's fixed cost) and note its RSS, build what is
    /// measured (<paramref name="build"/> returns the training to run), reset the peak so the build's own peak does not
    /// count, train, print the four figures.
    /// </summary>
    public static void RunChild(Func<Action> build, Action? warmUp = null)
    {
        // Load libtorch, start its thread pool and touch the reduced-precision kernels before taking the baseline.
        using (var a = randn(256, 256))
        using (var b = a.matmul(a))
        using (var c = a.to_type(ScalarType.BFloat16))
        using (var d = c.matmul(c))
        {
        }
        warmUp?.Invoke();
        var baseline = CurrentRss();
        var train = build();
        var buildPeak = LoraTrainer.PeakMemoryBytes();
        var built = CurrentRss();
        ResetPeak();
        train();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"rss {baseline} {buildPeak} {built} {LoraTrainer.PeakMemoryBytes()}"));
    }

    /// <summary>Linux: writing 5 to /proc/self/clear_refs sets the peak RSS (VmHWM) back to the current RSS.</summary>
    private static void ResetPeak()
    {
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidOperationException($"cannot reset the peak RSS through /proc/self/clear_refs ({e.Message}); the memory benchmarks need Linux with /proc writable by the process", e);
        }
    }

    private static long CurrentRss()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                return long.Parse(line.Substring(6).Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
        throw new InvalidOperationException("no VmRSS in /proc/self/status (the memory benchmarks need Linux)");
    }

    public static string Mib(long bytes) => (bytes / 1048576.0).ToString("0", CultureInfo.InvariantCulture);
}
