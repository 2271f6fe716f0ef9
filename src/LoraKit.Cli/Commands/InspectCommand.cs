using System.CommandLine;
using LoraKit.IO;
using LoraKit.Models;
using LoraKit.Peft;
using LoraKit.Rules;
using LoraKit.Serving;

namespace LoraKit.Cli.Commands;

/// <summary>`lorakit inspect &lt;adapter folder&gt;`: any PEFT LoRA adapter (Llama or GPT-2 style), its shapes, counts and rule checks.</summary>
internal static class InspectCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var folder = new Argument<string>("adapter") { Description = "A PEFT adapter folder (adapter_config.json + adapter_model.safetensors), or a .gguf file." };
        var model = new Option<string?>("--model") { Description = "A known base model, to add the budget check." };
        var config = new Option<string?>("--config") { Description = "The base model's config.json, to add the budget check." };
        var serveTargets = new Option<string?>("--serve-targets")
        {
            Description = $"Servers the adapter must load in, separated by ';' ({ServeTargetNames.Allowed}): adds the serving checks LORA40xx.",
        };
        var command = new Command("inspect", "Show a PEFT LoRA adapter (config, scaling, per-module shapes, counts and rule checks) or a GGUF file (metadata and tensors).") { folder, model, config, serveTargets };
        command.SetAction(parse =>
        {
            if (File.Exists(parse.GetValue(folder)!))
                return CommandInput.Guard(stderr, () => GgufCommands.Inspect(parse.GetValue(folder)!, stdout));
            if (!ServeTargetNames.TryParse(parse.GetValue(serveTargets), out var servers, out var serveError))
            {
                stderr.WriteLine($"error: --serve-targets {parse.GetValue(serveTargets)}: {serveError}");
                return ExitCodes.BadInput;
            }
            PeftAdapter adapter;
            try
            {
                adapter = PeftAdapter.Load(parse.GetValue(folder)!);
            }
            catch (Exception e) when (e is InvalidFileException or IOException or UnauthorizedAccessException)
            {
                stderr.WriteLine($"error: {e.Message}");
                return ExitCodes.BadInput;
            }
            using (adapter)
            {
                var c = adapter.Config;
                var name = Path.GetFileName(Path.GetFullPath(parse.GetValue(folder)!).TrimEnd(Path.DirectorySeparatorChar));
                stdout.WriteLine($"adapter     {adapter.Folder}");
                stdout.WriteLine($"peft        {c.PeftType}, task {c.TaskType ?? "-"}, base {c.BaseModelNameOrPath ?? "-"}");
                var targets = c.TargetModules is null ? "(PEFT defaults)" : c.TargetModules.IsPattern ? $"\"{c.TargetModules.Pattern}\"" : string.Join(", ", c.TargetModules.Names);
                stdout.WriteLine($"lora        r={c.R}, alpha={Format.Number(c.LoraAlpha)}, scaling {Format.Number(c.Scaling)}{(c.UseRsLora ? " (rsLoRA)" : "")}, dropout {Format.Number(c.LoraDropout)}, bias {c.Bias}, fan_in_fan_out {c.FanInFanOut.ToString().ToLowerInvariant()}");
                stdout.WriteLine($"targets     {targets}");
                stdout.WriteLine($"modules     {adapter.Modules.Count} adapted, {Format.Count(adapter.LoraParameterCount)} LoRA parameters; modules_to_save {Format.Count(adapter.ModulesToSaveParameterCount)} parameters");
                var width = adapter.Modules.Count == 0 ? 10 : adapter.Modules.Max(m => m.Path.Length);
                foreach (var m in adapter.Modules)
                    stdout.WriteLine($"  {m.Path.PadRight(width)}  A [{string.Join(", ", m.LoraA.Shape)}]  B [{string.Join(", ", m.LoraB.Shape)}]  {Format.Count(m.ParameterCount)}");
                foreach (var t in adapter.ModulesToSave)
                    stdout.WriteLine($"  {t.Name}  [{string.Join(", ", t.Shape)}] {t.DType}  {Format.Count(t.ElementCount)} (saved whole)");

                var thresholds = LoraThresholds.Default;
                var lora = new LoraConfig { Rank = c.R, Alpha = c.LoraAlpha, Dropout = c.LoraDropout, Bias = c.Bias, UseRsLora = c.UseRsLora, InitWeights = c.InitLoraWeights == "gaussian" ? LoraInitWeights.Gaussian : c.InitLoraWeights == "false" ? LoraInitWeights.Random : LoraInitWeights.Default };
                var findings = new[]
                {
                    LoraRuleChecker.CheckRank(c.R, thresholds, name),
                    LoraRuleChecker.CheckAlphaRatio(lora, thresholds, name),
                    LoraRuleChecker.CheckDropout(c.LoraDropout, thresholds, name),
                }.Where(f => f is not null).Select(f => f!).ToList();

                var modelName = parse.GetValue(model);
                var configPath = parse.GetValue(config);
                ModelShape? shape = null;
                if (modelName is not null || configPath is not null)
                {
                    shape = ModelSource.TryResolve(configPath, modelName, stderr);
                    if (shape is null) return ExitCodes.BadInput;
                    var count = new ParameterCount(shape.TotalParameters, adapter.LoraParameterCount, 0, adapter.Modules.Count);
                    stdout.WriteLine($"budget      {Format.Percent(count.BudgetPercent)} of {shape.Name}'s {Format.Count(shape.TotalParameters)} parameters");
                    var budget = LoraRuleChecker.CheckBudget(shape, count, thresholds, name);
                    if (budget is not null) findings.Add(budget);
                }
                if (servers != ServeTargets.None)
                {
                    var serve = ServeRules.Check(PeftServeFacts.Of(adapter, shape), servers, name);
                    stdout.WriteLine("serving     " + string.Join("; ", ServeTargetNames.Each(servers).Select(s => $"{ServeTargetNames.Of(s)} {VerdictText(ServeRules.Verdict(s, serve))}")));
                    findings.AddRange(serve);
                }
                if (findings.Count == 0) stdout.WriteLine("checks      all passed");
                foreach (var f in findings) stdout.WriteLine(f.ToString());
                return findings.Any(f => f.Severity == RuleSeverity.Error) ? ExitCodes.RuleError : ExitCodes.Ok;
            }
        });
        return command;
    }

    private static string VerdictText(ServeVerdict verdict) => verdict switch
    {
        ServeVerdict.Loads => "loads it",
        ServeVerdict.LoadsWithWarnings => "loads it, with warnings",
        _ => "refuses it",
    };
}
