//#if (isLlamaSharp)
using System;
using System.Collections.Generic;
using System.Linq;
using LLama;
using LLama.Common;
using LLama.Native;

namespace LoraKitApp;

/// <summary>
/// The app's answers through LLamaSharp (llama.cpp) from the files `lorakit export gguf` writes: the base model and
/// the trained adapter as llama.cpp's LoRA GGUF, applied by llama.cpp itself. No TorchSharp runs here. Greedy decoding,
/// as `lorakit generate` does by default.
/// </summary>
public sealed class GgufChat : IDisposable
{
    private readonly LLamaWeights _weights;
    private readonly LLamaContext _context;

    /// <param name="exact">An F32 KV cache and no flash attention: llama.cpp's defaults (F16 cache, flash attention on
    /// the CPU) move logits by ~1e-3, enough to flip a near-tie late in a greedy answer.</param>
    public GgufChat(string modelFile, string? adapterFile, uint contextSize = 512, int threads = 1, bool exact = false)
    {
        var parameters = new ModelParams(modelFile) { ContextSize = contextSize, GpuLayerCount = 0, Threads = threads, BatchThreads = threads };
        if (exact)
        {
            parameters.TypeK = GGMLType.GGML_TYPE_F32;
            parameters.TypeV = GGMLType.GGML_TYPE_F32;
            parameters.FlashAttention = false;
        }
        _weights = LLamaWeights.LoadFromFile(parameters);
        _context = _weights.CreateContext(parameters);
        if (adapterFile is not null)
        {
            var adapter = _weights.NativeHandle.LoadLoraFromFile(adapterFile);
            _context.NativeHandle.SetLoraAdapters(new[] { (adapter, 1f) });
        }
    }

    /// <summary>The prompt's ids as llama.cpp tokenizes them (BOS as the file says).</summary>
    public int[] Tokenize(string prompt) => _context.Tokenize(prompt, addBos: true, special: true).Select(t => (int)t).ToArray();

    /// <summary>Streams the greedy continuation of <paramref name="prompt"/> as text, up to <paramref name="maxNewTokens"/> tokens or an end-of-generation token.</summary>
    public IEnumerable<string> Generate(string prompt, int maxNewTokens = 64)
    {
        var decoder = new StreamingTokenDecoder(_context);
        foreach (var id in GenerateIds(Tokenize(prompt), maxNewTokens))
        {
            if (((LLamaToken)id).IsEndOfGeneration(_weights.Vocab)) yield break;
            decoder.Add(id);
            yield return decoder.Read();
        }
    }

    /// <summary>The greedy continuation's ids (the end-of-generation id included when reached).</summary>
    public IEnumerable<int> GenerateIds(IReadOnlyList<int> promptIds, int maxNewTokens) =>
        Greedy(_context, promptIds, maxNewTokens, id => ((LLamaToken)id).IsEndOfGeneration(_weights.Vocab));

    /// <summary>
    /// Greedy decoding in a llama.cpp context: the prompt in one batch (logits of its last position only), then one
    /// token at a time; yields each new id and stops after one <paramref name="stop"/> accepts, or after <paramref name="maxNewTokens"/>.
    /// </summary>
    public static IEnumerable<int> Greedy(LLamaContext context, IReadOnlyList<int> promptIds, int maxNewTokens, Func<int, bool> stop)
    {
        context.NativeHandle.MemoryClear(true);
        var batch = new LLamaBatch();
        for (var i = 0; i < promptIds.Count; i++) batch.Add(promptIds[i], i, LLamaSeqId.Zero, i == promptIds.Count - 1);
        for (var n = 0; n < maxNewTokens; n++)
        {
            if (context.Decode(batch) != DecodeResult.Ok) throw new InvalidOperationException("llama.cpp could not decode the prompt (is it longer than the context?)");
            var logits = context.NativeHandle.GetLogitsIth(batch.TokenCount - 1);
            var next = 0;
            for (var v = 1; v < logits.Length; v++) if (logits[v] > logits[next]) next = v;
            yield return next;
            if (stop(next)) yield break;
            batch.Clear();
            batch.Add(next, promptIds.Count + n, LLamaSeqId.Zero, true);
        }
    }

    public void Dispose()
    {
        _context.Dispose();
        _weights.Dispose();
    }
}
//#endif
