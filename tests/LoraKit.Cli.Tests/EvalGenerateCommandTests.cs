using System;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.Json;
using LoraKit.Data;
using Xunit;

namespace LoraKit.Cli.Tests;

/// <summary>`lorakit eval` and `lorakit generate` on the hf-reference checkpoints, held against transformers 5.17's figures (Fixtures/hf-reference/transformers5).</summary>
public sealed class EvalGenerateCommandTests
{
    private static readonly string Root = Path.Combine(AppContext.BaseDirectory, "Fixtures", "hf-reference");
    private static string F(string name) => Path.Combine(Root, name);
    private static string Data(string file) => Path.Combine(Root, "data", file);

    private static JsonElement Reference(string kind, string model) =>
        JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Root, "transformers5", kind, model + ".json"))).RootElement;

    [Fact]
    public void Eval_prints_base_and_adapters_side_by_side_with_transformers_losses()
    {
        var r = CliRunner.Run("eval", "--base", F("tiny-qwen2"), "--adapter", F("peft-qwen2-r4"), "--data", Data("tiny-pc.jsonl"), "--device", "cpu");
        Assert.True(r.ExitCode == 0, r.Err);
        var lines = r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains("0 lines truncated", lines[0]);
        foreach (var (label, reference) in new[] { ("tiny-qwen2 (base)", "tiny-qwen2"), ("peft-qwen2-r4", "peft-qwen2-r4") })
        {
            var row = lines.Single(l => l.StartsWith(label + " ", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var loss = double.Parse(row[^2], CultureInfo.InvariantCulture);
            var expected = Reference("eval", reference).GetProperty("prompt_completion").GetProperty("mean_loss").GetDouble();
            Assert.InRange(Math.Abs(loss - expected), 0, 1e-5 + 5e-7); // printed to 6 decimals
            Assert.InRange(Math.Abs(double.Parse(row[^1], CultureInfo.InvariantCulture) - Math.Exp(expected)), 0, 0.01);
        }
    }

    [Fact]
    public void Eval_json_holds_every_lines_loss_and_truncation_is_counted()
    {
        var r = CliRunner.Run("eval", "--base", F("tiny-llama"), "--adapter", F("peft-llama-r4"), "--data", Data("tiny.jsonl"), "--json", "--device", "cpu");
        Assert.True(r.ExitCode == 0, r.Err);
        var json = JsonDocument.Parse(r.Out).RootElement;
        Assert.Equal(240, json.GetProperty("lines").GetInt32());
        var results = json.GetProperty("results").EnumerateArray().ToList();
        Assert.Equal(JsonValueKind.Null, results[0].GetProperty("adapter").ValueKind);
        Assert.Equal("peft-llama-r4", results[1].GetProperty("adapter").GetString());
        foreach (var (result, reference) in results.Zip(new[] { "tiny-llama", "peft-llama-r4" }))
        {
            var expected = Reference("eval", reference).GetProperty("text");
            Assert.Equal(expected.GetProperty("tokens").GetInt64(), result.GetProperty("tokens").GetInt64());
            var ours = result.GetProperty("examples").EnumerateArray().ToList();
            var theirs = expected.GetProperty("examples").EnumerateArray().ToList();
            Assert.Equal(theirs.Count, ours.Count);
            Assert.Equal(Enumerable.Range(1, 240), ours.Select(e => e.GetProperty("line").GetInt32()));
            for (var i = 0; i < ours.Count; i++)
                Assert.InRange(Math.Abs(ours[i].GetProperty("mean_loss").GetDouble() - theirs[i].GetProperty("mean_loss").GetDouble()), 0, 1e-5);
        }

        var cut = CliRunner.Run("eval", "--base", F("tiny-llama"), "--data", Data("tiny.jsonl"), "--seq-len", "16", "--device", "cpu");
        Assert.True(cut.ExitCode == 0, cut.Err);
        var longer = Reference("eval", "tiny-llama").GetProperty("text").GetProperty("examples").EnumerateArray().Count(e => e.GetProperty("tokens").GetInt32() > 15);
        Assert.Contains($"{longer} lines truncated to --seq-len 16", cut.Out);
    }

    [Fact]
    public void Eval_scores_only_the_assistant_turns_of_chat_lines_with_the_models_template()
    {
        // tiny-llama's weights with the chat tokenizer fixture (tiny-llama's tokenizer + a Zephyr-style chat_template).
        var model = Path.Combine(Path.GetTempPath(), "lorakit-cli-tests", "chat-model-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(model);
        foreach (var file in Directory.GetFiles(F("tiny-llama"))) File.Copy(file, Path.Combine(model, Path.GetFileName(file)));
        var chatTokenizer = Path.Combine(AppContext.BaseDirectory, "Fixtures", "tiny-llama-chat-tokenizer");
        foreach (var name in new[] { "tokenizer.json", "tokenizer_config.json" })
            File.Copy(Path.Combine(chatTokenizer, name), Path.Combine(model, name), overwrite: true);
        var chat = CliRunner.WriteTemp("chat.jsonl",
            "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"the cat\"}]}\n");
        var r = CliRunner.Run("eval", "--base", model, "--data", chat, "--json", "--device", "cpu");
        Assert.True(r.ExitCode == 0, r.Err);
        using var doc = JsonDocument.Parse(r.Out);
        var example = doc.RootElement.GetProperty("results")[0].GetProperty("examples")[0];
        // The template writes "<|assistant|>\nthe cat</s>\n": the answer, its end-of-turn token and the newline are
        // scored, nothing of the user turn or the header.
        var expected = LoraKit.Data.HfTokenizer.FromFolder(model).Encode("the cat</s>\n").Length;
        Assert.Equal(expected, example.GetProperty("tokens").GetInt32());

        // A model without a chat template: the error names its tokenizer_config.json.
        r = CliRunner.Run("eval", "--base", F("tiny-llama"), "--data", chat);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("tokenizer_config.json", r.Err);
    }

    [Fact]
    public void Eval_refuses_bad_lines_with_file_and_line()
    {
        var bad = CliRunner.WriteTemp("bad.jsonl", "{\"text\": \"ok\"}\n{\"text\": 5}\n");
        var r = CliRunner.Run("eval", "--base", F("tiny-llama"), "--data", bad);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains($"{bad}:2", r.Err);
    }

    [Fact]
    public void Generate_streams_transformers_greedy_answer()
    {
        var example = Reference("generate", "peft-llama-r4").GetProperty("greedy")[1];
        var ids = example.GetProperty("new_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var expected = HfTokenizer.FromFolder(F("tiny-llama")).Decode(ids.Where(i => i != 298).ToArray());
        var r = CliRunner.Run("generate", "--base", F("tiny-llama"), "--adapter", F("peft-llama-r4"), "--prompt", example.GetProperty("prompt").GetString()!,
            "--max-new-tokens", "32", "--device", "cpu");
        Assert.True(r.ExitCode == 0, r.Err);
        Assert.Equal(expected + Environment.NewLine, r.Out);
        Assert.Contains($"{ids.Length} tokens in", r.Err);
    }

    [Fact]
    public void Generate_with_a_prompts_file_writes_one_json_object_per_prompt()
    {
        var reference = Reference("generate", "tiny-mistral").GetProperty("greedy");
        var prompts = CliRunner.WriteTemp("prompts.jsonl",
            JsonSerializer.Serialize(new { prompt = reference[0].GetProperty("prompt").GetString() }) + "\n\n" +
            JsonSerializer.Serialize(new { prompt = reference[2].GetProperty("prompt").GetString(), id = 7 }) + "\n");
        var r = CliRunner.Run("generate", "--base", F("tiny-mistral"), "--prompts", prompts, "--max-new-tokens", "32", "--no-cache", "--device", "cpu");
        Assert.True(r.ExitCode == 0, r.Err);
        var lines = r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(new[] { 1, 3 }, lines.Select(l => l.GetProperty("line").GetInt32()));
        var tokenizer = HfTokenizer.FromFolder(F("tiny-mistral"));
        foreach (var (line, index) in lines.Zip(new[] { 0, 2 }))
        {
            var ids = reference[index].GetProperty("new_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            Assert.Equal(tokenizer.Decode(ids.Where(i => i != 298).ToArray()), line.GetProperty("completion").GetString());
            Assert.Equal(ids.Length, line.GetProperty("new_tokens").GetInt32());
            Assert.Equal(ids.Contains(298) ? "eos" : "max_new_tokens", line.GetProperty("stop_reason").GetString());
        }
    }

    [Theory]
    [InlineData(false, false, null)]
    [InlineData(true, true, null)]
    [InlineData(true, false, "--chat")]
    [InlineData(true, false, "--top-p=1.5")]
    public void Generate_refuses_bad_usage(bool prompt, bool prompts, string? extra)
    {
        var args = new System.Collections.Generic.List<string> { "generate", "--base", F("tiny-llama") };
        if (prompt) args.AddRange(new[] { "--prompt", "hi" });
        if (prompts) args.AddRange(new[] { "--prompts", Data("tiny-pc.jsonl") });
        if (extra is not null) args.Add(extra);
        var r = CliRunner.Run(args.ToArray());
        Assert.Equal(2, r.ExitCode);
        Assert.StartsWith("error: ", r.Err);
    }
}
