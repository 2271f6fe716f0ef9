using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using Xunit;

namespace LoraKit.Cli.Tests;

/// <summary>
/// Issue 25's crash classes through the real `lorakit` process (LoraKit.Cli.dll beside the tests, run with dotnet):
/// each ends with the documented exit code and an "error" line naming the file and the problem — never a stack
/// trace, an unhandled exception, a native error or a process killed by a stack overflow.
/// </summary>
public sealed class HostileInputProcessTests
{
    private static readonly string Root = Path.Combine(AppContext.BaseDirectory, "Fixtures", "hf-reference");

    private sealed record ProcessResult(int ExitCode, string Out, string Err);

    private static ProcessResult Lorakit(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "LoraKit.Cli.dll"));
        foreach (var a in args) start.ArgumentList.Add(a);
        start.Environment.Remove("LORAKIT_STACKTRACE");
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        // A hang detector, not a speed target: the slowest of these finishes in seconds.
        if (!process.WaitForExit(120_000))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"lorakit {string.Join(' ', args)} hung");
        }
        return new ProcessResult(process.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>The clean-error contract: exit 2, an error line that names <paramref name="mentions"/>, nothing of a crash.</summary>
    private static string AssertCleanError(ProcessResult r, params string[] mentions)
    {
        var all = r.Out + r.Err;
        Assert.True(r.ExitCode == ExitCodes.BadInput, $"exit {r.ExitCode}\n{all}");
        Assert.DoesNotContain("   at ", all);
        Assert.DoesNotContain("Unhandled exception", all);
        Assert.DoesNotContain("Stack overflow", all);
        Assert.DoesNotContain("Exception:", all);
        var error = r.Err.Split('\n').First(l => l.StartsWith("error", StringComparison.Ordinal));
        foreach (var m in mentions) Assert.Contains(m, error);
        return error;
    }

    private static string ModelCopy(string model)
    {
        var dir = Path.Combine(Path.GetTempPath(), "lorakit-hostile", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        foreach (var f in Directory.GetFiles(Path.Combine(Root, model))) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
        return dir;
    }

    private static string Edit(string file, string from, string to)
    {
        var text = File.ReadAllText(file);
        Assert.Contains(from, text);
        File.WriteAllText(file, text.Replace(from, to, StringComparison.Ordinal));
        return file;
    }

    [Fact]
    public void A_lone_surrogate_escape_in_a_JSONL_line_is_a_bad_line()
    {
        var data = CliRunner.WriteTemp("lone.jsonl", "{\"text\": \"ok\"}\n{\"text\": \"a\\ud800b\"}\n");
        AssertCleanError(Lorakit("eval", "--base", Path.Combine(Root, "tiny-llama"), "--data", data, "--device", "cpu"), data + ":2:", "lone UTF-16 surrogate");
    }

    [Fact]
    public void A_device_as_the_data_file_is_refused_without_reading_it()
    {
        if (!File.Exists("/dev/zero")) return; // Linux and macOS have it; the check is the same elsewhere
        AssertCleanError(Lorakit("eval", "--base", Path.Combine(Root, "tiny-llama"), "--data", "/dev/zero", "--device", "cpu"), "/dev/zero", "not a regular file");
    }

    [Theory]
    [InlineData("\"hidden_size\": 64", "\"hidden_size\": 1073741824", "hidden_size")]
    [InlineData("\"vocab_size\": 300", "\"vocab_size\": 2147483647", "vocab_size")]
    [InlineData("\"num_hidden_layers\": 3", "\"num_hidden_layers\": 2000000000", "num_hidden_layers")]
    public void Absurd_sizes_in_config_json_are_LORA2001_naming_the_key(string from, string to, string key)
    {
        var model = ModelCopy("tiny-llama");
        var config = Edit(Path.Combine(model, "config.json"), from, to);
        AssertCleanError(Lorakit("budget", "--config", config), "LORA2001", key);
        AssertCleanError(Lorakit("eval", "--base", model, "--data", Path.Combine(Root, "data", "tiny.jsonl"), "--device", "cpu"), "LORA2001", key);
    }

    [Fact]
    public void A_model_larger_than_this_machine_is_LORA2006_before_anything_is_allocated()
    {
        var model = ModelCopy("tiny-llama");
        var config = Path.Combine(model, "config.json");
        Edit(config, "\"hidden_size\": 64", "\"hidden_size\": 1048576");
        Edit(config, "\"intermediate_size\": 176", "\"intermediate_size\": 1048576");
        Edit(config, "\"num_attention_heads\": 4", "\"num_attention_heads\": 1024");
        Edit(config, "\"num_key_value_heads\": 2", "\"num_key_value_heads\": 1024");
        var error = AssertCleanError(Lorakit("eval", "--base", model, "--data", Path.Combine(Root, "data", "tiny.jsonl"), "--device", "cpu"), "LORA2006", config);
        Assert.Contains("RAM", error);
    }

    [Fact]
    public void A_duplicate_key_deep_in_config_json_is_refused()
    {
        var model = ModelCopy("tiny-llama");
        var config = Edit(Path.Combine(model, "config.json"), "\"rope_scaling\": null", "\"rope_scaling\": {\"type\": \"linear\", \"factor\": 2.0, \"factor\": 4.0}");
        AssertCleanError(Lorakit("budget", "--config", config), "LORA2003", "factor", "appears twice");
    }

    [Fact]
    public void Token_ids_beyond_the_models_vocabulary_are_refused_naming_both_files()
    {
        var model = ModelCopy("tiny-llama");
        var config = Edit(Path.Combine(model, "config.json"), "\"vocab_size\": 300", "\"vocab_size\": 100");
        AssertCleanError(Lorakit("eval", "--base", model, "--data", Path.Combine(Root, "data", "tiny.jsonl"), "--device", "cpu"), config, "vocab_size 100");
    }

    [Fact]
    public void A_chat_template_that_recurses_forever_stops_at_the_sandbox_limit()
    {
        var model = ModelCopy("tiny-llama");
        var tc = Path.Combine(model, "tokenizer_config.json");
        Edit(tc, "\"tokenizer_class\"", "\"chat_template\": \"{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}\\n{{ f(0) }}\", \"tokenizer_class\"");
        AssertCleanError(Lorakit("generate", "--base", model, "--prompt", "hi", "--chat", "--max-new-tokens", "1", "--device", "cpu"),
            "tokenizer_config.json (chat_template):1:", "sandbox limit 'depth'");
    }

    [Fact]
    public void Weights_that_do_not_match_config_json_name_both_files()
    {
        var model = ModelCopy("tiny-llama");
        var config = Edit(Path.Combine(model, "config.json"), "\"intermediate_size\": 176", "\"intermediate_size\": 192");
        AssertCleanError(Lorakit("eval", "--base", model, "--data", Path.Combine(Root, "data", "tiny.jsonl"), "--device", "cpu"),
            config, Path.Combine(model, "model.safetensors"), "mlp.up_proj.weight");
    }
}
