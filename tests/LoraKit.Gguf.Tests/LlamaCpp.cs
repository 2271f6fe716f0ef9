using LLama;
using LLama.Common;
using LLama.Native;

namespace LoraKit.Gguf.Tests;

/// <summary>
/// The real llama.cpp (b10221, LLamaSharp 0.30.0's CPU backend) on a GGUF file: logits of every position for given
/// token ids, greedy continuation, and its own tokenizer. Set up for exact comparisons: F32 KV cache and flash
/// attention off (llama.cpp's defaults, an F16 cache and flash attention on the CPU, move logits by ~1e-3–7e-3).
/// </summary>
public sealed class LlamaCpp : IDisposable
{
    private static readonly object NativeLock = new();
    private static readonly System.Text.StringBuilder NativeLog = new();

    /// <summary>
    /// Routes llama.cpp's own log here, kept for failure messages (it says why a file or an adapter did not load).
    /// LLamaSharp takes configuration only before its native library loads, and tests that load it without this class
    /// (the template app's GgufChat) may run first: so this runs as the test assembly loads (a module initializer),
    /// not in a static constructor, which would have thrown for every later test of the run.
    /// </summary>
    [System.Runtime.CompilerServices.ModuleInitializer]
    internal static void ConfigureNativeLog()
    {
        NativeLibraryConfig.All.WithLogCallback((level, message) =>
        {
            lock (NativeLog) NativeLog.Append(message);
        });
    }

    /// <summary>The last lines of llama.cpp's log.</summary>
    public static string LogTail(int lines = 25)
    {
        lock (NativeLog)
        {
            var all = NativeLog.ToString().Split('\n');
            return string.Join("\n", all.Skip(Math.Max(0, all.Length - lines)));
        }
    }
    private readonly LLamaWeights _weights;
    private readonly LLamaContext _context;
    private readonly LoraAdapter? _adapter;

    public LlamaCpp(string model, string? lora = null, uint context = 256)
    {
        var p = new ModelParams(model)
        {
            ContextSize = context,
            BatchSize = context,
            UBatchSize = context,
            GpuLayerCount = 0,
            Threads = 1,
            BatchThreads = 1,
            TypeK = GGMLType.GGML_TYPE_F32,
            TypeV = GGMLType.GGML_TYPE_F32,
            FlashAttention = false,
        };
        lock (NativeLock)
        {
            try
            {
                _weights = LLamaWeights.LoadFromFile(p);
            }
            catch (Exception e)
            {
                throw new InvalidOperationException($"llama.cpp did not load {model}: {e.Message}\n{LogTail()}", e);
            }
            _context = _weights.CreateContext(p);
            if (lora is not null)
            {
                // LLamaSharp does not report a failed adapter load by itself: check the native handle.
                _adapter = _weights.NativeHandle.LoadLoraFromFile(lora);
                var pointer = (IntPtr)typeof(LoraAdapter).GetProperty("Pointer", System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Public)!.GetValue(_adapter)!;
                if (pointer == IntPtr.Zero) throw new InvalidOperationException($"llama.cpp did not load the LoRA adapter {lora}:\n{LogTail()}");
                _context.NativeHandle.SetLoraAdapters(new[] { (_adapter, 1f) });
            }
        }
    }

    public LLamaWeights Weights => _weights;

    /// <summary>llama.cpp's logits at every position of <paramref name="ids"/> (one fresh sequence).</summary>
    public float[][] Logits(IReadOnlyList<int> ids)
    {
        _context.NativeHandle.MemoryClear(true);
        var batch = new LLamaBatch();
        for (var i = 0; i < ids.Count; i++) batch.Add(ids[i], i, LLamaSeqId.Zero, true);
        var r = _context.Decode(batch);
        if (r != DecodeResult.Ok) throw new InvalidOperationException($"llama_decode returned {r}");
        return Enumerable.Range(0, ids.Count).Select(i => _context.NativeHandle.GetLogitsIth(i).ToArray()).ToArray();
    }

    /// <summary>Greedy continuation of <paramref name="prompt"/>: up to <paramref name="count"/> new ids, stopping after <paramref name="eos"/> (the template app's decoding loop).</summary>
    public List<int> Greedy(IReadOnlyList<int> prompt, int count, int eos) =>
        LoraKitApp.GgufChat.Greedy(_context, prompt, count, id => id == eos).ToList();

    /// <summary>
    /// llama.cpp's own tokenization with BOS. <paramref name="special"/>: special tokens written in the text ("&lt;s&gt;")
    /// are matched whole, as a Hugging Face tokenizer does by default.
    /// </summary>
    public int[] Tokenize(string text, bool special) =>
        _context.Tokenize(text, addBos: true, special).Select(t => (int)t).ToArray();

    public void Dispose()
    {
        _context.Dispose();
        _weights.Dispose();
    }
}
