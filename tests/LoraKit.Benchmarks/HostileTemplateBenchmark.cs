using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using LoraKit.Data;
using LoraKit.Data.Jinja;

namespace LoraKit.Benchmarks;

/// <summary>
/// How fast the chat-template sandbox stops each hostile template of the regression corpus
/// (tests/LoraKit.Tests/Fixtures/hostile/templates), and what a real template costs beside it: parse + render, median
/// of N rounds after one warm-up. Issue 25's target: a hostile template stops with its named limit in well under a second.
/// </summary>
public static class HostileTemplateBenchmark
{
    public static void Run(string[] args)
    {
        var rounds = args.Length > 0 ? int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 5;
        var root = FindRepoRoot();
        var folder = Path.Combine(root, "tests", "LoraKit.Tests", "Fixtures", "hostile", "templates");
        Console.WriteLine($"## Hostile chat templates: time to the named limit (median of {rounds}, {Environment.ProcessorCount} cores)");
        Console.WriteLine();
        Console.WriteLine("| template | limit | median ms | max ms | median CPU ms |");
        Console.WriteLine("|---|---|---:|---:|---:|");
        var vars = new Dictionary<string, object?>();
        foreach (var file in Directory.GetFiles(folder, "*.jinja").OrderBy(f => f, StringComparer.Ordinal))
        {
            var text = File.ReadAllText(file);
            string? limit = null;
            var times = new List<double>();
            var cpu = new List<double>();
            for (var r = 0; r <= rounds; r++)
            {
                var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
                var clock = Stopwatch.StartNew();
                try
                {
                    JinjaTemplate.Parse(text, Path.GetFileName(file)).Render(vars);
                }
                catch (JinjaException e)
                {
                    limit = e.Limit;
                }
                clock.Stop();
                if (r == 0) continue;
                times.Add(clock.Elapsed.TotalMilliseconds);
                cpu.Add((Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalMilliseconds);
            }
            times.Sort();
            cpu.Sort();
            Console.WriteLine($"| {Path.GetFileName(file)} | {limit ?? "(none!)"} | {times[times.Count / 2]:0.0} | {times[^1]:0.0} | {cpu[cpu.Count / 2]:0} |");
        }

        // A real template for scale: Llama 3.1's over a 200-message conversation.
        var llama = File.ReadAllText(Path.Combine(root, "tests", "LoraKit.Tests", "Fixtures", "chat-templates", "llama-3.1-8b-instruct.jinja"));
        var template = ChatTemplate.FromString(llama, "llama-3.1-8b-instruct.jinja", new Dictionary<string, string> { ["bos_token"] = "<|begin_of_text|>" });
        template.Clock = () => new DateTime(2024, 7, 26);
        var messages = Enumerable.Range(0, 200).Select(i => new ChatMessage(i % 2 == 0 ? "user" : "assistant", $"message {i} " + new string('x', 500))).ToList();
        var real = new List<double>();
        for (var r = 0; r <= rounds; r++)
        {
            var clock = Stopwatch.StartNew();
            template.Render(messages, addGenerationPrompt: false);
            if (r > 0) real.Add(clock.Elapsed.TotalMilliseconds);
        }
        real.Sort();
        Console.WriteLine($"| llama-3.1-8b-instruct.jinja, 200 messages (renders) | — | {real[real.Count / 2]:0.0} | {real[^1]:0.0} | |");
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Toolchain.sln"))) return dir.FullName;
        throw new DirectoryNotFoundException("run from inside the repository (Toolchain.sln not found above the benchmark)");
    }
}
