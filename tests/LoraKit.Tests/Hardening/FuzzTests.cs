using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using LoraKit.Builtin;
using LoraKit.Data;
using LoraKit.Models;
using Xunit;

namespace LoraKit.Tests.Hardening;

/// <summary>
/// Property-based fuzzing of the four file families strangers hand LoraKit (issue 25): JSONL lines, config.json,
/// tokenizer.json (with tokenizer_config.json) and chat templates, mutated from real files. Each input must end in
/// a clean error that names it, or be accepted correctly — checked against an independent reading — within the
/// contract's time and memory limits (<see cref="Fuzzing.Contract"/>). Seeded; eng/fuzz.sh runs other seeds and more.
/// </summary>
public class FuzzTests
{
    private static string Fixture(params string[] parts) => Path.Combine([AppContext.BaseDirectory, "Fixtures", .. parts]);

    // ---- JSONL ----

    private static readonly string[] JsonlBases =
    {
        "{\"text\": \"The quick brown fox.\"}",
        "{\"prompt\": \"2 + 2 =\", \"completion\": \" 4\", \"id\": 7}",
        "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", \"content\": \"Hi é 𝄞\"}, {\"role\": \"assistant\", \"content\": \"Hello.\"}]}",
        "{\"text\": \"line one\\nline two \\\"quoted\\\" \\u00e9\", \"meta\": {\"source\": \"web\", \"tags\": [\"a\", \"b\"]}}",
    };

    [Fact]
    public void Jsonl_lines_are_a_clean_error_or_read_exactly()
    {
        var i = 0;
        foreach (var (b, edits) in Fuzzing.Draw(Fuzzing.Cases(JsonlBases.Length, new[] { "\"messages\": []", "\"content\": null", "\"text\": \"\\ud800\"" }), Fuzzing.Iterations(400), 1))
        {
            var input = edits.Aggregate(Encoding.UTF8.GetBytes(JsonlBases[b] + "\n" + JsonlBases[(b + 1) % JsonlBases.Length] + "\n"), (x, m) => m.Apply(x));
            Fuzzing.Contract("jsonl", i++, string.Join("; ", edits.Select(e => e.ToString())), input, "fuzz.jsonl", () =>
            {
                var dataset = JsonlDataset.Parse("fuzz.jsonl", input, maxBadLines: int.MaxValue);
                var lines = input.AsSpan().StartsWith(new byte[] { 0xEF, 0xBB, 0xBF }) ? input[3..] : input;
                var text = Encoding.UTF8.GetString(lines).Split('\n');
                foreach (var e in dataset.Examples) AssertReadExactly(text[e.Line - 1].TrimEnd('\r'), e);
            }, e => e is DataException);
        }
    }

    /// <summary>An accepted line is one System.Text.Json's node reader (which refuses a key twice and a lone surrogate when read) reads to the same strings.</summary>
    private static void AssertReadExactly(string line, Example e)
    {
        var node = JsonNode.Parse(line)!.AsObject();
        var strings = new List<string>();
        void Walk(JsonNode? n)
        {
            switch (n)
            {
                case JsonObject o:
                    foreach (var (_, v) in o) Walk(v);
                    break;
                case JsonArray a:
                    foreach (var v in a) Walk(v);
                    break;
                case JsonValue v when v.GetValueKind() == JsonValueKind.String:
                    strings.Add(v.GetValue<string>());
                    break;
            }
        }
        Walk(node);
        foreach (var s in e.Messages?.Select(m => m.Content) ?? new[] { e.Text, e.Prompt, e.Completion }.Where(x => x is not null)!)
        {
            Assert.Contains(s, strings);
            Assert.True(s!.Normalize() is not null && !HasLoneSurrogate(s), $"accepted a string with a lone surrogate on line {e.Line}");
        }
    }

    private static bool HasLoneSurrogate(string s)
    {
        for (var i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1])) i++;
            else if (char.IsSurrogate(s[i])) return true;
        }
        return false;
    }

    // ---- config.json ----

    [Fact]
    public void Config_json_is_a_clean_error_or_a_model_whose_size_is_computed_exactly()
    {
        var bases = new[] { "tiny-llama", "tiny-qwen2", "tiny-mistral" }.Select(m => File.ReadAllText(Fixture("hf-reference", m, "config.json"))).ToArray();
        var snippets = new[] { "\"hidden_size\": 64, ", "\"rope_scaling\": {\"type\": \"linear\", \"factor\": 2.0}, ", "\"sliding_window\": 4, ", "\"head_dim\": 1048576, " };
        var i = 0;
        foreach (var (b, edits) in Fuzzing.Draw(Fuzzing.Cases(bases.Length, snippets), Fuzzing.Iterations(400), 2))
        {
            var input = edits.Aggregate(Encoding.UTF8.GetBytes(bases[b]), (x, m) => m.Apply(x));
            Fuzzing.Contract("config.json", i++, string.Join("; ", edits.Select(e => e.ToString())), input, "fuzz/config.json", () =>
            {
                var text = DecodeOrRefuse(input, "fuzz/config.json");
                var dims = HfConfig.Parse(text, "fuzz/config.json");
                var shape = ModelShape.FromLlama("fuzz", dims, "fuzz/config.json");
                // Exactness where an overflow would hide: the count again in arbitrary precision.
                System.Numerics.BigInteger expected = (System.Numerics.BigInteger)dims.VocabSize * dims.HiddenSize
                    + ((System.Numerics.BigInteger)2 * dims.HiddenSize + (dims.QkNorm ? 2 * dims.EffectiveHeadDim : 0)) * dims.Layers + dims.HiddenSize;
                foreach (var l in shape.Linears)
                    expected += ((l.SharesWeight ? 0 : (System.Numerics.BigInteger)l.InFeatures * l.OutFeatures) + (l.HasBias ? l.OutFeatures : 0)) * l.Count;
                Assert.Equal(expected, (System.Numerics.BigInteger)shape.TotalParameters);
                ModelSize.RequireFits(shape, 4, 64L << 30, "fuzz/config.json", "64 GiB of RAM");
            }, e => e is ModelDescriptionException);
        }
    }

    /// <summary>config.json as Core reads it from disk (<see cref="LoraKit.IO.InputFile.DecodeUtf8"/>): invalid UTF-8 is a LORA2003.</summary>
    private static string DecodeOrRefuse(byte[] input, string name)
    {
        try
        {
            return LoraKit.IO.InputFile.DecodeUtf8(input, name, "model config");
        }
        catch (LoraKit.IO.InputFileException e)
        {
            throw new ModelDescriptionException(LoraKit.Rules.DiagnosticIds.UnreadableConfig, name, null, e.Message, "fix it", e.Line);
        }
    }

    // ---- tokenizer.json and tokenizer_config.json ----

    [Fact]
    public void Tokenizer_files_are_a_clean_error_or_a_tokenizer_whose_ids_fit_the_model()
    {
        var source = Fixture("hf-reference", "tiny-llama");
        var tokenizerJson = File.ReadAllBytes(Path.Combine(source, "tokenizer.json"));
        var tokenizerConfig = File.ReadAllBytes(Path.Combine(source, "tokenizer_config.json"));
        var snippets = new[] { "\"type\": 5, ", "\"id\": \"3\", ", "\"id\": 4000000000, ", "\"vocab\": [], ", "\"Regex\": \"(a+)+$\", ", "\"bos_token\": 12, " };
        var folder = Path.Combine(Path.GetTempPath(), "lorakit-fuzz-tokenizer", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        File.Copy(Path.Combine(source, "config.json"), Path.Combine(folder, "config.json"));
        var i = 0;
        try
        {
            foreach (var (b, edits) in Fuzzing.Draw(Fuzzing.Cases(2, snippets), Fuzzing.Iterations(150), 3))
            {
                // Base 0 mutates tokenizer.json, base 1 tokenizer_config.json.
                var input = edits.Aggregate(b == 0 ? tokenizerJson : tokenizerConfig, (x, m) => m.Apply(x));
                var file = b == 0 ? "tokenizer.json" : "tokenizer_config.json";
                File.WriteAllBytes(Path.Combine(folder, "tokenizer.json"), b == 0 ? input : tokenizerJson);
                File.WriteAllBytes(Path.Combine(folder, "tokenizer_config.json"), b == 1 ? input : tokenizerConfig);
                Fuzzing.Contract(file, i++, string.Join("; ", edits.Select(e => e.ToString())), input, folder, () =>
                {
                    var tokenizer = BaseModelSource.Open(folder).Tokenizer;
                    foreach (var text in new[] { "Hello world", "é 𝄞 <s> </s>", "" })
                        Assert.All(tokenizer.Encode(text), id => Assert.InRange(id, 0, 299)); // config.json: vocab_size 300
                }, e => e is DataException or ModelDescriptionException or IOException);
            }
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    // ---- chat templates ----

    private static readonly ChatMessage[] Conversation =
    {
        new("system", "Be brief."), new("user", "Hi é 𝄞"), new("assistant", "Hello."), new("user", "2+2?"), new("assistant", "4"),
    };

    [Fact]
    public void Chat_templates_render_or_stop_with_a_named_error()
    {
        var files = new[] { "llama-3.1-8b-instruct.jinja", "qwen2.5-instruct.jinja", "mistral-7b-instruct-v0.3.jinja", "smollm2-instruct.jinja", "zephyr-7b-beta.jinja" };
        var bases = files.Select(f => File.ReadAllText(Fixture("chat-templates", f))).ToArray();
        var snippets = new[]
        {
            "{{ range(10**9) | length }}", "{% macro r(n) %}{{ r(n) }}{% endmacro %}{{ r(1) }}", "{{ 'x' * 10**9 }}", "{{ 2 ** 100 }}",
            "{% for a in range(99999) %}{% for b in range(99999) %}{% endfor %}{% endfor %}", "((((((((((((", "))))", "{{", "}}", "{%", "%}", "{% endif %}",
            "{% if true %}", "{% for m in messages %}", "{% endfor %}", "{{ messages[0]['content'] * 999999999 }}", "{{ loop.cycle() }}",
            "{{ raise_exception('no') }}", "{% set ns.x = 1 %}", "|tojson(indent=99)", " ~ ", " + ", "[::-1]", "[9223372036854775807]",
            "{{ 9223372036854775807 + 1 }}", "{{ (messages * 2) | length }}", "{# ", " #}", "{%- ", " -%}", "'", "\"", "\\",
        };
        var specials = new Dictionary<string, string> { ["bos_token"] = "<s>", ["eos_token"] = "</s>" };
        var i = 0;
        foreach (var (b, edits) in Fuzzing.Draw(Fuzzing.Cases(bases.Length, snippets), Fuzzing.Iterations(300), 4))
        {
            var input = edits.Aggregate(Encoding.UTF8.GetBytes(bases[b]), (x, m) => m.Apply(x));
            Fuzzing.Contract("chat template", i++, string.Join("; ", edits.Select(e => e.ToString())), input, "fuzz.jinja", () =>
            {
                var template = ChatTemplate.FromString(Encoding.UTF8.GetString(input), "fuzz.jinja", specials);
                template.Clock = () => new DateTime(2024, 7, 26);
                template.Render(Conversation, addGenerationPrompt: true);
                template.RenderForTraining(Conversation);
            }, e => e is DataException);
        }
    }

    // ---- the regression corpus ----

    [Fact]
    public void Every_hostile_template_of_the_corpus_stops_with_its_named_limit()
    {
        var files = Directory.GetFiles(Fixture("hostile", "templates"), "*.jinja");
        Assert.NotEmpty(files);
        foreach (var file in files)
        {
            var limit = Path.GetFileNameWithoutExtension(file).Split('.')[^1].Replace('-', ' ');
            var input = File.ReadAllBytes(file);
            Fuzzing.Contract("corpus", 0, Path.GetFileName(file), input, Path.GetFileName(file), () =>
            {
                var e = Assert.Throws<LoraKit.Data.Jinja.JinjaException>(() =>
                    LoraKit.Data.Jinja.JinjaTemplate.Parse(Encoding.UTF8.GetString(input), Path.GetFileName(file)).Render(new Dictionary<string, object?>()));
                Assert.Equal(limit, e.Limit);
            }, _ => false);
        }
    }
}
