using System.Text.Json.Nodes;
using LoraKit.Cli;

namespace LoraKit.Gguf.Tests;

/// <summary>`lorakit export gguf`, `lorakit export ollama` and `lorakit inspect file.gguf`, run in-process.</summary>
public class CliTests
{
    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var (o, e) = (new StringWriter(), new StringWriter());
        var code = LoraKitCli.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    [Fact]
    public void Export_gguf_writes_base_adapter_and_merged_and_inspect_reads_them()
    {
        using var temp = new TempFolder();
        var (b, a) = (Fixtures.Folder("tiny-llama"), Fixtures.Folder("peft-llama-r4"));
        var r = Run("export", "gguf", "--base", b, "--out", temp.File("base.gguf"), "--type", "q8_0");
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("model for llama.cpp architecture 'llama'", r.Out);
        Assert.Contains("written as F16", r.Out);
        r = Run("export", "gguf", "--base", b, "--adapter", a, "--out", temp.File("lora.gguf"));
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("LoRA adapter", r.Out);
        Assert.Contains("--lora lora.gguf", r.Out);
        r = Run("export", "gguf", "--base", b, "--adapter", a, "--merge", "--out", temp.File("merged.gguf"));
        Assert.True(r.Code == 0, r.Err);

        r = Run("inspect", temp.File("lora.gguf"));
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("kind        \"adapter\", architecture \"llama\"", r.Out);
        Assert.Contains("adapter.lora.alpha", r.Out);
        Assert.Contains("blk.0.attn_q.weight.lora_b", r.Out);
        r = Run("inspect", temp.File("base.gguf"));
        Assert.Contains("Q8_0", r.Out);
        Assert.Contains("tokenizer.ggml.pre", r.Out);

        // Never overwrites; --merge needs an adapter; refusals are one error line, exit 2.
        Assert.Equal(ExitCodes.BadInput, Run("export", "gguf", "--base", b, "--out", temp.File("base.gguf")).Code);
        Assert.Contains("--merge needs --adapter", Run("export", "gguf", "--base", b, "--merge", "--out", temp.File("x.gguf")).Err);
        var bad = Run("export", "gguf", "--base", b, "--out", temp.File("y.gguf"), "--type", "q4");
        Assert.Equal(ExitCodes.BadInput, bad.Code);
        Assert.Contains("--type q4", bad.Err);
        var damaged = temp.File("damaged.gguf");
        File.WriteAllBytes(damaged, File.ReadAllBytes(temp.File("lora.gguf"))[..100]);
        var d = Run("inspect", damaged);
        Assert.Equal(ExitCodes.BadInput, d.Code);
        Assert.Contains("Invalid GGUF file", d.Err);
    }

    private const string ChatMl =
        "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

    private const string DefaultSystem =
        "{% if messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nYou are helpful.<|im_end|>\\n' }}{% endif %}" + ChatMl;

    [Fact]
    public void Export_ollama_translates_a_fixed_per_role_template_and_refuses_one_with_logic()
    {
        using var temp = new TempFolder();
        var folder = TokenizerAndRefusalTests.CopyModel("tiny-llama", temp.Path);
        SetTemplate(folder, ChatMl);
        var outDir = Path.Combine(temp.Path, "ollama");
        var r = Run("export", "ollama", "--base", folder, "--adapter", Fixtures.Folder("peft-llama-r4"), "--out", outDir);
        Assert.True(r.Code == 0, r.Err);
        var modelfile = File.ReadAllText(Path.Combine(outDir, "Modelfile"));
        Assert.Contains("FROM ./model.gguf\n", modelfile);
        Assert.Contains("ADAPTER ./adapter.gguf\n", modelfile);
        Assert.Contains("PARAMETER stop \"</s>\"\n", modelfile);
        Assert.Contains("TEMPLATE \"\"\"{{ range .Messages }}{{ if eq .Role \"system\" }}<|im_start|>system\n{{ .Content }}<|im_end|>\n" +
                        "{{ else if eq .Role \"user\" }}<|im_start|>user\n{{ .Content }}<|im_end|>\n" +
                        "{{ else if eq .Role \"assistant\" }}<|im_start|>assistant\n{{ .Content }}<|im_end|>\n{{ end }}{{ end }}<|im_start|>assistant\n\"\"\"", modelfile);
        Assert.True(GgufFile.Open(Path.Combine(outDir, "adapter.gguf"))["general.type"]!.AsString() == "adapter");

        SetTemplate(folder, DefaultSystem);
        var outDir2 = Path.Combine(temp.Path, "ollama2");
        r = Run("export", "ollama", "--base", folder, "--out", outDir2);
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("no TEMPLATE: a system turn changes what comes before it", r.Out);
        var second = File.ReadAllText(Path.Combine(outDir2, "Modelfile"));
        Assert.DoesNotContain("TEMPLATE \"", second);
        Assert.Contains("# No TEMPLATE:", second);
        Assert.False(File.Exists(Path.Combine(outDir2, "adapter.gguf")));
    }

    private static void SetTemplate(string folder, string template)
    {
        var path = Path.Combine(folder, "tokenizer_config.json");
        var json = JsonNode.Parse(File.ReadAllText(path))!;
        json["chat_template"] = template;
        File.WriteAllText(path, json.ToJsonString());
    }
}

/// <summary>The template app's LLamaSharp answering path (templates/…/GgufChat.cs) on exported files.</summary>
public class TemplateGgufChatTests
{
    [Fact]
    public void The_template_apps_llamasharp_path_answers_with_the_adapter_as_peft_does()
    {
        using var temp = new TempFolder();
        var (model, lora) = (temp.File("model.gguf"), temp.File("adapter.gguf"));
        GgufExporter.ExportBase(Fixtures.Folder("tiny-llama"), model);
        GgufExporter.ExportAdapter(Fixtures.Folder("tiny-llama"), Fixtures.Folder("peft-llama-r4"), lora);
        using var chat = new LoraKitApp.GgufChat(model, lora, exact: true);
        foreach (var (prompt, promptIds, newIds) in Fixtures.Greedy("peft-llama-r4", out _))
        {
            Assert.Equal(promptIds, chat.Tokenize(prompt));
            Assert.Equal(newIds, chat.GenerateIds(promptIds, newIds.Length).ToArray());
        }
        Assert.False(string.IsNullOrEmpty(string.Concat(chat.Generate("the cat met", 8))));
    }
}
