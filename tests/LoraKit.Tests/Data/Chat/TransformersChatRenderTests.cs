using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using LoraKit.Data;
using Xunit;

namespace LoraKit.Tests.Data.Chat;

/// <summary>
/// LoraKit's Jinja renderer against transformers' own renderer: the five real chat templates, seven conversations
/// (system or not, prefixes, whitespace to trim, non-ASCII), with and without the generation prompt; every string
/// in Fixtures/chat-templates/transformers5 was written by transformers 5.17 (see its PROVENANCE.md).
/// </summary>
public class TransformersChatRenderTests
{
    private static readonly string Folder = RealChatTemplateTests.TemplatePath("transformers5");

    public static IEnumerable<object[]> Templates() => new[]
    {
        new object[] { "llama-3.1-8b-instruct", "<|begin_of_text|>", "<|eot_id|>" },
        new object[] { "qwen2.5-instruct", null!, "<|im_end|>" },
        new object[] { "mistral-7b-instruct-v0.3", "<s>", "</s>" },
        new object[] { "smollm2-instruct", "<|im_start|>", "<|im_end|>" },
        new object[] { "zephyr-7b-beta", "<s>", "</s>" },
    };

    [Theory]
    [MemberData(nameof(Templates))]
    public void Every_conversation_renders_exactly_as_transformers_renders_it(string name, string? bos, string eos)
    {
        var template = RealChatTemplateTests.Template(name + ".jinja", bos, eos);
        using var conversations = JsonDocument.Parse(File.ReadAllText(Path.Combine(Folder, "conversations.json")));
        var messages = conversations.RootElement.EnumerateArray().ToDictionary(
            c => c.GetProperty("name").GetString()!,
            c => c.GetProperty("messages").EnumerateArray()
                .Select(m => new ChatMessage(m.GetProperty("role").GetString()!, m.GetProperty("content").GetString()!)).ToArray());
        using var reference = JsonDocument.Parse(File.ReadAllText(Path.Combine(Folder, name + ".json")));
        var checkedCount = 0;
        foreach (var r in reference.RootElement.GetProperty("results").EnumerateArray())
        {
            var conversation = r.GetProperty("conversation").GetString()!;
            var generationPrompt = r.GetProperty("add_generation_prompt").GetBoolean();
            Assert.True(r.TryGetProperty("rendered", out var expected), $"{name}/{conversation}: transformers raised {r}");
            Assert.Equal(expected.GetString(), template.Render(messages[conversation], generationPrompt));
            checkedCount++;
        }
        Assert.Equal(2 * messages.Count, checkedCount);
    }
}
