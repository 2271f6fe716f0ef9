namespace LoraKit.Data;

/// <summary>A token id and the characters <c>[Start, End)</c> of the encoded text it stands for.</summary>
public readonly record struct TokenSpan(int Id, int Start, int End);

/// <summary>
/// A tokenizer as LoraKit's data pipeline needs it: text to ids without special tokens and back, the
/// vocabulary size, and the ids of the special tokens the pipeline inserts (bos, eos, pad) when the
/// tokenizer has them.
/// </summary>
public interface ILoraTokenizer
{
    /// <summary>A short description for logs and provenance, e.g. <c>byte</c> or <c>hf-bpe:/models/x/tokenizer.json</c>.</summary>
    string Name { get; }

    /// <summary>Number of ids: one more than the largest id the tokenizer can produce, specials included.</summary>
    int VocabSize { get; }

    /// <summary>Beginning-of-sequence id, or null when the tokenizer has none.</summary>
    int? BosId { get; }

    /// <summary>End-of-sequence id, or null when the tokenizer has none.</summary>
    int? EosId { get; }

    /// <summary>Padding id, or null when the tokenizer has none (the pipeline then pads with eos, or 0).</summary>
    int? PadId { get; }

    /// <summary>Whether sequences start with <see cref="BosId"/> (Hugging Face's <c>add_bos_token</c>).</summary>
    bool AddBos { get; }

    /// <summary>The ids of <paramref name="text"/>, without bos/eos or any other special token added.</summary>
    int[] Encode(string text);

    /// <summary>
    /// The same ids as <see cref="Encode"/>, each with the range of <paramref name="text"/> (UTF-16 indices, start
    /// inclusive, end exclusive) it stands for; chat data uses it to find the tokens of assistant turns.
    /// </summary>
    IReadOnlyList<TokenSpan> EncodeWithOffsets(string text);

    /// <summary>The text of <paramref name="ids"/>; special tokens (bos, eos, pad) are skipped.</summary>
    string Decode(IReadOnlyList<int> ids);
}
