using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using System.Threading;
using CsCheck;
using Xunit.Sdk;

namespace LoraKit.Tests.Hardening;

/// <summary>One edit of an input's UTF-8 bytes; <see cref="Position"/> is a fraction of the length, so it fits any input.</summary>
internal sealed record Mutation(string Kind, double Position, int Length, string Payload)
{
    public byte[] Apply(byte[] input)
    {
        var at = (int)(Position * input.Length);
        var end = Math.Min(input.Length, at + Length);
        var payload = Kind == "bytes" ? Convert.FromHexString(Payload) : Encoding.UTF8.GetBytes(Payload);
        return Kind switch
        {
            "insert" or "bytes" => [.. input[..at], .. payload, .. input[at..]],
            "delete" => [.. input[..at], .. input[end..]],
            "duplicate" => [.. input[..end], .. input[at..end], .. input[end..]],
            "replace" => [.. input[..at], .. payload, .. input[end..]],
            "truncate" => input[..at],
            "number" => ReplaceNextNumber(input, at, Payload),
            _ => throw new InvalidOperationException(Kind),
        };
    }

    /// <summary>The first JSON-ish number at or after <paramref name="at"/> replaced by <paramref name="number"/>.</summary>
    private static byte[] ReplaceNextNumber(byte[] input, int at, string number)
    {
        var start = Array.FindIndex(input, at, b => b is >= (byte)'0' and <= (byte)'9');
        if (start < 0) return input;
        var end = start;
        while (end < input.Length && (input[end] is >= (byte)'0' and <= (byte)'9' or (byte)'.' or (byte)'e' or (byte)'-')) end++;
        return [.. input[..start], .. Encoding.UTF8.GetBytes(number), .. input[end..]];
    }

    public override string ToString() => $"{Kind}@{Position:0.###}+{Length} {Payload}";
}

/// <summary>
/// The fuzzing contract of issue 25 — "clean error or correct acceptance, within a time and memory limit" — and the
/// mutations, drawn with CsCheck from a seeded PCG: the same seed gives the same inputs on every machine.
/// <c>LORAKIT_FUZZ_SEED</c> and <c>LORAKIT_FUZZ_ITERATIONS</c> (eng/fuzz.sh) run other seeds and more inputs.
/// </summary>
internal static class Fuzzing
{
    public static ulong Seed => ulong.TryParse(Environment.GetEnvironmentVariable("LORAKIT_FUZZ_SEED"), NumberStyles.None, CultureInfo.InvariantCulture, out var s) ? s : 25;

    public static int Iterations(int ciDefault) =>
        int.TryParse(Environment.GetEnvironmentVariable("LORAKIT_FUZZ_ITERATIONS"), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0 ? n : ciDefault;

    /// <summary>A hang detector, not a speed target (those live in eng/bench.sh): far above what any input takes.</summary>
    public static readonly TimeSpan HangLimit = TimeSpan.FromSeconds(60);

    /// <summary>What one input may allocate in total (garbage included) before it counts as running away with memory.</summary>
    public const long AllocationLimit = 2L << 30;

    // Text that breaks readers: escapes of lone surrogates, control characters, quotes, brackets, huge and odd numbers.
    private static readonly string[] JsonSnippets =
    {
        "\\ud800", "\\udc00", "\\ud83d\\ude00", "\\ud800\\u0041", "\\u0000", "\\", "\"", "{", "}", "[", "]", ",", ":", "null", "true",
        "1e999", "-0", "99999999999999999999999", "2147483648", "-2147483649", "1073741824", "\"text\": \"x\", ", "\"text\": 1, ",
        "\"role\": \"assistant\", ", "{\"a\": {\"a\": 1, \"a\": 2}}", "[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]", "\t", "\n", "\r\n", "é", "\u2028", "𝄞",
    };

    // Invalid UTF-8: a lone continuation byte, an overlong form, a surrogate encoded in UTF-8 (CESU), a truncated sequence.
    private static readonly string[] BadBytes = { "FF", "80", "C0AF", "EDA080", "F4908080", "E282", "FE", "00" };

    private static readonly string[] Numbers =
    {
        "0", "-1", "1", "3", "1073741824", "2147483647", "2147483648", "4294967296", "9007199254740993", "9223372036854775808",
        "1e308", "1e999", "-1e-999", "0.5", "65536", "1048577", "16777217",
    };

    public static Gen<Mutation> Mutations(IReadOnlyList<string> snippets) =>
        Gen.Frequency(
            (4, Gen.Select(Gen.Double[0, 1], Gen.OneOf(snippets.Concat(JsonSnippets).ToArray()), (p, s) => new Mutation("insert", p, 0, s))),
            (2, Gen.Select(Gen.Double[0, 1], Gen.Int[1, 40], (p, n) => new Mutation("delete", p, n, ""))),
            (1, Gen.Select(Gen.Double[0, 1], Gen.Int[1, 200], (p, n) => new Mutation("duplicate", p, n, ""))),
            (2, Gen.Select(Gen.Double[0, 1], Gen.Int[1, 8], Gen.OneOf(snippets.Concat(JsonSnippets).ToArray()), (p, n, s) => new Mutation("replace", p, n, s))),
            (3, Gen.Select(Gen.Double[0, 1], Gen.OneOf(Numbers), (p, s) => new Mutation("number", p, 0, s))),
            (1, Gen.Select(Gen.Double[0, 1], Gen.OneOf(BadBytes), (p, s) => new Mutation("bytes", p, 0, s))),
            (1, Gen.Double[0, 1].Select(p => new Mutation("truncate", p, 0, ""))));

    /// <summary>A base input and one to four mutations of it.</summary>
    public static Gen<(int Base, Mutation[] Edits)> Cases(int bases, IReadOnlyList<string> snippets) =>
        Gen.Select(Gen.Int[0, bases - 1], Mutations(snippets).Array[1, 4], (b, m) => (b, m));

    /// <summary>The inputs of one family, the same for the same seed: CsCheck's generators driven by a fixed PCG.</summary>
    public static IEnumerable<T> Draw<T>(Gen<T> gen, int count, uint family)
    {
        var pcg = new PCG(family, Seed);
        for (var i = 0; i < count; i++) yield return gen.Generate(pcg, null, out _);
    }

    /// <summary>
    /// Runs <paramref name="run"/> on its own thread (1 MiB of stack, as a small thread has) and holds it to the contract:
    /// it returns, or throws an exception <paramref name="clean"/> accepts whose message is one line naming the input
    /// (<paramref name="name"/>); within <see cref="HangLimit"/> and <see cref="AllocationLimit"/>. A failure message
    /// carries the seed, the case and the input, to be kept as a regression case.
    /// </summary>
    public static void Contract(string family, int index, string describe, byte[] input, string name, Action run, Func<Exception, bool> clean)
    {
        Exception? thrown = null;
        long allocated = 0;
        var thread = new Thread(() =>
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            try
            {
                run();
            }
            catch (Exception e)
            {
                thrown = e;
            }
            allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        }, 1 << 20) { IsBackground = true };
        thread.Start();
        string Where() => $"{family} case {index} (LORAKIT_FUZZ_SEED={Seed}): {describe}\ninput (base64, keep it in Fixtures/hostile/ as a regression case): {Convert.ToBase64String(input)}";
        if (!thread.Join(HangLimit)) throw new XunitException($"hung for {HangLimit.TotalSeconds} s: {Where()}");
        if (allocated > AllocationLimit) throw new XunitException($"allocated {allocated:N0} bytes: {Where()}");
        if (thrown is null) return;
        if (!clean(thrown)) throw new XunitException($"not a clean error ({thrown.GetType().Name}: {thrown.Message}): {Where()}\n{thrown}");
        var message = thrown.Message;
        if (!message.Contains(name, StringComparison.Ordinal))
            throw new XunitException($"the error does not name {name} ({message}): {Where()}");
        if (message.Contains("   at ", StringComparison.Ordinal))
            throw new XunitException($"the error carries a stack trace ({message}): {Where()}");
    }
}
