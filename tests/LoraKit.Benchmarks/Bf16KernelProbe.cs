using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using static TorchSharp.torch;

namespace LoraKit.Benchmarks;

/// <summary>
/// Why a bf16 base trains slower than an fp32 one on this CPU: the same linear (tokens × hidden by
/// intermediate, the model's largest layers) through libtorch as fp32, as bf16 in the layouts and thread
/// counts a runtime could choose, as fp16, and as "bf16 storage, fp32 compute" (upcast, then the fp32 kernel).
/// </summary>
internal static class Bf16KernelProbe
{
    /// <summary>One table: every kernel for each (tokens, in, out, all kernels?) shape; the short form times the forward and input-gradient layouts only.</summary>
    public static void Run(IEnumerable<(long Tokens, long InFeatures, long OutFeatures, bool AllKernels)> shapes)
    {
        var inv = CultureInfo.InvariantCulture;
        Console.WriteLine("### bf16 matmul through libtorch on this CPU (x [tokens, in] by W [out, in] as nn.Linear stores it, g [tokens, out] the output gradient; median of 3, fp32 of 5)");
        Console.WriteLine();
        Console.WriteLine("| tokens × in → out | kernel | ms | GFLOP/s | time ÷ fp32 linear |");
        Console.WriteLine("|---|---|---|---|---|");
        var threads = get_num_threads();
        foreach (var (m, inFeatures, outFeatures, all) in shapes)
        {
            var flop = 2.0 * m * inFeatures * outFeatures;
            using var x = randn(m, inFeatures);
            using var w = randn(outFeatures, inFeatures);
            using var g = randn(m, outFeatures);
            using var xb = x.to_type(ScalarType.BFloat16);
            using var wb = w.to_type(ScalarType.BFloat16);
            using var gb = g.to_type(ScalarType.BFloat16);
            using var wbT = wb.t().contiguous();
            using var xh = x.to_type(ScalarType.Float16);
            using var wh = w.to_type(ScalarType.Float16);
            var fp32 = Seconds(() => nn.functional.linear(x, w), 5);
            void Row(string name, double seconds) =>
                Console.WriteLine(string.Create(inv, $"| {m} × {inFeatures} → {outFeatures} | {name} | {seconds * 1e3:0.0} | {flop / seconds / 1e9:0.0} | {seconds / fp32:0.0}× |"));
            Row("fp32 linear(x, W) (MKL sgemm)", fp32);
            Row("bf16 linear(x, W)", Seconds(() => nn.functional.linear(xb, wb), 3));
            if (!all)
            {
                Row("fp32 g·W (input gradient)", Seconds(() => g.mm(w), 3));
                Row("bf16 g·W (input gradient)", Seconds(() => gb.mm(wb), 3));
                Row("bf16 g·(Wᵀ stored contiguous)ᵀ (input gradient, dot-product layout)", Seconds(() => gb.mm(wbT.t()), 3));
                continue;
            }
            Row("bf16 x·Wᵀ, Wᵀ stored contiguous [in, out]", Seconds(() => xb.mm(wbT), 3));
            Row("bf16 g·W (input gradient)", Seconds(() => gb.mm(wb), 3));
            set_num_threads(1);
            Row("bf16 linear(x, W), 1 thread", Seconds(() => nn.functional.linear(xb, wb), 3));
            set_num_threads(threads);
            Row("fp16 linear(x, W)", Seconds(() => nn.functional.linear(xh, wh), 3));
            Row("fp32 g·W (input gradient)", Seconds(() => g.mm(w), 3));
            Row("bf16 g·(Wᵀ stored contiguous)ᵀ (input gradient, dot-product layout)", Seconds(() => gb.mm(wbT.t()), 3));
            Row("bf16 stored, upcast to fp32, fp32 linear", Seconds(() =>
            {
                using var a = xb.to_type(ScalarType.Float32);
                using var b = wb.to_type(ScalarType.Float32);
                return nn.functional.linear(a, b);
            }, 3));
        }
    }

    private static double Seconds(Func<Tensor> f, int reps)
    {
        using (f()) { } // warm-up
        var times = new List<double>();
        for (var i = 0; i < reps; i++)
        {
            var sw = Stopwatch.StartNew();
            using (f()) { }
            times.Add(sw.Elapsed.TotalSeconds);
        }
        return QloraBenchmark.Median(times);
    }
}
