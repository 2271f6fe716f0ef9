using System;
using System.IO;
using System.Linq;
using System.Text;
using LoraKit.Data;
using Xunit;

namespace LoraKit.Tests.Data.Chat;

/// <summary>Chat lines in JSONL, their tokenisation with the model's template, and the labels on assistant turns only.</summary>
public class ChatDataTests
{
    internal static string TinyFolder => Path.Combine(AppContext.BaseDirectory, "Fixtures", "tiny-llama-chat-tokenizer");

    private const string ChatLine =
        "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\", \"content\": \"Hello!\"}]}";

    private static Dataset Parse(string jsonl, int maxBadLines = 0) => JsonlDataset.Parse("chat.jsonl", Encoding.UTF8.GetBytes(jsonl), maxBadLines);

    [Fact]
    public void A_messages_line_is_a_chat_example()
    {
        var d = Parse(ChatLine + "\n");
        Assert.Equal(ExampleKind.Chat, d.Kind);
        var e = Assert.Single(d.Examples);
        Assert.Equal(new[] { new ChatMessage("system", "Be brief."), new ChatMessage("user", "Hi"), new ChatMessage("assistant", "Hello!") }, e.Messages);
        Assert.Equal(1, e.Line);
        Assert.StartsWith("chat\n6:system\n9:Be brief.\n4:user\n2:Hi\n", e.Canonical);
    }

    [Fact]
    public void Chat_examples_are_equal_by_content_and_hash_with_it()
    {
        var a = Parse(ChatLine + "\n" + ChatLine.Replace("Hello!", "Hey.") + "\n");
        var reordered = Parse("{\"id\": 7, \"messages\": [{\"content\": \"Be brief.\", \"role\": \"system\"}, {\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\", \"content\": \"Hello!\"}]}\n");
        Assert.Equal(a.Examples[0], reordered.Examples[0]);
        Assert.NotEqual(a.Examples[0], a.Examples[1]);
        Assert.NotEqual(a.ContentHash, Parse(ChatLine + "\n" + ChatLine.Replace("Hello!", "Hey!") + "\n").ContentHash);
    }

    [Theory]
    [InlineData("{\"messages\": \"hi\"}", "\"messages\" is a string, not an array")]
    [InlineData("{\"messages\": []}", "\"messages\" is empty")]
    [InlineData("{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}]}", "has no assistant message with content")]
    [InlineData("{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"assistant\", \"content\": \" \"}]}", "has no assistant message with content")]
    [InlineData("{\"messages\": [{\"role\": \"tool\", \"content\": \"a\"}, {\"role\": \"assistant\", \"content\": \"b\"}]}", "message 1: role \"tool\" is not one of system, user, assistant")]
    [InlineData("{\"messages\": [{\"role\": \"assistant\", \"content\": \"b\", \"tool_calls\": []}]}", "message 1 has the key \"tool_calls\"")]
    [InlineData("{\"messages\": [{\"role\": \"assistant\", \"content\": [{\"type\": \"text\"}]}]}", "message 1: \"content\" is an array, not a string")]
    [InlineData("{\"messages\": [{\"content\": \"b\"}]}", "message 1 has no \"role\"")]
    [InlineData("{\"messages\": [\"hi\"]}", "message 1 is a string, not an object")]
    [InlineData("{\"messages\": [{\"role\": \"assistant\", \"content\": \"b\"}], \"text\": \"x\"}", "has both \"messages\" and \"text\"")]
    public void Bad_chat_lines_are_reported_with_file_line_and_problem(string line, string problem)
    {
        var e = Assert.Throws<DataException>(() => Parse(ChatLine + "\n" + line + "\n"));
        Assert.Contains("chat.jsonl:2: " + problem, e.Message);
        Assert.Equal(2, e.Line);
    }

    [Fact]
    public void Mixing_chat_and_text_lines_names_the_line_of_the_other_kind()
    {
        var e = Assert.Throws<DataException>(() => Parse(ChatLine + "\n{\"text\": \"plain\"}\n"));
        Assert.Contains("chat.jsonl:2: a text line in a chat (messages) file (line 1 set the kind)", e.Message);
        var e2 = Assert.Throws<DataException>(() => Parse("{\"prompt\": \"p\", \"completion\": \"c\"}\n" + ChatLine + "\n"));
        Assert.Contains("chat.jsonl:2: a chat (messages) line in a prompt/completion file", e2.Message);
    }

    [Fact]
    public void Special_tokens_written_by_a_template_tokenize_to_their_ids()
    {
        var tok = HfTokenizer.FromFolder(TinyFolder);
        var ids = tok.Encode("a</s>\n<s>b<pad>");
        Assert.Contains(298, ids);
        Assert.Contains(297, ids);
        Assert.Contains(299, ids);
        Assert.Equal(tok.Encode("a").Concat(new[] { 298 }).Concat(tok.Encode("\n")).Concat(new[] { 297 }).Concat(tok.Encode("b")).Concat(new[] { 299 }), ids);
    }

    [Theory]
    [InlineData("hello world, it's 2+2=4</s>\n<s>x")]
    [InlineData("  spaces\tand\nnewlines  ")]
    [InlineData("héllo wörld ✓ 😀")]
    public void Offsets_give_the_same_ids_as_encode_and_cover_the_text(string text)
    {
        foreach (ILoraTokenizer tok in new ILoraTokenizer[] { HfTokenizer.FromFolder(TinyFolder), ByteTokenizer.Instance })
        {
            var spans = tok.EncodeWithOffsets(text);
            Assert.Equal(tok.Encode(text), spans.Select(s => s.Id));
            Assert.Equal(0, spans[0].Start);
            Assert.Equal(text.Length, spans[^1].End);
            for (var i = 1; i < spans.Count; i++)
                Assert.True(spans[i].Start >= spans[i - 1].Start && spans[i].Start <= spans[i - 1].End, $"{tok.Name}: token {i} starts at {spans[i].Start} after [{spans[i - 1].Start}, {spans[i - 1].End})");
        }
    }

    [Fact]
    public void Labels_are_exactly_the_assistant_tokens_and_the_template_writes_the_only_bos()
    {
        var tok = HfTokenizer.FromFolder(TinyFolder);
        Assert.True(tok.AddBos); // the tokenizer would add one to plain text
        var example = Example.FromMessages(new[]
        {
            new ChatMessage("system", "Be brief."), new ChatMessage("user", "What is 2+2?"), new ChatMessage("assistant", "4"),
            new ChatMessage("user", "And 3+3?"), new ChatMessage("assistant", " It is 6. "),
        });
        var (ids, labels) = TokenizedDataset.EncodeExample(example, tok);

        // The rendering, by hand from the fixture's template: bos, then "<|role|>\n" + trimmed content + "</s>\n" per turn.
        const string text = "<s><|system|>\nBe brief.</s>\n<|user|>\nWhat is 2+2?</s>\n<|assistant|>\n4</s>\n<|user|>\nAnd 3+3?</s>\n<|assistant|>\nIt is 6.</s>\n";
        Assert.Equal(tok.Encode(text).Select(i => (long)i), ids);
        Assert.Equal(297, ids[0]);
        Assert.Equal(1, ids.Count(i => i == 297));

        // Targets: each answer, its </s> and the newline after it; nothing else.
        var expected = Enumerable.Repeat(TokenizedDataset.IgnoreIndex, 0).ToList();
        var at = 0;
        foreach (var (prompt, answer) in new[]
                 {
                     ("<s><|system|>\nBe brief.</s>\n<|user|>\nWhat is 2+2?</s>\n<|assistant|>\n", "4</s>\n"),
                     ("<|user|>\nAnd 3+3?</s>\n<|assistant|>\n", "It is 6.</s>\n"),
                 })
        {
            expected.AddRange(tok.Encode(prompt).Select(_ => TokenizedDataset.IgnoreIndex));
            expected.AddRange(tok.Encode(answer).Select(i => (long)i));
            at += prompt.Length + answer.Length;
        }
        Assert.Equal(text.Length, at);
        Assert.Equal(expected, labels);
        Assert.Equal("4\nIt is 6.\n", tok.Decode(labels.Where(l => l != TokenizedDataset.IgnoreIndex).Select(l => (int)l).ToArray()));
    }

    [Fact]
    public void With_the_byte_tokenizer_and_a_real_template_labels_cover_exactly_the_answer_characters()
    {
        var template = RealChatTemplateTests.Template("qwen2.5-instruct.jinja", null, "<|im_end|>");
        var example = Example.FromMessages(RealChatTemplateTests.Conversation);
        var (ids, labels) = TokenizedDataset.EncodeExample(example, ByteTokenizer.Instance, template);
        var text = template.Render(RealChatTemplateTests.Conversation, false);
        Assert.Equal(Encoding.UTF8.GetBytes(text).Select(b => (long)b), ids); // no bos, no eos added
        var targets = Encoding.UTF8.GetString(labels.Where(l => l != TokenizedDataset.IgnoreIndex).Select(l => (byte)l).ToArray());
        Assert.Equal("4<|im_end|>\nIt is 6. <|im_end|>\n", targets);
        var first = text.IndexOf("4<|im_end|>", StringComparison.Ordinal);
        Assert.All(Enumerable.Range(0, first), i => Assert.Equal(TokenizedDataset.IgnoreIndex, labels[i]));
    }

    [Fact]
    public void A_model_without_a_chat_template_is_an_error_naming_the_file_and_the_fix()
    {
        using var tmp = new TempFolder();
        foreach (var f in Directory.GetFiles(TinyFolder)) File.Copy(f, Path.Combine(tmp.Path, Path.GetFileName(f)));
        var config = Path.Combine(tmp.Path, "tokenizer_config.json");
        File.WriteAllText(config, File.ReadAllText(config).Replace("\"chat_template\"", "\"unused_template\""));
        var tok = HfTokenizer.FromFolder(tmp.Path);
        var data = Parse(ChatLine + "\n");
        var e = Assert.Throws<DataException>(() => TokenizedDataset.Create(data, tok, 64, SequenceMode.Pack));
        Assert.Contains($"'{config}' has no \"chat_template\"", e.Message);
        Assert.Contains("instruct/chat version", e.Message);
        Assert.Equal(config, e.File);

        // chat_template.jinja beside it is used, as transformers does.
        File.WriteAllText(Path.Combine(tmp.Path, ChatTemplate.JinjaFileName), "{% for m in messages %}{{ m.content }}{% endfor %}");
        var rows = TokenizedDataset.Create(data, HfTokenizer.FromFolder(tmp.Path), 64, SequenceMode.Pad);
        Assert.Equal(HfTokenizer.FromFolder(tmp.Path).Encode("Be brief.HiHello!").Length, rows.Row(0).AttentionMask.Count(m => m == 1));
    }

    [Fact]
    public void The_builtin_byte_tokenizer_refuses_chat_data_with_the_fix()
    {
        var e = Assert.Throws<DataException>(() => TokenizedDataset.Create(Parse(ChatLine + "\n"), ByteTokenizer.Instance, 64, SequenceMode.Pack));
        Assert.Contains("has none", e.Message);
        Assert.Contains("chat_template", e.Message);
    }

    [Fact]
    public void A_template_that_fails_on_a_conversation_names_the_template_line_and_the_data_line()
    {
        var template = RealChatTemplateTests.Template("mistral-7b-instruct-v0.3.jinja", "<s>", "</s>");
        var data = Parse("{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"user\", \"content\": \"b\"}, {\"role\": \"assistant\", \"content\": \"c\"}]}\n");
        var e = Assert.Throws<DataException>(() => TokenizedDataset.Create(data, ByteTokenizer.Instance, 64, SequenceMode.Pack, template));
        Assert.Contains("the conversation on line 1: chat template mistral-7b-instruct-v0.3.jinja:", e.Message);
        Assert.Contains("roles must alternate", e.Message);
    }

    [Fact]
    public void A_malformed_template_is_an_error_with_its_file_and_line()
    {
        using var tmp = new TempFolder();
        var config = Path.Combine(tmp.Path, "tokenizer_config.json");
        File.WriteAllText(config, "{\"chat_template\": \"{% for m in messages %}\\n{{ m.content }\\n{% endfor %}\"}");
        var e = Assert.Throws<DataException>(() => ChatTemplate.Load(tmp.Path));
        Assert.Contains($"{config} (chat_template):2:", e.Message);
        Assert.Equal(2, e.Line);
    }
}
