using TorchSharp;
using static TorchSharp.torch;

namespace LoraKit.Data;

/// <summary>How examples become fixed-length rows.</summary>
public enum SequenceMode
{
    /// <summary>
    /// Examples (each ending in eos) are concatenated in dataset order and cut into rows of sequenceLength tokens; an
    /// example may straddle two rows. The tail (the last, shorter row) is padded, not dropped, so no token is lost
    /// (a tail with no target at all is dropped). Attention mask: 1 on every real token, 0 on the tail's padding;
    /// examples in one row see each other, as in Hugging Face's packing without position resets.
    /// </summary>
    Pack,

    /// <summary>
    /// One example per row: truncated to sequenceLength (from the end: the tail of a long completion and its eos are
    /// cut) or padded on the right with the pad id (the tokenizer's pad, else eos, else 0), mask 0 and label −100.
    /// An example left with no target (its prompt fills the row) is dropped and counted in <see cref="TokenizedDataset.DroppedExamples"/>.
    /// </summary>
    Pad,

    /// <summary>
    /// Whole examples per row, no cross-talk (axolotl's multipack, TRL's padding-free packing): each example truncated and
    /// dropped as in <see cref="Pad"/>, then placed in the current row while it fits (else the row is padded and a new one
    /// begun, in dataset order). The attention mask holds each token's example number in its row (1, 2, …; 0 = padding):
    /// tokens attend only within their example (<c>LlamaModel.AttendMask</c>), position ids restart at 0 per example, and
    /// an example's first token is never a target — so each example is scored exactly as it would be alone.
    /// </summary>
    Documents,
}

/// <summary>
/// One batch: <see cref="InputIds"/>, <see cref="Labels"/> and <see cref="AttentionMask"/> are int64 [batch, seq] on
/// the requested device. <see cref="TokenCount"/> is the number of labels ≠ −100, which is exactly the number of terms
/// <c>LlamaForCausalLM.CausalLmLoss</c> averages (position 0 of each row is never a target under its shift, so its label
/// is always −100). Dispose it to free the tensors.
/// </summary>
public sealed record Batch(Tensor InputIds, Tensor Labels, Tensor AttentionMask, long TokenCount, Tensor? PositionIds = null) : IDisposable
{
    /// <summary>
    /// Whether the model needs the mask: some padding, or several examples in a row (<see cref="SequenceMode.Documents"/>).
    /// Without either, causal attention alone is the same attention (and SDPA's fused causal kernel needs no [seq, seq] mask).
    /// </summary>
    public bool NeedsMask => AttentionMask.ne(1).any().item<bool>();

    public void Dispose()
    {
        InputIds.Dispose();
        Labels.Dispose();
        AttentionMask.Dispose();
        PositionIds?.Dispose();
    }
}

/// <summary>
/// Examples tokenised into fixed-length rows with Hugging Face labels: each example is
/// <c>[bos]? + tokens + [eos]?</c> (bos when the tokenizer adds one, eos when it has one).
/// <list type="bullet">
/// <item>text: every token is a target, eos included;</item>
/// <item>prompt/completion: prompt tokens (and bos) get −100; the completion and its eos are the targets. The prompt
/// and completion are encoded separately and concatenated, as TRL does;</item>
/// <item>chat (<c>messages</c>): the conversation is rendered with the model's chat template
/// (<see cref="ChatTemplate.RenderForTraining"/>) and the whole text tokenized once, with no bos or eos added — the
/// template writes the model's own (Llama-3's <c>&lt;|begin_of_text|&gt;</c>, Mistral's <c>&lt;s&gt;</c>), as
/// transformers' <c>apply_chat_template</c> tokenizes its rendering with <c>add_special_tokens=False</c>, so no
/// second bos appears. A token is a target when its characters overlap an assistant turn (the answer and the
/// end-of-turn text after it); a token that straddles the turn's start (rare: the turn starts after a newline or a
/// special token in the common templates) counts as the assistant's;</item>
/// <item>bos and padding are never targets.</item>
/// </list>
/// Rows are built once, in dataset order; <see cref="Batches"/> is deterministic in its seed.
/// </summary>
public sealed class TokenizedDataset
{
    public const long IgnoreIndex = -100;

    private readonly long[] _ids;
    private readonly long[] _labels;
    private readonly long[] _mask;
    private readonly long[]? _positions;

    private TokenizedDataset(int sequenceLength, SequenceMode mode, long[] ids, long[] labels, long[] mask, int dropped, int truncated, long padId, long[]? positions = null)
    {
        _positions = positions;
        SequenceLength = sequenceLength;
        Mode = mode;
        _ids = ids;
        _labels = labels;
        _mask = mask;
        DroppedExamples = dropped;
        TruncatedExamples = truncated;
        PadTokenId = padId;
        RowCount = ids.Length / sequenceLength;
        for (var i = 0; i < labels.Length; i++)
            if (labels[i] != IgnoreIndex) TargetTokenCount++;
    }

    public int SequenceLength { get; }
    public SequenceMode Mode { get; }

    /// <summary>Number of rows (blocks in Pack mode, kept examples in Pad mode).</summary>
    public int RowCount { get; }

    /// <summary>Labels ≠ −100 over all rows: the number of tokens one epoch trains on.</summary>
    public long TargetTokenCount { get; }

    /// <summary>Pad mode: examples dropped because no target was left after truncation. Pack mode: 0.</summary>
    public int DroppedExamples { get; }

    /// <summary>Pad mode: examples cut to fit sequenceLength. Pack mode: 0.</summary>
    public int TruncatedExamples { get; }

    /// <summary>The id padding positions hold.</summary>
    public long PadTokenId { get; }

    public static TokenizedDataset Create(Dataset dataset, ILoraTokenizer tokenizer, int sequenceLength, SequenceMode mode, ChatTemplate? chatTemplate = null)
    {
        if (dataset is null) throw new ArgumentNullException(nameof(dataset));
        return Create(dataset.Examples, tokenizer, sequenceLength, mode, chatTemplate);
    }

    /// <summary>
    /// Tokenises <paramref name="examples"/>. Chat examples use <paramref name="chatTemplate"/>, or when it is null the
    /// chat template of the tokenizer's model folder (<see cref="HfTokenizer.ChatTemplate"/>).
    /// </summary>
    public static TokenizedDataset Create(IReadOnlyList<Example> examples, ILoraTokenizer tokenizer, int sequenceLength, SequenceMode mode, ChatTemplate? chatTemplate = null)
    {
        if (examples is null) throw new ArgumentNullException(nameof(examples));
        if (tokenizer is null) throw new ArgumentNullException(nameof(tokenizer));
        if (sequenceLength < 2) throw new ArgumentOutOfRangeException(nameof(sequenceLength), sequenceLength, "must be ≥ 2 (one input and one target)");
        if (!Enum.IsDefined(mode)) throw new ArgumentOutOfRangeException(nameof(mode));

        var template = examples.Any(e => e.Kind == ExampleKind.Chat) ? chatTemplate ?? ChatTemplateOf(tokenizer) : null;
        var padId = (long)(tokenizer.PadId ?? tokenizer.EosId ?? 0);
        var ids = new List<long>();
        var labels = new List<long>();
        var mask = new List<long>();
        int dropped = 0, truncated = 0;

        var seqIds = new List<long>();
        var seqLabels = new List<long>();
        var positions = mode == SequenceMode.Documents ? new List<long>() : null;
        var used = 0; // Documents: tokens in the current row
        var documents = 0; // Documents: examples in the current row
        foreach (var e in examples)
        {
            Encode(e, tokenizer, template, seqIds, seqLabels);
            if (mode == SequenceMode.Pack)
            {
                ids.AddRange(seqIds);
                labels.AddRange(seqLabels);
                continue;
            }
            var n = seqIds.Count;
            if (n > sequenceLength)
            {
                truncated++;
                n = sequenceLength;
            }
            var hasTarget = false;
            for (var j = 1; j < n; j++) hasTarget |= seqLabels[j] != IgnoreIndex;
            if (!hasTarget)
            {
                dropped++;
                continue;
            }
            if (mode == SequenceMode.Documents)
            {
                if (used + n > sequenceLength)
                {
                    PadRow(ids, labels, mask, positions!, sequenceLength - used, padId);
                    used = 0;
                    documents = 0;
                }
                documents++;
                for (var j = 0; j < n; j++)
                {
                    ids.Add(seqIds[j]);
                    labels.Add(j > 0 ? seqLabels[j] : IgnoreIndex);
                    mask.Add(documents);
                    positions!.Add(j);
                }
                used += n;
                continue;
            }
            for (var j = 0; j < sequenceLength; j++)
            {
                var real = j < n;
                ids.Add(real ? seqIds[j] : padId);
                labels.Add(real && j > 0 ? seqLabels[j] : IgnoreIndex);
                mask.Add(real ? 1 : 0);
            }
        }

        if (mode == SequenceMode.Documents && used > 0) PadRow(ids, labels, mask, positions!, sequenceLength - used, padId);

        if (mode == SequenceMode.Pack)
        {
            var real = ids.Count;
            for (var j = 0; j < real; j++) mask.Add(1);
            var tail = real % sequenceLength;
            if (tail != 0)
            {
                for (var j = tail; j < sequenceLength; j++)
                {
                    ids.Add(padId);
                    labels.Add(IgnoreIndex);
                    mask.Add(0);
                }
            }
            for (var r = 0; r < ids.Count; r += sequenceLength) labels[r] = IgnoreIndex;
            // A last row without any target trains nothing: drop it.
            if (ids.Count > 0)
            {
                var start = ids.Count - sequenceLength;
                var any = false;
                for (var j = start; j < ids.Count; j++) any |= labels[j] != IgnoreIndex;
                if (!any)
                {
                    ids.RemoveRange(start, sequenceLength);
                    labels.RemoveRange(start, sequenceLength);
                    mask.RemoveRange(start, sequenceLength);
                }
            }
        }

        if (ids.Count == 0)
            throw new DataException(
                $"no example yields a target token at sequence length {sequenceLength} ({dropped} dropped: the prompt fills the row); raise the sequence length or shorten the prompts");
        return new TokenizedDataset(sequenceLength, mode, ids.ToArray(), labels.ToArray(), mask.ToArray(), dropped, truncated, padId, positions?.ToArray());
    }

    private static void PadRow(List<long> ids, List<long> labels, List<long> mask, List<long> positions, int count, long padId)
    {
        for (var j = 0; j < count; j++)
        {
            ids.Add(padId);
            labels.Add(IgnoreIndex);
            mask.Add(0);
            positions.Add(0);
        }
    }

    /// <summary>The token ids and labels of one example (before truncation or packing), as <see cref="Create(IReadOnlyList{Example}, ILoraTokenizer, int, SequenceMode)"/> builds them.</summary>
    public static (long[] InputIds, long[] Labels) EncodeExample(Example example, ILoraTokenizer tokenizer, ChatTemplate? chatTemplate = null)
    {
        if (example is null) throw new ArgumentNullException(nameof(example));
        if (tokenizer is null) throw new ArgumentNullException(nameof(tokenizer));
        var template = example.Kind == ExampleKind.Chat ? chatTemplate ?? ChatTemplateOf(tokenizer) : null;
        var ids = new List<long>();
        var labels = new List<long>();
        Encode(example, tokenizer, template, ids, labels);
        return (ids.ToArray(), labels.ToArray());
    }

    /// <summary>The chat template of the tokenizer's model, or an error that says where one is missing and how to add it.</summary>
    private static ChatTemplate ChatTemplateOf(ILoraTokenizer tokenizer) => tokenizer switch
    {
        HfTokenizer { ChatTemplate: { } t } => t,
        HfTokenizer { ModelFolder: { } folder } => ChatTemplate.Load(folder), // throws, naming tokenizer_config.json and the fix
        _ => throw new DataException(
            $"chat data (\"messages\") is formatted with the model's chat template, and the tokenizer {tokenizer.Name} has none " +
            "(the builtin model is a base model without one); train a Hugging Face instruct/chat model whose tokenizer_config.json has a \"chat_template\", " +
            "or write the data as {\"prompt\": …, \"completion\": …} lines"),
    };

    private static void Encode(Example e, ILoraTokenizer tokenizer, ChatTemplate? template, List<long> ids, List<long> labels)
    {
        ids.Clear();
        labels.Clear();
        if (e.Kind == ExampleKind.Chat)
        {
            EncodeChat(e, tokenizer, template!, ids, labels);
            return;
        }
        if (tokenizer.AddBos && tokenizer.BosId is int bos)
        {
            ids.Add(bos);
            labels.Add(IgnoreIndex);
        }
        if (e.Kind == ExampleKind.Text)
        {
            foreach (var id in tokenizer.Encode(e.Text!))
            {
                ids.Add(id);
                labels.Add(id);
            }
        }
        else
        {
            foreach (var id in tokenizer.Encode(e.Prompt!))
            {
                ids.Add(id);
                labels.Add(IgnoreIndex);
            }
            foreach (var id in tokenizer.Encode(e.Completion!))
            {
                ids.Add(id);
                labels.Add(id);
            }
        }
        if (tokenizer.EosId is int eos)
        {
            ids.Add(eos);
            labels.Add(eos);
        }
    }

    private static void EncodeChat(Example e, ILoraTokenizer tokenizer, ChatTemplate template, List<long> ids, List<long> labels)
    {
        ChatRendering r;
        try
        {
            r = template.RenderForTraining(e.Messages!);
        }
        catch (DataException x)
        {
            throw new DataException($"the conversation on line {e.Line}: {x.Problem}", x.File, x.Line, x);
        }
        var spans = r.AssistantSpans;
        foreach (var t in tokenizer.EncodeWithOffsets(r.Text))
        {
            var target = false;
            foreach (var (start, end) in spans)
            {
                target |= t.End > t.Start ? t.Start < end && t.End > start : t.Start >= start && t.Start < end;
                if (target) break;
            }
            ids.Add(t.Id);
            labels.Add(target ? t.Id : IgnoreIndex);
        }
    }

    /// <summary>Row <paramref name="index"/> as arrays of length <see cref="SequenceLength"/>.</summary>
    public (long[] InputIds, long[] Labels, long[] AttentionMask) Row(int index)
    {
        if (index < 0 || index >= RowCount) throw new ArgumentOutOfRangeException(nameof(index), index, $"there are {RowCount} rows");
        var s = SequenceLength;
        return (_ids.AsSpan(index * s, s).ToArray(), _labels.AsSpan(index * s, s).ToArray(), _mask.AsSpan(index * s, s).ToArray());
    }

    /// <summary>
    /// Every row once, in batches of <paramref name="batchSize"/> (the last one may be smaller). With
    /// <paramref name="shuffle"/>, rows are visited in a permutation drawn from <paramref name="seed"/> alone (pass a
    /// different seed per epoch, e.g. seed + epoch); the same seed gives the same batches on every run and machine.
    /// Tensors are created on <paramref name="device"/> (CPU when null); the caller disposes each batch.
    /// </summary>
    public IEnumerable<Batch> Batches(int batchSize, bool shuffle, long seed, Device? device = null)
    {
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "must be ≥ 1");
        return BatchesCore(batchSize, shuffle, seed, device);
    }

    private IEnumerable<Batch> BatchesCore(int batchSize, bool shuffle, long seed, Device? device)
    {
        var order = shuffle ? new StableRandom(seed).Permutation(RowCount) : Enumerable.Range(0, RowCount).ToArray();
        var s = SequenceLength;
        for (var start = 0; start < order.Length; start += batchSize)
        {
            var b = Math.Min(batchSize, order.Length - start);
            var ids = new long[b * s];
            var labels = new long[b * s];
            var mask = new long[b * s];
            var positions = _positions is null ? null : new long[b * s];
            long count = 0;
            for (var r = 0; r < b; r++)
            {
                var src = order[start + r] * s;
                Array.Copy(_ids, src, ids, r * s, s);
                Array.Copy(_labels, src, labels, r * s, s);
                Array.Copy(_mask, src, mask, r * s, s);
                if (positions is not null) Array.Copy(_positions!, src, positions, r * s, s);
            }
            foreach (var l in labels)
                if (l != IgnoreIndex) count++;
            var shape = new long[] { b, s };
            yield return new Batch(
                torch.tensor(ids, shape, ScalarType.Int64, device),
                torch.tensor(labels, shape, ScalarType.Int64, device),
                torch.tensor(mask, shape, ScalarType.Int64, device),
                count,
                positions is null ? null : torch.tensor(positions, shape, ScalarType.Int64, device));
        }
    }
}
