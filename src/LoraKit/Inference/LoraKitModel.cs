using System.Runtime.CompilerServices;
using LoraKit.Builtin;
using LoraKit.Data;
using LoraKit.Lora;
using LoraKit.Modeling;
using LoraKit.Models;
using LoraKit.Peft;
using TorchSharp;
using static TorchSharp.torch;

namespace LoraKit.Inference;

/// <summary>
/// A base model with its tokenizer and any number of LoRA adapters, ready to evaluate and generate — what an app
/// needs to use a trained adapter. The base is loaded once; adapters are attached side by side as named LoRA
/// adapters (PEFT folders through <see cref="AddAdapter"/>, or a generated typed adapter's
/// <c>Load(model.Model, folder)</c>) and <see cref="UseAdapter"/> switches between them and the bare base.
/// Everything runs in eval mode (no dropout) without gradients.
/// <code>
/// using var model = LoraKitModel.Load("builtin", "lora-output/adapter");
/// await foreach (var piece in model.Generate("date: 2024-03-07\n")) Console.Write(piece);
/// var eval = model.Evaluate("data/test.jsonl");
/// </code>
/// </summary>
public sealed class LoraKitModel : IDisposable
{
    /// <summary>Eval batches hold at most this many rows…</summary>
    public const int EvalBatchRows = 8;

    /// <summary>…and at most this many logits (rows × tokens × vocabulary, 256 MiB of float32).</summary>
    public const long EvalBatchLogits = 64L << 20;

    private LoraKitModel(LlamaForCausalLM model, ILoraTokenizer tokenizer, string folder, string name, Device device)
        : this(model, tokenizer, EosTokens.Of(folder, tokenizer), name)
    {
        BaseFolder = folder;
        Device = device;
    }

    /// <summary>
    /// Wraps a model already in memory (e.g. one just trained) with its tokenizer; it is disposed with this object.
    /// <paramref name="eosTokenIds"/> null: the tokenizer's end-of-sequence token.
    /// </summary>
    public LoraKitModel(LlamaForCausalLM model, ILoraTokenizer tokenizer, IReadOnlyList<int>? eosTokenIds = null, string name = "model")
    {
        Model = model ?? throw new ArgumentNullException(nameof(model));
        Tokenizer = tokenizer ?? throw new ArgumentNullException(nameof(tokenizer));
        BaseName = name;
        BaseFolder = "";
        Device = model.parameters().First().device;
        EosTokenIds = eosTokenIds ?? (tokenizer.EosId is int eos ? new[] { eos } : Array.Empty<int>());
        Model.eval();
    }

    /// <summary>The base model (with its LoRA layers once adapters are attached).</summary>
    public LlamaForCausalLM Model { get; }

    public ILoraTokenizer Tokenizer { get; }

    /// <summary>The base model's folder (the builtin model's cache folder for <c>builtin</c>; empty for a model built in memory).</summary>
    public string BaseFolder { get; }

    /// <summary>The base's name for tables: <c>builtin</c> or the folder's name.</summary>
    public string BaseName { get; }

    public Device Device { get; }

    /// <summary>The ids that end generation (see <see cref="EosTokens"/>).</summary>
    public IReadOnlyList<int> EosTokenIds { get; }

    /// <summary>
    /// Loads <paramref name="baseModel"/> — <c>builtin</c> or a Hugging Face folder (config.json, *.safetensors,
    /// tokenizer.json or tokenizer.model) — on <paramref name="device"/> (CPU when null) in float32, and attaches
    /// each PEFT adapter folder under its folder's name. The last adapter is active.
    /// </summary>
    public static LoraKitModel Load(string baseModel, params string[] adapterFolders) => Load(baseModel, adapterFolders, null);

    public static LoraKitModel Load(string baseModel, IEnumerable<string> adapterFolders, Device? device, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(baseModel);
        ArgumentNullException.ThrowIfNull(adapterFolders);
        var source = BaseModelSource.Open(baseModel, log);
        var dev = device ?? CPU;
        var model = new LoraKitModel(Quantization.Nf4Checkpoint.LoadBase(source.Folder, dev, ScalarType.Float32, quantizeOnLoad: false), source.Tokenizer, source.Folder, source.Name, dev);
        try
        {
            foreach (var folder in adapterFolders) model.AddAdapter(folder);
        }
        catch
        {
            model.Dispose();
            throw;
        }
        return model;
    }

    /// <summary>The adapters attached, in the order they were attached (typed adapters attached directly included).</summary>
    public IReadOnlyList<string> Adapters =>
        LoraInjector.LoraLayers(Model).SelectMany(l => l.Layer.Adapters).Distinct(StringComparer.Ordinal).ToList();

    /// <summary>
    /// The adapter forward passes use; null: the bare base model. Read from the LoRA layers, so an adapter a typed
    /// wrapper attached (which makes it active) counts; several active adapters (possible through the layers'
    /// own API) are an error here.
    /// </summary>
    public string? ActiveAdapter
    {
        get
        {
            var active = LoraInjector.LoraLayers(Model).SelectMany(l => l.Layer.ActiveAdapters).Distinct(StringComparer.Ordinal).ToList();
            return active.Count switch
            {
                0 => null,
                1 => active[0],
                _ => throw new InvalidOperationException($"several adapters are active at once ({string.Join(", ", active)}); choose one with UseAdapter"),
            };
        }
    }

    /// <summary>
    /// Attaches the PEFT adapter in <paramref name="folder"/> as <paramref name="name"/> (default: the folder's
    /// name, '.' replaced by '_') and makes it active. Adapters that also change base weights (modules_to_save,
    /// trained biases) are refused: they could not be switched off for a side-by-side comparison.
    /// </summary>
    public string AddAdapter(string folder, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(folder);
        name ??= AdapterNameOf(folder);
        if (Adapters.Contains(name, StringComparer.Ordinal))
            throw new ArgumentException($"an adapter named '{name}' is already attached; give the second one another name", nameof(name));
        using (var peft = PeftAdapter.Load(folder))
        {
            if (peft.ModulesToSave.Count > 0)
                throw new NotSupportedException(
                    $"adapter {folder} also replaces base tensors ({string.Join(", ", peft.ModulesToSave.Take(3).Select(t => t.Name))}{(peft.ModulesToSave.Count > 3 ? ", …" : "")}), " +
                    "so it cannot be attached beside the base; merge it into a checkpoint with 'lorakit merge' and use that as the base");
        }
        LoraAdapterFiles.Load(Model, folder, name);
        Model.eval();
        UseAdapter(name);
        return name;
    }

    /// <summary>An adapter name from a folder: its last segment, '.' (not allowed in adapter names) replaced by '_'.</summary>
    public static string AdapterNameOf(string folder) =>
        Path.GetFileName(Path.GetFullPath(folder).TrimEnd(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar)).Replace('.', '_');

    /// <summary>Makes <paramref name="adapter"/> the only active adapter; null: none (the bare base).</summary>
    public void UseAdapter(string? adapter)
    {
        var layers = LoraInjector.LoraLayers(Model);
        if (adapter is not null && !layers.Any(l => l.Layer.Adapters.Contains(adapter)))
            throw new KeyNotFoundException($"no adapter named '{adapter}' is attached; attached: {(layers.Count == 0 ? "none" : string.Join(", ", Adapters))}");
        foreach (var (_, layer) in layers)
            layer.SetActiveAdapters(adapter is not null && layer.Adapters.Contains(adapter) ? new[] { adapter } : Array.Empty<string>());
        Model.eval();
    }

    // ---------------------------------------------------------------- evaluation

    /// <summary>Evaluates the model as it is (its active adapter) on every line of a JSONL file (see <see cref="Evaluate(IReadOnlyList{Example}, int?, string?)"/>).</summary>
    public EvalResult Evaluate(string dataFile, int? sequenceLength = null)
    {
        Model.eval();
        return EvaluateActive(EncodeForEval(JsonlDataset.Load(dataFile).Examples, sequenceLength));
    }

    /// <summary>
    /// The token-weighted mean next-token loss of <paramref name="adapter"/> (null: the bare base; it becomes the
    /// active adapter) over every example: each is one sequence — BOS when the tokenizer adds one, the tokens, EOS —
    /// scored on every token (text) or on the completion and EOS (prompt/completion), as training scores it.
    /// Sequences longer than <paramref name="sequenceLength"/> (default: <see cref="RopeMath.LongestSequence"/>, the longest
    /// sequence the configured model runs, RoPE scaling included) are cut to that length from the end and counted in
    /// <see cref="EvalResult.TruncatedExamples"/>. A line's loss does not depend on the lines batched with it: padding is
    /// masked, and dynamic NTK / longrope take each row's own length (transformers takes the padded batch's).
    /// </summary>
    public EvalResult Evaluate(IReadOnlyList<Example> examples, int? sequenceLength, string? adapter)
    {
        UseAdapter(adapter);
        return EvaluateActive(EncodeForEval(examples, sequenceLength));
    }

    /// <summary>Examples as eval sequences, encoded once for several <see cref="Evaluate(EncodedExamples, string?)"/> calls.</summary>
    public EncodedExamples EncodeForEval(IReadOnlyList<Example> examples, int? sequenceLength = null)
    {
        ArgumentNullException.ThrowIfNull(examples);
        var limit = sequenceLength ?? RopeMath.LongestSequence(Model.Dimensions);
        if (limit < 2) throw new ArgumentOutOfRangeException(nameof(sequenceLength), limit, "must be ≥ 2 (one input and one target)");
        var rows = new List<EncodedExample>(examples.Count);
        foreach (var e in examples)
        {
            var (ids, labels) = TokenizedDataset.EncodeExample(e, Tokenizer);
            var truncated = ids.Length > limit;
            if (truncated)
            {
                ids = ids[..limit];
                labels = labels[..limit];
            }
            rows.Add(new EncodedExample(e.Line, ids, labels, truncated));
        }
        return new EncodedExamples(rows, limit);
    }

    /// <summary>Evaluates <paramref name="adapter"/> (null: the base) on examples encoded by <see cref="EncodeForEval"/>.</summary>
    public EvalResult Evaluate(EncodedExamples examples, string? adapter)
    {
        UseAdapter(adapter);
        return EvaluateActive(examples);
    }

    private EvalResult EvaluateActive(EncodedExamples encoded)
    {
        var rows = encoded.Rows;
        var sums = new double[rows.Count];
        var counts = new int[rows.Count];
        var vocab = Model.Dimensions.VocabSize;
        using var noGrad = torch.no_grad();
        for (var start = 0; start < rows.Count;)
        {
            // Consecutive rows, padded on the right to the longest; as many as the row and logit limits allow.
            var end = start;
            var longest = 0;
            while (end < rows.Count && end - start < EvalBatchRows)
            {
                var n = Math.Max(longest, rows[end].Ids.Length);
                if (end > start && (long)(end - start + 1) * n * vocab > EvalBatchLogits) break;
                longest = n;
                end++;
            }
            ScoreBatch(rows, start, end, longest, sums, counts);
            start = end;
        }
        double total = 0;
        long tokens = 0;
        var perExample = new List<EvalExample>(rows.Count);
        for (var i = 0; i < rows.Count; i++)
        {
            total += sums[i];
            tokens += counts[i];
            perExample.Add(new EvalExample(rows[i].Line, counts[i], counts[i] > 0 ? sums[i] / counts[i] : null, rows[i].Truncated));
        }
        if (tokens == 0)
            throw new DataException($"no example has a token to score at sequence length {encoded.SequenceLength}; raise --seq-len");
        return new EvalResult(ActiveAdapter, total / tokens, tokens, rows.Count(r => r.Truncated), perExample);
    }

    private void ScoreBatch(IReadOnlyList<EncodedExample> rows, int start, int end, int length, double[] sums, int[] counts)
    {
        using var scope = torch.NewDisposeScope();
        var b = end - start;
        var ids = new long[b * length];
        var labels = new long[b * length];
        var mask = new long[b * length];
        Array.Fill(labels, TokenizedDataset.IgnoreIndex);
        var padded = false;
        for (var r = 0; r < b; r++)
        {
            var row = rows[start + r];
            Array.Copy(row.Ids, 0, ids, r * length, row.Ids.Length);
            Array.Copy(row.Labels, 0, labels, r * length, row.Labels.Length);
            for (var j = 0; j < row.Ids.Length; j++) mask[r * length + j] = 1;
            padded |= row.Ids.Length < length;
        }
        var shape = new long[] { b, length };
        var input = torch.tensor(ids, shape, ScalarType.Int64, Device);
        var hidden = Model.model.forward(input, padded ? torch.tensor(mask, shape, ScalarType.Int64, Device) : null);
        // Hugging Face's shift (logits at t predict the label at t + 1; −100 scores nothing), scored in token chunks
        // as training's loss is: the [b, length, vocab] logits are never held.
        var labelTensor = torch.tensor(labels, shape, ScalarType.Int64);
        var next = LlamaForCausalLM.NextTokenLabels(labelTensor, TokenizedDataset.IgnoreIndex).data<long>().ToArray();
        var nll = ChunkedCausalLmLoss.TokenLosses(Model.lm_head, Model.Dimensions.VocabSize, hidden, labelTensor.to(Device), TokenizedDataset.IgnoreIndex,
            finalSoftcap: Model.Dimensions.FinalLogitSoftcap)
            .reshape(-1).to(ScalarType.Float64).cpu();
        var values = nll.data<double>().ToArray();
        for (var r = 0; r < b; r++)
        {
            double sum = 0;
            var count = 0;
            for (var j = 0; j < length - 1; j++)
            {
                if (next[r * length + j] == TokenizedDataset.IgnoreIndex) continue;
                sum += values[r * length + j];
                count++;
            }
            sums[start + r] = sum;
            counts[start + r] = count;
        }
    }

    // ---------------------------------------------------------------- generation

    /// <summary>
    /// A conversation's ids as generation feeds them: the model's chat template (tokenizer_config.json) renders it with
    /// the generation prompt, and the text is tokenized as is — the template writes the BOS itself, as transformers'
    /// apply_chat_template(tokenize=True) does. A model without a template is an error naming the file and the fix.
    /// </summary>
    public int[] EncodeChatPrompt(IReadOnlyList<ChatMessage> messages)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var template = Tokenizer switch
        {
            HfTokenizer { ChatTemplate: { } t } => t,
            HfTokenizer { ModelFolder: { } folder } => ChatTemplate.Load(folder),
            _ => throw new DataException($"--chat formats the prompt with the model's chat template, and the tokenizer {Tokenizer.Name} has none " +
                                         "(the builtin model is a base model); drop --chat, or use a chat model whose tokenizer_config.json has a \"chat_template\""),
        };
        return Tokenizer.Encode(template.Render(messages, addGenerationPrompt: true));
    }

    /// <summary>The prompt's ids as generation feeds them: BOS when the tokenizer adds one, then the text's tokens.</summary>
    public int[] EncodePrompt(string prompt)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        var ids = Tokenizer.Encode(prompt);
        return Tokenizer.AddBos && Tokenizer.BosId is int bos ? [bos, .. ids] : ids;
    }

    /// <summary>
    /// Generates after <paramref name="promptIds"/> with the active adapter; <paramref name="onToken"/> sees each
    /// new id as it comes. Stops at an end-of-sequence id (kept in <see cref="GenerationResult.NewIds"/>, not in the
    /// text), a stop string or <see cref="GenerationOptions.MaxNewTokens"/>.
    /// </summary>
    public GenerationResult GenerateTokens(IReadOnlyList<int> promptIds, GenerationOptions? options = null, Action<int, string>? onToken = null)
    {
        using var run = new GenerationRun(this, promptIds, options ?? new GenerationOptions());
        while (run.Step() is { } step) onToken?.Invoke(step.Id, step.Piece);
        return run.Result();
    }

    /// <summary>The whole answer to <paramref name="prompt"/> (see <see cref="GenerateTokens"/>).</summary>
    public GenerationResult Complete(string prompt, GenerationOptions? options = null) => GenerateTokens(EncodePrompt(prompt), options);

    /// <summary>
    /// Streams the answer to <paramref name="prompt"/> as text pieces (complete characters only; see
    /// <see cref="TextStream"/>). Each step runs on the thread pool, so a UI thread stays free.
    /// </summary>
    public async IAsyncEnumerable<string> Generate(string prompt, GenerationOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        using var run = new GenerationRun(this, EncodePrompt(prompt), options ?? new GenerationOptions());
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var step = await Task.Run(run.Step, cancellationToken).ConfigureAwait(false);
            if (step is null) break;
            if (step.Value.Piece.Length > 0) yield return step.Value.Piece;
        }
    }

    public void Dispose() => Model.Dispose();

    /// <summary>One generation in progress: the sequence so far, the cache, the sampler and the text stream.</summary>
    private sealed class GenerationRun : IDisposable
    {
        private readonly LoraKitModel _owner;
        private readonly GenerationOptions _options;
        private readonly TokenSampler _sampler;
        private readonly TextStream _text;
        private readonly KvCache? _cache;
        private readonly List<int> _sequence;
        private readonly int _promptLength;
        private readonly HashSet<int> _eos;
        private StopReason? _stop;

        public GenerationRun(LoraKitModel owner, IReadOnlyList<int> promptIds, GenerationOptions options)
        {
            ArgumentNullException.ThrowIfNull(promptIds);
            if (promptIds.Count == 0) throw new ArgumentException("the prompt has no tokens; give a non-empty prompt", nameof(promptIds));
            _owner = owner;
            _options = options;
            _sampler = new TokenSampler(options);
            _text = new TextStream(owner.Tokenizer, options.StopStrings);
            _sequence = promptIds.ToList();
            _promptLength = promptIds.Count;
            _eos = (options.EosTokenIds ?? owner.EosTokenIds).ToHashSet();
            if (options.UseCache) _cache = owner.Model.NewCache(promptIds.Count + options.MaxNewTokens);
        }

        /// <summary>The next token and the text it releases; null once generation has stopped.</summary>
        public (int Id, string Piece)? Step()
        {
            if (_stop is not null) return null;
            int next;
            // Grad mode is per thread: set it here, where the forward runs.
            using (torch.no_grad())
            using (torch.NewDisposeScope())
            {
                var fresh = _cache is null || _cache.Length == 0;
                var feed = _cache is null ? _sequence : fresh ? _sequence : _sequence.GetRange(_sequence.Count - 1, 1);
                var input = torch.tensor(feed.Select(i => (long)i).ToArray(), new long[] { 1, feed.Count }, ScalarType.Int64, _owner.Device);
                var logits = _cache is null ? _owner.Model.forward(input) : _owner.Model.forward(input, _cache);
                next = _sampler.Next(logits[0, -1]);
            }
            _sequence.Add(next);
            if (_eos.Contains(next))
            {
                _stop = StopReason.EndOfSequence;
                return (next, _text.Flush());
            }
            var piece = _text.Add(next);
            if (_text.Stopped) _stop = StopReason.StopString;
            else if (_sequence.Count - _promptLength >= _options.MaxNewTokens)
            {
                _stop = StopReason.MaxNewTokens;
                piece += _text.Flush();
            }
            return (next, piece);
        }

        public GenerationResult Result() =>
            new(_sequence.GetRange(0, _promptLength), _sequence.GetRange(_promptLength, _sequence.Count - _promptLength), _text.Text,
                _stop ?? StopReason.MaxNewTokens);

        public void Dispose()
        {
            _sampler.Dispose();
            _cache?.Dispose();
        }
    }
}

/// <summary>One example as an eval sequence: ids and labels (−100 where nothing is scored), already truncated.</summary>
public sealed record EncodedExample(int Line, long[] Ids, long[] Labels, bool Truncated);

/// <summary>Examples encoded once for evaluating several adapters (<see cref="LoraKitModel.EncodeForEval"/>).</summary>
public sealed record EncodedExamples(IReadOnlyList<EncodedExample> Rows, int SequenceLength);
