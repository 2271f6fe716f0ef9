using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using LoraKit.Data;
using Xunit;

namespace LoraKit.Tests.Data.Chat;

/// <summary>
/// The published chat templates of five model families (Fixtures/chat-templates, see PROVENANCE.md there) render a
/// fixed conversation to the exact strings below. The expected strings were written by hand from each template's
/// semantics under Hugging Face's settings (trim_blocks, lstrip_blocks); where a public page prints a rendering, that
/// page is the outside check (cited at the test).
/// </summary>
public class RealChatTemplateTests
{
    internal static string TemplatePath(string file) => Path.Combine(AppContext.BaseDirectory, "Fixtures", "chat-templates", file);

    internal static ChatTemplate Template(string file, string? bos = null, string? eos = null)
    {
        var specials = new Dictionary<string, string>();
        if (bos is not null) specials["bos_token"] = bos;
        if (eos is not null) specials["eos_token"] = eos;
        return ChatTemplate.FromString(File.ReadAllText(TemplatePath(file)), file, specials);
    }

    // system + user + assistant + user + assistant; the last answer ends in a space, which Llama and Mistral trim.
    internal static readonly ChatMessage[] Conversation =
    {
        new("system", "You are a terse assistant."),
        new("user", "What is 2+2?"),
        new("assistant", "4"),
        new("user", "And 3+3?"),
        new("assistant", "It is 6. "),
    };

    private static ChatMessage[] Prompt => Conversation[..4];

    public static IEnumerable<object[]> Cases() => new[]
    {
        new object[]
        {
            "llama-3.1-8b-instruct.jinja", "<|begin_of_text|>", "<|eot_id|>",
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n" +
            "You are a terse assistant.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>" +
            "<|start_header_id|>assistant<|end_header_id|>\n\n4<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nAnd 3+3?<|eot_id|>" +
            "<|start_header_id|>assistant<|end_header_id|>\n\nIt is 6.<|eot_id|>",
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n" +
            "You are a terse assistant.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>" +
            "<|start_header_id|>assistant<|end_header_id|>\n\n4<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nAnd 3+3?<|eot_id|>" +
            "<|start_header_id|>assistant<|end_header_id|>\n\n",
            new[] { "4<|eot_id|>", "It is 6.<|eot_id|>" },
        },
        new object[]
        {
            "qwen2.5-instruct.jinja", null!, "<|im_end|>",
            "<|im_start|>system\nYou are a terse assistant.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>\n" +
            "<|im_start|>user\nAnd 3+3?<|im_end|>\n<|im_start|>assistant\nIt is 6. <|im_end|>\n",
            "<|im_start|>system\nYou are a terse assistant.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>\n" +
            "<|im_start|>user\nAnd 3+3?<|im_end|>\n<|im_start|>assistant\n",
            new[] { "4<|im_end|>\n", "It is 6. <|im_end|>\n" },
        },
        new object[]
        {
            // Mistral v0.3 moves the system message into the *last* user turn: a conversation that ends with the assistant loses it.
            "mistral-7b-instruct-v0.3.jinja", "<s>", "</s>",
            "<s>[INST] What is 2+2?[/INST] 4</s>[INST] And 3+3?[/INST] It is 6.</s>",
            "<s>[INST] What is 2+2?[/INST] 4</s>[INST] You are a terse assistant.\n\nAnd 3+3?[/INST]",
            new[] { "4</s>", "It is 6.</s>" },
        },
        new object[]
        {
            "smollm2-instruct.jinja", "<|im_start|>", "<|im_end|>",
            "<|im_start|>system\nYou are a terse assistant.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>\n" +
            "<|im_start|>user\nAnd 3+3?<|im_end|>\n<|im_start|>assistant\nIt is 6. <|im_end|>\n",
            "<|im_start|>system\nYou are a terse assistant.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>\n" +
            "<|im_start|>user\nAnd 3+3?<|im_end|>\n<|im_start|>assistant\n",
            new[] { "4<|im_end|>\n", "It is 6. <|im_end|>\n" },
        },
        new object[]
        {
            "zephyr-7b-beta.jinja", "<s>", "</s>",
            "<|system|>\nYou are a terse assistant.</s>\n<|user|>\nWhat is 2+2?</s>\n<|assistant|>\n4</s>\n<|user|>\nAnd 3+3?</s>\n<|assistant|>\nIt is 6. </s>\n",
            "<|system|>\nYou are a terse assistant.</s>\n<|user|>\nWhat is 2+2?</s>\n<|assistant|>\n4</s>\n<|user|>\nAnd 3+3?</s>\n<|assistant|>\n",
            new[] { "4</s>\n", "It is 6. </s>\n" },
        },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Renders_the_conversation_exactly(string file, string? bos, string eos, string expected, string expectedPrompt, string[] _)
    {
        var t = Template(file, bos, eos);
        Assert.Equal(expected, t.Render(Conversation, addGenerationPrompt: false));
        Assert.Equal(expectedPrompt, t.Render(Prompt, addGenerationPrompt: true));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Assistant_spans_are_each_answer_and_its_end_of_turn(string file, string? bos, string eos, string expected, string _, string[] spans)
    {
        var r = Template(file, bos, eos).RenderForTraining(Conversation);
        Assert.Equal(expected, r.Text);
        Assert.Equal(spans, r.AssistantSpans.Select(s => r.Text[s.Start..s.End]).ToArray());
    }

    [Fact]
    public void Llama_3_2_dates_the_system_turn_with_strftime_now()
    {
        // Python's strftime("%d %b %Y") for 5 December 2024 is "05 Dec 2024".
        var t = ChatTemplate.FromString(File.ReadAllText(TemplatePath("llama-3.2-1b-instruct.jinja")), "llama-3.2",
            new Dictionary<string, string> { ["bos_token"] = "<|begin_of_text|>", ["eos_token"] = "<|eot_id|>" });
        t.Clock = () => new DateTime(2024, 12, 5, 13, 0, 0, DateTimeKind.Utc);
        var expected = ((string)Cases().First()[3]).Replace("Today Date: 26 Jul 2024", "Today Date: 05 Dec 2024", StringComparison.Ordinal);
        Assert.Contains("Today Date: 05 Dec 2024\n\nYou are a terse assistant.<|eot_id|>", expected);
        Assert.Equal(expected, t.Render(Conversation, false));
        var r = t.RenderForTraining(Conversation);
        Assert.Equal(new[] { "4<|eot_id|>", "It is 6.<|eot_id|>" }, r.AssistantSpans.Select(s => r.Text[s.Start..s.End]));
    }

    [Fact]
    public void Qwen_and_SmolLM_add_their_default_system_turn_when_there_is_none()
    {
        var noSystem = Conversation[1..2];
        Assert.Equal("<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
            Template("qwen2.5-instruct.jinja").Render(noSystem, true));
        Assert.Equal("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
            Template("smollm2-instruct.jinja").Render(noSystem, true));
    }

    [Fact]
    public void Llama_without_a_system_message_still_writes_the_date_header()
    {
        Assert.Equal(
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|>" +
            "<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
            Template("llama-3.1-8b-instruct.jinja", "<|begin_of_text|>").Render(Conversation[1..2], true));
    }

    /// <summary>
    /// Outside check: the Zephyr rendering printed in Hugging Face's chat-templating guide (transformers docs,
    /// "Templates for Chat Models") and on the zephyr-7b-beta model card for this pirate conversation.
    /// </summary>
    [Fact]
    public void Zephyr_matches_the_rendering_in_the_transformers_guide()
    {
        var messages = new[]
        {
            new ChatMessage("system", "You are a friendly chatbot who always responds in the style of a pirate"),
            new ChatMessage("user", "How many helicopters can a human eat in one sitting?"),
        };
        Assert.Equal(
            "<|system|>\nYou are a friendly chatbot who always responds in the style of a pirate</s>\n<|user|>\nHow many helicopters can a human eat in one sitting?</s>\n<|assistant|>\n",
            Template("zephyr-7b-beta.jinja", "<s>", "</s>").Render(messages, true));
    }

    /// <summary>
    /// Outside check: the SmolLM2 rendering printed in Hugging Face's smol-course (module 1, chat templates) for this
    /// conversation.
    /// </summary>
    [Fact]
    public void SmolLM2_matches_the_rendering_in_the_smol_course()
    {
        var messages = new[]
        {
            new ChatMessage("user", "I need help with my order"),
            new ChatMessage("assistant", "I'd be happy to help. Could you provide your order number?"),
            new ChatMessage("user", "It's ORDER-123"),
        };
        Assert.Equal(
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nI need help with my order<|im_end|>\n" +
            "<|im_start|>assistant\nI'd be happy to help. Could you provide your order number?<|im_end|>\n<|im_start|>user\nIt's ORDER-123<|im_end|>\n<|im_start|>assistant\n",
            Template("smollm2-instruct.jinja").Render(messages, true));
    }

    [Fact]
    public void Mistral_refuses_roles_that_do_not_alternate_with_the_templates_own_message()
    {
        var e = Assert.Throws<DataException>(() => Template("mistral-7b-instruct-v0.3.jinja", "<s>", "</s>")
            .Render(new[] { new ChatMessage("user", "a"), new ChatMessage("user", "b") }, false));
        Assert.Contains("conversation roles must alternate user/assistant/user/assistant/...", e.Message);
        Assert.Contains("mistral-7b-instruct-v0.3.jinja:", e.Message);
    }
}
