using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using LoraKit.Data;
using LoraKit.Inference;
using LoraKit.Lora;
using LoraKit.Models;
using LoraKit.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace LoraKit.Benchmarks;

/// <summary>
/// Generation and evaluation speed on the CPU (fp32), all ratios from one run:
/// - greedy generation tokens/s with the KV cache vs recomputing the sequence every token (16-token prompt);
/// - per-token decode time with the cache at 512 tokens of context ÷ at 64 (goal ≤ 1.5×: the cache makes a
///   token's cost nearly independent of the context);
/// - eval tokens/s (no gradients) vs the training step's forward alone (autograd on, LoRA r=8 on q,v).
/// Models: the builtin shape and a SmolLM2-135M-shaped one (random weights: speed does not depend on them).
/// </summary>
internal static class InferenceBenchmark
{
    public static void Run(string[] args)
    {
        var newTokens = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 32;
        var inv = CultureInfo.InvariantCulture;
        torch.manual_seed(1);
        Console.WriteLine($"## Generation and evaluation (fp32 CPU, {Environment.ProcessorCount} cores; {newTokens} new tokens, greedy)");
        Console.WriteLine();
        Console.WriteLine("| model | measurement | value | ratio | target |");
        Console.WriteLine("|---|---|---|---|---|");
        foreach (var (name, dims) in new[] { ("builtin", Preset(ModelPresets.Builtin)), ("SmolLM2-135M shape", Preset("smollm2-135m")) })
        {
            using var lm = LlamaForCausalLM.Create(dims, seed: 1);
            using var model = new LoraKitModel(lm, new IdTokenizer(dims.VocabSize), eosTokenIds: Array.Empty<int>(), name: name);
            var prompt = Enumerable.Range(0, 16).Select(i => (i * 37) % Math.Min(dims.VocabSize, 256)).ToArray();
            model.GenerateTokens(prompt, new GenerationOptions { MaxNewTokens = 4 }); // warm-up
            var cached = TokensPerSecond(model, prompt, newTokens, cache: true);
            var uncached = TokensPerSecond(model, prompt, newTokens, cache: false);
            Console.WriteLine(string.Create(inv, $"| {name} | generation with KV cache | {cached:0.0} tokens/s | {cached / uncached:0.00}× without | > 1 |"));
            Console.WriteLine(string.Create(inv, $"| {name} | generation without cache (whole sequence per token) | {uncached:0.0} tokens/s | | |"));

            var at64 = DecodeSeconds(lm, 64, dims.VocabSize);
            var at512 = DecodeSeconds(lm, 512, dims.VocabSize);
            Console.WriteLine(string.Create(inv, $"| {name} | decode time per token with the cache, 512 ÷ 64 tokens of context | {at512 * 1e3:0.00} ms ÷ {at64 * 1e3:0.00} ms | {at512 / at64:0.00}× | ≤ 1.5× |"));

            var (evalRate, forwardRate) = EvalVsTrainingForward(model, dims);
            Console.WriteLine(string.Create(inv, $"| {name} | eval (no gradients) vs the training step's forward (autograd, LoRA r=8 q,v), 8 × 128 tokens | {evalRate:0} vs {forwardRate:0} tokens/s | {evalRate / forwardRate:0.00}× | ≥ 1 |"));
        }
    }

    private static LlamaDimensions Preset(string name) =>
        ModelPresets.TryGet(name, out var d) ? d : throw new InvalidOperationException($"no preset {name}");

    private static double TokensPerSecond(LoraKitModel model, int[] prompt, int newTokens, bool cache)
    {
        var options = new GenerationOptions { MaxNewTokens = newTokens, UseCache = cache };
        var clock = Stopwatch.StartNew();
        var result = model.GenerateTokens(prompt, options);
        return result.NewIds.Count / clock.Elapsed.TotalSeconds;
    }

    /// <summary>Median seconds of one cached decode step after a prefill of <paramref name="context"/> tokens.</summary>
    private static double DecodeSeconds(LlamaForCausalLM model, int context, long vocab)
    {
        using var noGrad = torch.no_grad();
        using var cache = model.NewCache(context + 32);
        using (var prompt = torch.randint(0, Math.Min(vocab, 256), new long[] { 1, context }))
        using (model.forward(prompt, cache)) { }
        var times = new List<double>();
        using var next = torch.tensor(new long[] { 7 }, new long[] { 1, 1 });
        for (var i = 0; i < 24; i++)
        {
            var clock = Stopwatch.StartNew();
            using (var logits = model.forward(next, cache)) logits.argmax(-1).Dispose();
            times.Add(clock.Elapsed.TotalSeconds);
        }
        times.Sort();
        return times[times.Count / 2];
    }

    /// <summary>Tokens/s of <see cref="LoraKitModel.Evaluate(EncodedExamples, string?)"/> and of the LoRA model's training forward (with loss) on the same 8 rows.</summary>
    private static (double Eval, double Forward) EvalVsTrainingForward(LoraKitModel model, LlamaDimensions dims)
    {
        const int rows = 8, length = 128;
        var random = new Random(3);
        var encoded = new EncodedExamples(Enumerable.Range(0, rows).Select(r =>
        {
            var ids = Enumerable.Range(0, length).Select(_ => (long)random.Next(0, 256)).ToArray();
            return new EncodedExample(r + 1, ids, ids.ToArray(), false);
        }).ToList(), length);
        var injection = LoraInjector.Inject(model.Model, new LoraConfig { Rank = 8, Alpha = 16, TargetModules = new[] { "q_proj", "v_proj" } }, "bench");
        using var ids = torch.tensor(encoded.Rows.SelectMany(r => r.Ids).ToArray(), new long[] { rows, length });
        double EvalOnce()
        {
            var clock = Stopwatch.StartNew();
            model.Evaluate(encoded, injection.AdapterName);
            return clock.Elapsed.TotalSeconds;
        }
        double ForwardOnce()
        {
            model.Model.train();
            var clock = Stopwatch.StartNew();
            using (var loss = model.Model.Loss(ids, ids)) loss.item<float>();
            return clock.Elapsed.TotalSeconds;
        }
        // Warm both up, then alternate them (one of each per round) and take each one's median: measured one after
        // the other, the first loop paid the process's warm-up (it read 0.21–0.72× for eval on the builtin model).
        for (var i = 0; i < 2; i++) { EvalOnce(); ForwardOnce(); }
        const int rounds = 9;
        var evalTimes = new double[rounds];
        var forwardTimes = new double[rounds];
        for (var i = 0; i < rounds; i++)
        {
            evalTimes[i] = EvalOnce();
            forwardTimes[i] = ForwardOnce();
        }
        var eval = rows * length / evalTimes.OrderBy(t => t).ElementAt(rounds / 2);
        var forward = rows * length / forwardTimes.OrderBy(t => t).ElementAt(rounds / 2);
        model.Model.eval();
        return (eval, forward);
    }

    /// <summary>A stand-in tokenizer for random-weight models of any vocabulary: each id decodes to one letter.</summary>
    private sealed class IdTokenizer(int vocab) : ILoraTokenizer
    {
        public string Name => "ids";
        public int VocabSize => vocab;
        public int? BosId => null;
        public int? EosId => null;
        public int? PadId => null;
        public bool AddBos => false;
        public int[] Encode(string text) => text.Select(c => c % vocab).ToArray();
        public IReadOnlyList<TokenSpan> EncodeWithOffsets(string text) => text.Select((c, i) => new TokenSpan(c % vocab, i, i + 1)).ToArray();
        public string Decode(IReadOnlyList<int> ids) => new(ids.Select(i => (char)('a' + i % 26)).ToArray());
    }
}
