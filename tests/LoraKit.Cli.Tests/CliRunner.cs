using System;
using System.IO;

namespace LoraKit.Cli.Tests;

internal sealed record CliResult(int ExitCode, string Out, string Err);

internal static class CliRunner
{
    public static CliResult Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = LoraKitCli.Run(args, stdout, stderr);
        return new CliResult(code, stdout.ToString(), stderr.ToString());
    }

    public static string Config(string name) => Path.Combine(AppContext.BaseDirectory, "Configs", name + ".json");

    public static string WriteTemp(string fileName, string content)
    {
        var dir = Path.Combine(Path.GetTempPath(), "lorakit-cli-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, fileName);
        File.WriteAllText(path, content);
        return path;
    }
}
