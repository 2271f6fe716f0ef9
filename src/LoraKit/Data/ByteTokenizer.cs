namespace LoraKit.Data;

/// <summary>
/// LoraKit's builtin tokenizer: one id per UTF-8 byte (ids 0–255 are the byte values), then
/// pad = 256, bos = 257, eos = 258; <see cref="VocabSize"/> = 259. Needs no file, is the same
/// everywhere, and <c>Decode(Encode(s)) == s</c> for every string that is valid UTF-16 (lone
/// surrogates become U+FFFD, as UTF-8 cannot carry them).
/// </summary>
public sealed class ByteTokenizer : ILoraTokenizer
{
    public const int Pad = 256;
    public const int Bos = 257;
    public const int Eos = 258;
    public const int Size = 259;

    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false);

    /// <summary>The one instance (the tokenizer has no state).</summary>
    public static ByteTokenizer Instance { get; } = new();

    public string Name => "byte";
    public int VocabSize => Size;
    public int? BosId => Bos;
    public int? EosId => Eos;
    public int? PadId => Pad;
    public bool AddBos => true;

    public int[] Encode(string text)
    {
        if (text is null) throw new ArgumentNullException(nameof(text));
        var bytes = Utf8.GetBytes(text);
        var ids = new int[bytes.Length];
        for (var i = 0; i < bytes.Length; i++) ids[i] = bytes[i];
        return ids;
    }

    public IReadOnlyList<TokenSpan> EncodeWithOffsets(string text)
    {
        if (text is null) throw new ArgumentNullException(nameof(text));
        var result = new List<TokenSpan>(text.Length);
        for (var i = 0; i < text.Length;)
        {
            var width = char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]) ? 2 : 1;
            foreach (var b in Utf8.GetBytes(text.Substring(i, width))) result.Add(new TokenSpan(b, i, i + width));
            i += width;
        }
        return result;
    }

    public string Decode(IReadOnlyList<int> ids)
    {
        if (ids is null) throw new ArgumentNullException(nameof(ids));
        var bytes = new List<byte>(ids.Count);
        foreach (var id in ids)
        {
            if (id is >= 0 and < 256) bytes.Add((byte)id);
            else if (id is < 0 or >= Size)
                throw new ArgumentOutOfRangeException(nameof(ids), $"id {id} is outside the byte tokenizer's vocabulary (0–{Size - 1})");
        }
        return Utf8.GetString(bytes.ToArray());
    }
}
