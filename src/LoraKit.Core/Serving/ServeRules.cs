using System.Text.RegularExpressions;
using LoraKit.Rules;

namespace LoraKit.Serving;

/// <summary>Where a serving fact was read: a file of a public repository at a commit, and what it says there.</summary>
public sealed record ServeSource(string Repository, string Path, string Commit, string Says)
{
    public override string ToString() => $"{Repository}/{Path}";
}

/// <summary>One serving rule: its ID, the server it is about, what it checks, and the source files the fact comes from.</summary>
public sealed record ServeRule(string Id, ServeTargets Server, string Title, IReadOnlyList<ServeSource> Sources);

/// <summary>A server's answer to an adapter: it loads it as trained, loads it with warnings (it computes something else, or needs a non-default setting), or refuses it.</summary>
public enum ServeVerdict { Loads, LoadsWithWarnings, Refused }

/// <summary>
/// The serving lint LORA40xx: will an adapter load, as trained, in vLLM, llama.cpp (LLamaSharp, Ollama) and TGI. Each fact
/// was read from the server's own source (<see cref="ServeRule.Sources"/>; docs/rules/ID.md quotes the same files). The
/// analyzers (from <c>[LoraAdapter]</c>) and <c>lorakit inspect --serve-targets</c> (from a saved adapter) both call
/// <see cref="Check"/>. Errors: the server refuses the adapter. Warnings: it loads it but computes something else, or
/// needs a non-default setting.
/// </summary>
public static class ServeRules
{
    // ---- the servers' numbers ----

    /// <summary>vLLM's default <c>--max-lora-rank</c>.</summary>
    public const int VllmDefaultMaxLoraRank = 16;

    /// <summary>The values vLLM's <c>--max-lora-rank</c> accepts (<c>MaxLoRARanks</c>).</summary>
    public static readonly IReadOnlyList<int> VllmMaxLoraRanks = new[] { 1, 8, 16, 32, 64, 128, 256, 320, 512 };

    /// <summary>The modules TGI applies LoRA to (<c>build_layer_weight_lookup</c>): the decoder's attention and MLP
    /// projections under <c>model.layers.N</c>, and <c>lm_head</c>.</summary>
    public static readonly Regex TgiAdaptedModule = new(
        @"^(?:(?:.+\.)?model\.layers\.\d+\.(?:self_attn\.(?:q|k|v|o)_proj|mlp\.(?:gate|up|down)_proj)|lm_head)$", RegexOptions.CultureInvariant);

    // ---- the sources ----

    private static readonly ServeSource VllmLoraConfig = new("vllm-project/vllm", "vllm/config/lora.py", "01230b40128e570a58e54e75f7e55c4d5cd9246d",
        "MaxLoRARanks = Literal[1, 8, 16, 32, 64, 128, 256, 320, 512]; max_lora_rank: MaxLoRARanks = 16");

    private static readonly ServeSource VllmPeftHelper = new("vllm-project/vllm", "vllm/lora/peft_helper.py", "e745bafffc44744aa601169f8c6f325e47ca7cd5",
        "validate_legal: \"LoRA rank {r} is greater than max_lora_rank {max_lora_rank}.\"; _validate_features: \"vLLM only supports modules_to_save being None.\", " +
        "\"vLLM does not yet support DoRA.\"; \"Adapter bias cannot be used without bias_enabled.\"; rsLoRA scales by lora_alpha / math.sqrt(r)");

    private static readonly ServeSource VllmBaseLinear = new("vllm-project/vllm", "vllm/lora/layers/base_linear.py", "01235a494f173b84814002c8382137e379371b07",
        "create_lora_weights: lora_a_stacked = torch.zeros(max_loras, 1, lora_config.max_lora_rank, input_size) and lora_b_stacked likewise, whatever the adapters' ranks");

    private static readonly ServeSource VllmLoraModel = new("vllm-project/vllm", "vllm/lora/lora_model.py", "0306474e9d1f26d8717aad457b9511f0c9e57d60",
        "from_lora_tensors: if peft_helper.use_dora: raise NotImplementedError(\"DoRA adapter loading is not implemented yet. …\")");

    private static readonly ServeSource VllmUtils = new("vllm-project/vllm", "vllm/lora/utils.py", "001e63a89b474b88345fd72912fe068c4ae83f41",
        "parse_fine_tuned_lora_name: a tensor other than lora_A/lora_B.weight, lora_embedding_A/B or a bias raises \"{name} is unsupported LoRA weight\"");

    private static readonly ServeSource LlamaCppConvert = new("ggml-org/llama.cpp", "convert_lora_to_gguf.py", "0b03adaa632b76c7651dd1f6fa3b7a0b5eda479c",
        "get_tensors: a tensor that is not lora_A/lora_B (or lora_embedding_A/B, a base_layer weight or a norm) logs \"Unexpected name '{name}': Not a lora_A or lora_B tensor\" " +
        "(for embed_tokens/lm_head also \"Embeddings is present in the adapter\") and exits 1; modify_tensors: \"lm_head is present in adapter, but is ignored in base model\"; " +
        "the adapter's alpha is lparams[\"lora_alpha\"], written as adapter.lora.alpha (use_rslora and alpha_pattern are not read)");

    private static readonly ServeSource LlamaCppAdapter = new("ggml-org/llama.cpp", "src/llama-adapter.h", "215841fc0178de0797d23f1cae8ab8ee1baa8eb9",
        "llama_adapter_lora_weight::get_scale: rank = b->ne[0]; scale = alpha ? adapter_scale * alpha / rank : adapter_scale");

    private static readonly ServeSource TgiLora = new("huggingface/text-generation-inference", "server/text_generation_server/adapters/lora.py", "45d95bdccc9dd302e7b2c845a3b141e53791f262",
        "LoraConfig.load keeps r, target_modules, fan_in_fan_out, lora_alpha and use_rslora of PEFT's config; map_weights_for_model takes only " +
        "base_model.model.{weight_name}.lora_A.weight / lora_B.weight; prepare_weights scales every layer by get_scaling_factor(config.lora_alpha, config.r, uses_rslora=config.use_rslora)");

    private static readonly ServeSource TgiAdapterUtils = new("huggingface/text-generation-inference", "server/text_generation_server/utils/adapter.py", "4b569341e6f6380741b92223fb1ddfdb8900c344",
        "build_layer_weight_lookup: model.layers.{i}.self_attn.{q,k,v,o}_proj, model.layers.{i}.mlp.{gate,up,down}_proj and lm_head are the weights an adapter maps to");

    // ---- the rules ----

    public static readonly ServeRule VllmRank = new(DiagnosticIds.ServeVllmRank, ServeTargets.Vllm,
        "rank above vLLM's max_lora_rank", new[] { VllmLoraConfig, VllmPeftHelper, VllmBaseLinear });

    public static readonly ServeRule VllmDora = new(DiagnosticIds.ServeVllmDora, ServeTargets.Vllm,
        "vLLM refuses DoRA adapters", new[] { VllmPeftHelper, VllmLoraModel });

    public static readonly ServeRule VllmModulesToSave = new(DiagnosticIds.ServeVllmModulesToSave, ServeTargets.Vllm,
        "vLLM refuses modules saved whole (modules_to_save)", new[] { VllmPeftHelper, VllmUtils });

    public static readonly ServeRule VllmBias = new(DiagnosticIds.ServeVllmBias, ServeTargets.Vllm,
        "vLLM refuses a bias other than \"none\"", new[] { VllmPeftHelper });

    public static readonly ServeRule LlamaCppDora = new(DiagnosticIds.ServeLlamaCppDora, ServeTargets.LlamaCpp,
        "llama.cpp's converter refuses DoRA adapters", new[] { LlamaCppConvert });

    public static readonly ServeRule LlamaCppModulesToSave = new(DiagnosticIds.ServeLlamaCppModulesToSave, ServeTargets.LlamaCpp,
        "llama.cpp's converter refuses modules saved whole (modules_to_save)", new[] { LlamaCppConvert });

    public static readonly ServeRule LlamaCppBias = new(DiagnosticIds.ServeLlamaCppBias, ServeTargets.LlamaCpp,
        "llama.cpp's converter refuses trained bias vectors", new[] { LlamaCppConvert });

    public static readonly ServeRule LlamaCppRsLora = new(DiagnosticIds.ServeLlamaCppRsLora, ServeTargets.LlamaCpp,
        "llama.cpp scales an rsLoRA adapter by alpha/r", new[] { LlamaCppConvert, LlamaCppAdapter });

    public static readonly ServeRule LlamaCppAlphaPattern = new(DiagnosticIds.ServeLlamaCppAlphaPattern, ServeTargets.LlamaCpp,
        "llama.cpp applies one alpha to every module (alpha_pattern is lost)", new[] { LlamaCppConvert, LlamaCppAdapter });

    public static readonly ServeRule LlamaCppTiedHead = new(DiagnosticIds.ServeLlamaCppTiedHead, ServeTargets.LlamaCpp,
        "llama.cpp's converter refuses LoRA on a head tied to the embeddings", new[] { LlamaCppConvert });

    public static readonly ServeRule TgiDora = new(DiagnosticIds.ServeTgiDora, ServeTargets.Tgi,
        "TGI ignores DoRA's magnitude vectors", new[] { TgiLora });

    public static readonly ServeRule TgiModulesToSave = new(DiagnosticIds.ServeTgiModulesToSave, ServeTargets.Tgi,
        "TGI ignores modules saved whole (modules_to_save)", new[] { TgiLora });

    public static readonly ServeRule TgiBias = new(DiagnosticIds.ServeTgiBias, ServeTargets.Tgi,
        "TGI ignores trained bias vectors", new[] { TgiLora });

    public static readonly ServeRule TgiPatterns = new(DiagnosticIds.ServeTgiPatterns, ServeTargets.Tgi,
        "TGI scales every module by lora_alpha/r (rank_pattern and alpha_pattern are lost)", new[] { TgiLora });

    public static readonly ServeRule TgiTargets = new(DiagnosticIds.ServeTgiTargets, ServeTargets.Tgi,
        "TGI ignores LoRA on modules outside the decoder's projections and lm_head", new[] { TgiLora, TgiAdapterUtils });

    public static IReadOnlyList<ServeRule> All { get; } = new[]
    {
        VllmRank, VllmDora, VllmModulesToSave, VllmBias,
        LlamaCppDora, LlamaCppModulesToSave, LlamaCppBias, LlamaCppRsLora, LlamaCppAlphaPattern, LlamaCppTiedHead,
        TgiDora, TgiModulesToSave, TgiBias, TgiPatterns, TgiTargets,
    };

    /// <summary>The rule of a LORA40xx ID.</summary>
    public static ServeRule ById(string id) => All.First(r => r.Id == id);

    /// <summary>The smallest <c>--max-lora-rank</c> vLLM accepts that serves <paramref name="rank"/>, or null above the largest.</summary>
    public static int? VllmMaxLoraRankFor(int rank) => VllmMaxLoraRanks.Where(r => r >= rank).Select(r => (int?)r).FirstOrDefault();

    /// <summary>The findings of every rule of the servers in <paramref name="targets"/>, in rule order.</summary>
    public static IReadOnlyList<RuleFinding> Check(AdapterServeFacts facts, ServeTargets targets, string adapterName)
    {
        var findings = new List<RuleFinding>();
        if ((targets & ServeTargets.Vllm) != 0) CheckVllm(facts, adapterName, findings);
        if ((targets & ServeTargets.LlamaCpp) != 0) CheckLlamaCpp(facts, adapterName, findings);
        if ((targets & ServeTargets.Tgi) != 0) CheckTgi(facts, adapterName, findings);
        return findings;
    }

    /// <summary>What <paramref name="server"/> does with the adapter, given the findings of <see cref="Check"/>.</summary>
    public static ServeVerdict Verdict(ServeTargets server, IEnumerable<RuleFinding> findings)
    {
        var own = findings.Where(f => All.Any(r => r.Id == f.Id && r.Server == server)).ToArray();
        if (own.Any(f => f.Severity == RuleSeverity.Error)) return ServeVerdict.Refused;
        return own.Length > 0 ? ServeVerdict.LoadsWithWarnings : ServeVerdict.Loads;
    }

    private static void CheckVllm(AdapterServeFacts f, string name, List<RuleFinding> findings)
    {
        if (f.Rank > VllmDefaultMaxLoraRank)
        {
            var needed = VllmMaxLoraRankFor(f.Rank);
            findings.Add(needed is { } n
                ? new RuleFinding(VllmRank.Id, RuleSeverity.Warning, nameof(LoraConfig.Rank),
                    $"{name}: vLLM refuses LoRA rank {f.Rank} at its default --max-lora-rank {VllmDefaultMaxLoraRank} (\"LoRA rank {f.Rank} is greater than max_lora_rank\"); " +
                    $"start vLLM with --max-lora-rank {n} (it reserves memory for that rank in every LoRA slot), or use rank {VllmDefaultMaxLoraRank} or less")
                : new RuleFinding(VllmRank.Id, RuleSeverity.Error, nameof(LoraConfig.Rank),
                    $"{name}: LoRA rank {f.Rank} is above {VllmMaxLoraRanks[VllmMaxLoraRanks.Count - 1]}, the largest --max-lora-rank vLLM accepts " +
                    $"({string.Join(", ", VllmMaxLoraRanks)}); vLLM cannot serve it: use rank {VllmMaxLoraRanks[VllmMaxLoraRanks.Count - 1]} or less"));
        }
        if (f.UseDora)
            findings.Add(new(VllmDora.Id, RuleSeverity.Error, "use_dora",
                $"{name}: vLLM refuses DoRA adapters (\"vLLM does not yet support DoRA.\"); train without DoRA, or merge the adapter into the base and serve the merged model"));
        if (f.ModulesToSave.Count > 0)
            findings.Add(new(VllmModulesToSave.Id, RuleSeverity.Error, "modules_to_save",
                $"{name}: vLLM refuses adapters with modules saved whole ({List(f.ModulesToSave)}; \"vLLM only supports modules_to_save being None.\"); " +
                "train LoRA on those modules instead, or merge the adapter and serve the merged model"));
        if (f.Bias != LoraBias.None)
            findings.Add(new(VllmBias.Id, RuleSeverity.Error, nameof(LoraConfig.Bias),
                $"{name}: vLLM refuses adapters whose bias is \"{PeftBias(f.Bias)}\" (\"Adapter bias cannot be used without bias_enabled.\", and --enable-lora-bias is gone from recent releases); " +
                "train with Bias = None"));
    }

    private static void CheckLlamaCpp(AdapterServeFacts f, string name, List<RuleFinding> findings)
    {
        if (f.UseDora)
            findings.Add(new(LlamaCppDora.Id, RuleSeverity.Error, "use_dora",
                $"{name}: llama.cpp's convert_lora_to_gguf.py stops at DoRA's lora_magnitude_vector tensors (\"Not a lora_A or lora_B tensor\"); " +
                "train without DoRA, or merge the adapter into the base and convert the merged model"));
        if (f.ModulesToSave.Count > 0)
            findings.Add(new(LlamaCppModulesToSave.Id, RuleSeverity.Error, "modules_to_save",
                $"{name}: llama.cpp's convert_lora_to_gguf.py stops at modules saved whole ({List(f.ModulesToSave)}; \"Not a lora_A or lora_B tensor\"); " +
                "merge the adapter into the base and convert the merged model"));
        if (f.BiasTensors is { Count: > 0 } biases)
            findings.Add(new(LlamaCppBias.Id, RuleSeverity.Error, nameof(LoraConfig.Bias),
                $"{name}: bias \"{PeftBias(f.Bias)}\" saves {biases.Count} bias vector{(biases.Count == 1 ? "" : "s")} ({List(biases)}) and llama.cpp's convert_lora_to_gguf.py stops at them " +
                "(\"Not a lora_A or lora_B tensor\"); train with Bias = None, or merge the adapter and convert the merged model"));
        if (f.UseRsLora && f.Rank > 1)
            findings.Add(new(LlamaCppRsLora.Id, RuleSeverity.Warning, nameof(LoraConfig.UseRsLora),
                $"{name}: llama.cpp scales every LoRA by alpha/r and convert_lora_to_gguf.py writes lora_alpha as it is, so this rsLoRA adapter (alpha/√r) " +
                $"is applied {Format.Number(Math.Sqrt(f.Rank))}× too weakly; write alpha·√r = {Format.Number(f.Alpha * Math.Sqrt(f.Rank))} as adapter.lora.alpha when converting, " +
                "or train without rsLoRA"));
        if (f.HasAlphaPattern)
            findings.Add(new(LlamaCppAlphaPattern.Id, RuleSeverity.Warning, "alpha_pattern",
                $"{name}: llama.cpp applies one adapter.lora.alpha ({Format.Number(f.Alpha)}) to every module, so alpha_pattern's per-module alphas are lost and those modules " +
                "are scaled differently than trained; merge the adapter and convert the merged model"));
        if (f.TiedOutputHead is { } head)
            findings.Add(new(LlamaCppTiedHead.Id, RuleSeverity.Error, nameof(LoraConfig.TargetModules),
                $"{name}: {head} shares the embedding matrix, which llama.cpp loads once as token_embd; convert_lora_to_gguf.py refuses LoRA on it " +
                "(\"lm_head is present in adapter, but is ignored in base model\"); drop the head from the targets", head));
    }

    private static void CheckTgi(AdapterServeFacts f, string name, List<RuleFinding> findings)
    {
        if (f.UseDora)
            findings.Add(new(TgiDora.Id, RuleSeverity.Warning, "use_dora",
                $"{name}: TGI reads only r, lora_alpha, target_modules, fan_in_fan_out and use_rslora and only the lora_A/lora_B tensors, so it serves this DoRA adapter " +
                "without its magnitude vectors (another model than trained); train without DoRA, or merge the adapter and serve the merged model"));
        if (f.ModulesToSave.Count > 0)
            findings.Add(new(TgiModulesToSave.Id, RuleSeverity.Warning, "modules_to_save",
                $"{name}: TGI loads only lora_A/lora_B tensors, so the modules saved whole ({List(f.ModulesToSave)}) are ignored and the base's are used; " +
                "merge the adapter and serve the merged model"));
        if (f.BiasTensors is { Count: > 0 } biases)
            findings.Add(new(TgiBias.Id, RuleSeverity.Warning, nameof(LoraConfig.Bias),
                $"{name}: TGI loads only lora_A/lora_B tensors, so the {biases.Count} trained bias vector{(biases.Count == 1 ? "" : "s")} ({List(biases)}) are ignored and the base's are used; " +
                "train with Bias = None, or merge the adapter and serve the merged model"));
        if (f.HasRankPattern || f.HasAlphaPattern)
            findings.Add(new(TgiPatterns.Id, RuleSeverity.Warning, f.HasRankPattern ? "rank_pattern" : "alpha_pattern",
                $"{name}: TGI scales every module by lora_alpha/r of the config and ignores {(f.HasRankPattern && f.HasAlphaPattern ? "rank_pattern and alpha_pattern" : f.HasRankPattern ? "rank_pattern" : "alpha_pattern")}, " +
                "so the modules they name are scaled differently than trained; merge the adapter and serve the merged model"));
        var ignored = f.AdaptedModules.Where(m => !TgiAdaptedModule.IsMatch(m)).ToArray();
        if (ignored.Length > 0)
        {
            var families = ignored.Select(Family).Distinct(StringComparer.Ordinal).ToArray();
            findings.Add(new(TgiTargets.Id, RuleSeverity.Warning, nameof(LoraConfig.TargetModules),
                $"{name}: TGI applies LoRA only to the decoder's q/k/v/o and gate/up/down projections and lm_head, so the LoRA on {List(families)} is ignored; " +
                "target those projections only", families.Length == 1 ? ignored[0] : null));
        }
    }

    /// <summary>model.layers.3.mlp.fc1 → model.layers.N.mlp.fc1, so a family of repeated modules is named once.</summary>
    private static string Family(string path) => Regex.Replace(path, @"(?<=^|\.)\d+(?=\.|$)", "N");

    private static string List(IReadOnlyList<string> names) =>
        names.Count <= 3 ? string.Join(", ", names) : string.Join(", ", names.Take(3)) + $" and {names.Count - 3} more";

    private static string PeftBias(LoraBias bias) => bias switch
    {
        LoraBias.All => "all",
        LoraBias.LoraOnly => "lora_only",
        _ => "none",
    };
}
