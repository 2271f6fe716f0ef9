using System.CommandLine;
using System.Text.Json;
using LoraKit.Memory;
using LoraKit.Models;
using LoraKit.Rules;

namespace LoraKit.Cli.Commands;

/// <summary>
/// `lorakit budget`: the parameter budget, scaling, memory estimate and rule checks of an adapter on a
/// base model given by config.json or preset — everything LoraKit can tell before a GPU-hour is spent.
/// </summary>
internal static class BudgetCommand
{
    private static readonly Dictionary<string, WeightPrecision> Precisions = new(StringComparer.OrdinalIgnoreCase)
    {
        ["fp32"] = WeightPrecision.Float32, ["bf16"] = WeightPrecision.BFloat16, ["fp16"] = WeightPrecision.Float16,
        ["int8"] = WeightPrecision.Int8, ["nf4"] = WeightPrecision.NF4,
    };

    private static readonly Dictionary<string, LoraBias> BiasModes = new(StringComparer.OrdinalIgnoreCase)
    {
        ["none"] = LoraBias.None, ["all"] = LoraBias.All, ["lora_only"] = LoraBias.LoraOnly,
    };

    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var config = new Option<string?>("--config") { Description = "The base model's Hugging Face config.json." };
        var model = new Option<string?>("--model") { Description = $"A known base model instead of --config: {string.Join(", ", ModelPresets.Names)}." };
        var rank = new Option<int>("--rank", "-r") { Description = "LoRA rank r.", DefaultValueFactory = _ => LoraConfig.DefaultRank };
        var alpha = new Option<double?>("--alpha") { Description = "LoRA alpha (default: the first allowed alpha/r ratio × rank)." };
        var targets = new Option<string>("--targets") { Description = "Comma-separated target modules (PEFT names, or all-linear).", DefaultValueFactory = _ => "q_proj,v_proj" };
        var dropout = new Option<double>("--dropout") { Description = "LoRA dropout.", DefaultValueFactory = _ => 0.05 };
        var bias = new Option<string>("--bias") { Description = "Bias mode: none, all, lora_only.", DefaultValueFactory = _ => "none" };
        var rslora = new Option<bool>("--rslora") { Description = "Scale by alpha/sqrt(r) (rsLoRA)." };
        var batch = new Option<int>("--batch-size") { Description = "Micro-batch size for the memory estimate.", DefaultValueFactory = _ => 1 };
        var seq = new Option<int>("--seq-len") { Description = "Sequence length for the memory estimate.", DefaultValueFactory = _ => 512 };
        var precision = new Option<string>("--precision") { Description = "Base weight precision: fp32, bf16, fp16, int8, nf4.", DefaultValueFactory = _ => "bf16" };
        var gpu = new Option<double>("--gpu-memory") { Description = "GPU memory in GiB; warns (LORA1006) when the estimate exceeds it. 0 = no check." };
        var alphaRatio = new Option<string?>("--alpha-ratio") { Description = "Allowed alpha/r ratios, e.g. 2 or 1,2 (as lorakit.alpha_ratio)." };
        var budgetMin = new Option<string?>("--budget-min") { Description = "Budget lower bound in % of base parameters (as lorakit.budget_min_percent)." };
        var budgetMax = new Option<string?>("--budget-max") { Description = "Budget upper bound in % (as lorakit.budget_max_percent)." };
        var maxRank = new Option<string?>("--max-rank") { Description = "Largest acceptable rank (as lorakit.max_rank)." };
        var name = new Option<string>("--name") { Description = "Adapter name used in messages.", DefaultValueFactory = _ => "adapter" };
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of text." };
        var checkpointing = new Option<string?>("--gradient-checkpointing")
        {
            Description = "Estimate with gradient checkpointing (alone: on; 'offload': the saved layer inputs in host memory).", Arity = ArgumentArity.ZeroOrOne, HelpName = "offload",
        };
        var packing = new Option<string>("--packing")
        {
            Description = $"How rows are filled: {LoraPackingNames.Concat} (full rows, no attention mask) or {LoraPackingNames.Documents} (an attention mask per row).",
            DefaultValueFactory = _ => LoraPackingNames.Concat,
        };

        var command = new Command("budget", "Parameter budget, scaling, memory estimate and rule checks of a LoRA adapter.")
        {
            config, model, rank, alpha, targets, dropout, bias, rslora, batch, seq, precision, gpu, alphaRatio, budgetMin, budgetMax, maxRank, name, json,
            checkpointing, packing,
        };
        command.SetAction(parse =>
        {
            var usage = new List<string>();
            var configPath = parse.GetValue(config);
            var preset = parse.GetValue(model);
            if ((configPath is null) == (preset is null)) usage.Add("give exactly one of --config <config.json> or --model <preset>");
            if (!Precisions.TryGetValue(parse.GetValue(precision)!, out var weightPrecision))
                usage.Add($"--precision {parse.GetValue(precision)} is not one of {string.Join(", ", Precisions.Keys)}");
            if (!BiasModes.TryGetValue(parse.GetValue(bias)!, out var biasMode))
                usage.Add($"--bias {parse.GetValue(bias)} is not one of {string.Join(", ", BiasModes.Keys)}");
            if (parse.GetValue(batch) < 1) usage.Add("--batch-size must be at least 1");
            if (parse.GetValue(seq) < 1) usage.Add("--seq-len must be at least 1");
            var targetList = parse.GetValue(targets)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (targetList.Length == 0) usage.Add("--targets names no module; e.g. --targets q_proj,v_proj");
            var checkpointingMode = LoraGradientCheckpointing.None;
            if (parse.GetResult(checkpointing) is { Implicit: false } && !LoraGradientCheckpointingNames.TryParse(parse.GetValue(checkpointing) ?? LoraGradientCheckpointingNames.On, out checkpointingMode))
                usage.Add($"--gradient-checkpointing {parse.GetValue(checkpointing)} is not one of {LoraGradientCheckpointingNames.Allowed}");
            if (parse.GetValue(packing) is not (LoraPackingNames.Concat or LoraPackingNames.Documents))
                usage.Add($"--packing {parse.GetValue(packing)} is not one of {LoraPackingNames.Allowed}");

            var options = new Dictionary<string, string?>
            {
                [LoraThresholds.AlphaRatioKey] = parse.GetValue(alphaRatio),
                [LoraThresholds.BudgetMinKey] = parse.GetValue(budgetMin),
                [LoraThresholds.BudgetMaxKey] = parse.GetValue(budgetMax),
                [LoraThresholds.MaxRankKey] = parse.GetValue(maxRank),
            };
            var thresholds = LoraThresholds.FromOptions(k => options.TryGetValue(k, out var v) ? v : null, out var thresholdErrors);
            usage.AddRange(thresholdErrors);
            if (usage.Count > 0)
            {
                foreach (var u in usage) stderr.WriteLine($"error: {u}");
                return ExitCodes.BadInput;
            }

            var shape = ModelSource.TryResolve(configPath, preset, stderr);
            if (shape is null) return ExitCodes.BadInput;

            var r = parse.GetValue(rank);
            var lora = new LoraConfig
            {
                Rank = r,
                Alpha = parse.GetValue(alpha) ?? thresholds.ExpectedAlpha(r),
                Dropout = parse.GetValue(dropout),
                TargetModules = targetList,
                Bias = biasMode,
                UseRsLora = parse.GetValue(rslora),
            };
            var report = BudgetReport.Compute(shape, lora, thresholds, parse.GetValue(name)!,
                new MemoryOptions
                {
                    BasePrecision = weightPrecision, BatchSize = parse.GetValue(batch), SequenceLength = parse.GetValue(seq), GradientCheckpointing = checkpointingMode,
                    AttentionMask = parse.GetValue(packing) == LoraPackingNames.Documents,
                },
                parse.GetValue(gpu));
            if (parse.GetValue(json)) report.WriteJson(stdout);
            else report.WriteText(stdout, parse.GetValue(precision)!);
            return report.Findings.Any(f => f.Severity == RuleSeverity.Error) ? ExitCodes.RuleError : ExitCodes.Ok;
        });
        return command;
    }
}

/// <summary>The numbers `lorakit budget` prints, computed once for text and JSON output.</summary>
internal sealed record BudgetReport(ModelShape Model, LoraConfig Config, LoraThresholds Thresholds, ParameterCount? Count, MemoryEstimate? Memory, MemoryOptions MemoryOptions, IReadOnlyList<RuleFinding> Findings)
{
    /// <summary>With --gpu-memory: per checkpointing setting, the longest sequence at batch 1 whose estimate fits (Core's <see cref="FitPlan"/>).</summary>
    public IReadOnlyList<(string Setting, int LongestSequence)> Fit { get; init; } = Array.Empty<(string, int)>();

    public double GpuMemoryGiB { get; init; }

    public static BudgetReport Compute(ModelShape model, LoraConfig config, LoraThresholds thresholds, string adapterName, MemoryOptions memoryOptions, double gpuMemoryGiB)
    {
        var findings = LoraRuleChecker.Check(model, config, thresholds, adapterName).ToList();
        ParameterCount? count = null;
        MemoryEstimate? memory = null;
        if (config.Rank >= 1)
        {
            count = ParameterCount.Compute(model, config);
            memory = MemoryEstimator.Estimate(model, config, memoryOptions);
            var gpu = LoraRuleChecker.CheckMemory(model, config, memoryOptions, gpuMemoryGiB, adapterName);
            if (gpu is not null) findings.Add(gpu);
        }
        var fit = config.Rank >= 1 && gpuMemoryGiB > 0
            ? FitPlan.Settings(memoryOptions with { BatchSize = 1 }).Select(s => (s.Setting, FitPlan.LargestSequenceLength(model, config, s.Options, gpuMemoryGiB))).ToList()
            : new List<(string, int)>();
        return new BudgetReport(model, config, thresholds, count, memory, memoryOptions, findings) { Fit = fit, GpuMemoryGiB = gpuMemoryGiB };
    }

    public void WriteText(TextWriter o, string precisionName)
    {
        o.WriteLine($"model       {Model.Name}: {Describe(Model)}");
        o.WriteLine($"base        {Format.Count(Model.TotalParameters)} parameters");
        var scaling = Config.Rank >= 1 ? Format.Number(Math.Round(Config.Scaling, 6)) : "n/a";
        var modules = Count is null ? "" : $" → {Count.AdaptedModules} modules";
        o.WriteLine($"adapter     r={Config.Rank}, alpha={Format.Number(Config.Alpha)}, scaling {scaling}{(Config.UseRsLora ? " (rsLoRA)" : "")}, dropout {Format.Number(Config.Dropout)}, targets {string.Join(", ", Config.TargetModules)}{modules}");
        if (Count is not null)
            o.WriteLine($"trainable   {Format.Count(Count.TrainableParameters)} = {Format.Percent(Count.BudgetPercent)} of base " +
                        $"(budget {Format.Number(Thresholds.BudgetMinPercent)} %–{Format.Number(Thresholds.BudgetMaxPercent)} %; " +
                        $"rule of thumb {Format.Number(Thresholds.RuleOfThumbMinPercent)} %–{Format.Number(Thresholds.RuleOfThumbMaxPercent)} %)");
        if (Memory is not null)
            o.WriteLine($"memory      ≈ {Format.GiB(Memory.Total)} peak: base {Format.GiB(Memory.BaseWeights)} ({precisionName}), " +
                        $"LoRA state {Format.GiB(Memory.LoraWeights + Memory.LoraGradients + Memory.OptimizerState)}, activations {Format.GiB(Memory.Activations)}, " +
                        $"logits {Format.GiB(Memory.Logits)}, overhead {Format.GiB(Memory.Overhead)} (batch {MemoryOptions.BatchSize} × {MemoryOptions.SequenceLength} tokens" +
                        (MemoryOptions.GradientCheckpointing == LoraGradientCheckpointing.None ? "" : $", gradient checkpointing {LoraGradientCheckpointingNames.Of(MemoryOptions.GradientCheckpointing)}") +
                        (Memory.HostOffload > 0 ? $"; {Format.GiB(Memory.HostOffload)} of layer inputs in host memory" : "") + ")");
        if (Fit.Count > 0)
        {
            o.WriteLine($"fits {Format.Number(GpuMemoryGiB)} GiB   longest sequence at batch 1 ({precisionName} base, {(MemoryOptions.AttentionMask ? "documents packing" : "concat packing")}):");
            foreach (var (setting, longest) in Fit)
                o.WriteLine($"            {setting,-34} {(longest > 0 ? Format.Count(longest) + " tokens" : "does not fit")}");
        }
        if (Findings.Count == 0) o.WriteLine("checks      all passed");
        foreach (var f in Findings) o.WriteLine(f.ToString());
    }

    public void WriteJson(TextWriter o)
    {
        var doc = new Dictionary<string, object?>
        {
            ["model"] = Model.Name,
            ["baseParameters"] = Model.TotalParameters,
            ["rank"] = Config.Rank,
            ["alpha"] = Config.Alpha,
            ["scaling"] = Config.Rank >= 1 ? Config.Scaling : null,
            ["targetModules"] = Config.TargetModules,
            ["adaptedModules"] = Count?.AdaptedModules,
            ["trainableParameters"] = Count?.TrainableParameters,
            ["budgetPercent"] = Count?.BudgetPercent,
            ["memory"] = Memory is null ? null : new Dictionary<string, long>
            {
                ["baseWeightsBytes"] = Memory.BaseWeights, ["loraWeightsBytes"] = Memory.LoraWeights, ["loraGradientsBytes"] = Memory.LoraGradients,
                ["optimizerStateBytes"] = Memory.OptimizerState, ["activationsBytes"] = Memory.Activations, ["logitsBytes"] = Memory.Logits,
                ["overheadBytes"] = Memory.Overhead, ["totalBytes"] = Memory.Total, ["hostOffloadBytes"] = Memory.HostOffload,
            },
            ["longestSequenceAtBatch1"] = Fit.Count == 0 ? null : Fit.ToDictionary(f => f.Setting, f => f.LongestSequence),
            ["findings"] = Findings.Select(f => new Dictionary<string, string?>
            {
                ["id"] = f.Id, ["severity"] = f.Severity.ToString().ToLowerInvariant(), ["property"] = f.Property, ["message"] = f.Message,
            }).ToArray(),
        };
        o.WriteLine(JsonSerializer.Serialize(doc));
    }

    private static string Describe(ModelShape m)
    {
        if (m.Llama is not { } d) return $"custom, {m.Linears.Count} linear layer families";
        var heads = d.EffectiveKeyValueHeads == d.AttentionHeads ? $"{d.AttentionHeads} heads" : $"{d.AttentionHeads} heads ({d.EffectiveKeyValueHeads} key/value)";
        return $"{d.ModelType}, {d.Layers} layers, hidden {d.HiddenSize}, {heads}, vocab {d.VocabSize}{(d.TieWordEmbeddings ? ", tied head" : "")}";
    }
}
