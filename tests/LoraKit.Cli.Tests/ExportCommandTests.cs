using System;
using System.Diagnostics;
using System.IO;
using System.Text.Json;
using LoraKit.Cli.Commands;
using LoraKit.Peft;
using Xunit;

namespace LoraKit.Cli.Tests;

/// <summary>`lorakit export accelerate`: the PEFT config, the script and the accelerate config, read back by PEFT's format and by Python.</summary>
public class ExportCommandTests
{
    private static string Adapter()
    {
        var dir = Path.Combine(Path.GetTempPath(), "lorakit-export-tests", Guid.NewGuid().ToString("N"), "support");
        Directory.CreateDirectory(dir);
        new PeftAdapterConfig
        {
            R = 16, LoraAlpha = 32, LoraDropout = 0.05, TargetModules = PeftTargetModules.FromNames(new[] { "q_proj", "v_proj" }),
            BaseModelNameOrPath = "builtin", InferenceMode = true,
        }.Save(Path.Combine(dir, PeftAdapterConfig.FileName));
        return dir;
    }

    private static (int Code, string Output) Python(string code, params string[] args)
    {
        var psi = new ProcessStartInfo("python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(code);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout + stderr.GetAwaiter().GetResult());
    }

    [Fact]
    public void Export_accelerate_writes_the_peft_config_a_script_python_compiles_and_a_multi_node_accelerate_config()
    {
        var adapter = Adapter();
        var outDir = Path.Combine(Path.GetDirectoryName(adapter)!, "run");
        var r = CliRunner.Run("export", "accelerate", adapter, "--out", outDir, "--processes", "8", "--machines", "2", "--main-ip", "10.0.0.1");
        Assert.True(r.ExitCode == 0, r.Out + r.Err);

        var config = PeftAdapterConfig.Load(Path.Combine(outDir, ExportCommand.ConfigFolder, PeftAdapterConfig.FileName));
        Assert.Equal(16, config.R);
        Assert.Equal(32, config.LoraAlpha);
        Assert.Equal(0.05, config.LoraDropout);
        Assert.Equal(new[] { "q_proj", "v_proj" }, config.TargetModules!.Names);
        Assert.Equal("CAUSAL_LM", config.TaskType);
        Assert.Null(config.BaseModelNameOrPath);
        Assert.False(config.InferenceMode);

        // Python's own parsers: the script compiles, and the accelerate config is the YAML accelerate reads.
        var script = Path.Combine(outDir, ExportCommand.ScriptFileName);
        var compiled = Python("import ast, sys; tree = ast.parse(open(sys.argv[1]).read()); " +
                              "calls = {n.func.attr for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)}; " +
                              "print(sorted(calls & {'save_pretrained', 'from_pretrained', 'prepare', 'backward'}))", script);
        Assert.True(compiled.Code == 0, compiled.Output);
        Assert.Equal("['backward', 'from_pretrained', 'prepare', 'save_pretrained']", compiled.Output.Trim());
        var yaml = Python("import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))", Path.Combine(outDir, ExportCommand.AccelerateFileName));
        Assert.True(yaml.Code == 0, yaml.Output);
        var a = JsonDocument.Parse(yaml.Output).RootElement;
        Assert.Equal("MULTI_GPU", a.GetProperty("distributed_type").GetString());
        Assert.Equal(8, a.GetProperty("num_processes").GetInt32());
        Assert.Equal(2, a.GetProperty("num_machines").GetInt32());
        Assert.Equal("10.0.0.1", a.GetProperty("main_process_ip").GetString());
        Assert.Equal(29500, a.GetProperty("main_process_port").GetInt32());
        Assert.Equal("bf16", a.GetProperty("mixed_precision").GetString());
        Assert.Equal("no", a.GetProperty("downcast_bf16").GetString());
    }

    [Fact]
    public void Export_refuses_a_non_empty_folder_and_several_machines_without_a_main_address()
    {
        var adapter = Adapter();
        var r = CliRunner.Run("export", "accelerate", adapter, "--out", Path.Combine(adapter, "x"), "--machines", "2", "--processes", "4");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--main-ip", r.Err);
        var taken = CliRunner.Run("export", "accelerate", adapter, "--out", adapter);
        Assert.Equal(2, taken.ExitCode);
        Assert.Contains("is not empty", taken.Err);
        Assert.Single(Directory.GetFiles(adapter)); // nothing written into it
    }
}
