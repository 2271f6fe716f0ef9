using System.Linq;
using System.Collections.Generic;
using System.IO;
using Google.Protobuf;
using LoraKit.Data;
using Xunit;

namespace LoraKit.Tests.Data;

/// <summary>
/// A tiny SentencePiece BPE model (tokenizer.model), written here field by field after sentencepiece_model.proto:
/// ModelProto { 1: pieces {1: piece, 2: score, 3: type}, 2: trainer_spec {3: model_type, 4: vocab_size, 35: byte_fallback,
/// 40–43: unk/bos/eos/pad ids}, 3: normalizer_spec {1: name, 3: add_dummy_prefix, 4: remove_extra_whitespaces, 5: escape_whitespaces} }.
/// </summary>
public class SentencePieceTokenizerTests
{
    private const int Normal = 1, Unknown = 2, Control = 3, ByteType = 6;

    private static byte[] TinyModel()
    {
        var pieces = new List<(string Piece, float Score, int Type)>
        {
            ("<unk>", 0, Unknown), ("<s>", 0, Control), ("</s>", 0, Control),
        };
        for (var b = 0; b < 256; b++) pieces.Add(($"<0x{b:X2}>", 0, ByteType)); // ids 3–258
        pieces.Add(("▁", -1, Normal));    // 259
        pieces.Add(("a", -2, Normal));    // 260
        pieces.Add(("b", -3, Normal));    // 261
        pieces.Add(("c", -4, Normal));    // 262
        pieces.Add(("ab", -0.5f, Normal)); // 263
        pieces.Add(("▁ab", -0.6f, Normal)); // 264
        pieces.Add(("▁c", -0.7f, Normal)); // 265

        using var ms = new MemoryStream();
        var o = new CodedOutputStream(ms);
        foreach (var (piece, score, type) in pieces)
        {
            var inner = Message(w =>
            {
                w.WriteTag(1, WireFormat.WireType.LengthDelimited); w.WriteString(piece);
                w.WriteTag(2, WireFormat.WireType.Fixed32); w.WriteFloat(score);
                w.WriteTag(3, WireFormat.WireType.Varint); w.WriteEnum(type);
            });
            o.WriteTag(1, WireFormat.WireType.LengthDelimited); o.WriteBytes(ByteString.CopyFrom(inner));
        }
        var trainer = Message(w =>
        {
            w.WriteTag(3, WireFormat.WireType.Varint); w.WriteEnum(2); // BPE
            w.WriteTag(4, WireFormat.WireType.Varint); w.WriteInt32(pieces.Count);
            w.WriteTag(35, WireFormat.WireType.Varint); w.WriteBool(true);
            w.WriteTag(40, WireFormat.WireType.Varint); w.WriteInt32(0);
            w.WriteTag(41, WireFormat.WireType.Varint); w.WriteInt32(1);
            w.WriteTag(42, WireFormat.WireType.Varint); w.WriteInt32(2);
            w.WriteTag(43, WireFormat.WireType.Varint); w.WriteInt32(-1);
        });
        o.WriteTag(2, WireFormat.WireType.LengthDelimited); o.WriteBytes(ByteString.CopyFrom(trainer));
        var normalizer = Message(w =>
        {
            w.WriteTag(1, WireFormat.WireType.LengthDelimited); w.WriteString("identity");
            w.WriteTag(3, WireFormat.WireType.Varint); w.WriteBool(true);
            w.WriteTag(4, WireFormat.WireType.Varint); w.WriteBool(false);
            w.WriteTag(5, WireFormat.WireType.Varint); w.WriteBool(true);
        });
        o.WriteTag(3, WireFormat.WireType.LengthDelimited); o.WriteBytes(ByteString.CopyFrom(normalizer));
        o.Flush();
        return ms.ToArray();
    }

    private static byte[] Message(System.Action<CodedOutputStream> write)
    {
        using var ms = new MemoryStream();
        var w = new CodedOutputStream(ms);
        write(w);
        w.Flush();
        return ms.ToArray();
    }

    [Fact]
    public void ATinySentencePieceModelEncodesAndRoundTrips()
    {
        using var dir = new TempFolder();
        File.WriteAllBytes(dir.File("tokenizer.model"), TinyModel());
        var t = HfTokenizer.FromFolder(dir.Path);
        Assert.StartsWith("sentencepiece:", t.Name);
        Assert.Equal(266, t.VocabSize);
        Assert.Equal(1, t.BosId);
        Assert.Equal(2, t.EosId);
        Assert.True(t.AddBos);
        var ids = t.Encode("ab c");
        Assert.Equal(new[] { 264, 265 }, ids);
        Assert.Equal("ab c", t.Decode(ids));
        Assert.Equal("ab c", t.Decode(new[] { 1, 264, 265, 2 }));
    }

    [Fact]
    public void UnknownCharactersFallBackToBytesAndRoundTrip()
    {
        using var dir = new TempFolder();
        File.WriteAllBytes(dir.File("tokenizer.model"), TinyModel());
        var t = HfTokenizer.FromFolder(dir.Path);
        var ids = t.Encode("abé");
        Assert.Equal(new[] { 264, 3 + 0xC3, 3 + 0xA9 }, ids);
        Assert.Equal("abé", t.Decode(ids));
    }

    [Fact]
    public void Special_tokens_in_the_text_are_matched_whole_as_a_chat_template_writes_them()
    {
        using var dir = new TempFolder();
        File.WriteAllBytes(dir.File("tokenizer.model"), TinyModel());
        var t = HfTokenizer.FromFolder(dir.Path);
        var ids = t.Encode("ab</s><s>c");
        Assert.Contains(2, ids); // </s>
        Assert.Contains(1, ids); // <s>
        Assert.DoesNotContain(3 + '<', ids); // not spelled out in byte-fallback pieces
        var spans = t.EncodeWithOffsets("ab</s><s>c");
        Assert.Equal(ids, spans.Select(s => s.Id));
        Assert.Equal("</s>", "ab</s><s>c"[spans.First(s => s.Id == 2).Start..spans.First(s => s.Id == 2).End]);
    }

    [Fact]
    public void TokenizerConfigOverridesSpecialsOfTheModel()
    {
        using var dir = new TempFolder();
        File.WriteAllBytes(dir.File("tokenizer.model"), TinyModel());
        File.WriteAllText(dir.File("tokenizer_config.json"), "{\"eos_token\": \"<unk>\", \"pad_token\": \"</s>\", \"add_bos_token\": false}");
        var t = HfTokenizer.FromFolder(dir.Path);
        Assert.Equal(0, t.EosId);
        Assert.Equal(2, t.PadId);
        Assert.False(t.AddBos);
    }

    [Fact]
    public void ANonByteLevelTokenizerJsonDefersToTokenizerModel()
    {
        using var dir = new TempFolder();
        File.WriteAllBytes(dir.File("tokenizer.model"), TinyModel());
        File.WriteAllText(dir.File("tokenizer.json"), "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [], \"byte_fallback\": true}, \"pre_tokenizer\": null, \"decoder\": {\"type\": \"Sequence\", \"decoders\": [{\"type\": \"ByteFallback\"}]}}");
        Assert.StartsWith("sentencepiece:", HfTokenizer.FromFolder(dir.Path).Name);
    }
}
