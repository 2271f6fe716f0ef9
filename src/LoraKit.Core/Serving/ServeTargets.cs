namespace LoraKit.Serving;

/// <summary>The inference servers the serving lint (LORA40xx) knows, as the MSBuild property <c>LoraKitServeTargets</c> and
/// <c>lorakit inspect --serve-targets</c> name them.</summary>
[Flags]
public enum ServeTargets
{
    None = 0,

    /// <summary>vLLM (<c>--enable-lora</c>).</summary>
    Vllm = 1,

    /// <summary>llama.cpp and what runs on it: LLamaSharp, Ollama (<c>ADAPTER</c>), LM Studio; adapters reach it through
    /// <c>convert_lora_to_gguf.py</c>.</summary>
    LlamaCpp = 2,

    /// <summary>Hugging Face Text Generation Inference (<c>--lora-adapters</c>).</summary>
    Tgi = 4,

    All = Vllm | LlamaCpp | Tgi,
}

/// <summary>The one text form of <see cref="ServeTargets"/>: "vllm", "llamacpp", "tgi", separated by ';' or ','.</summary>
public static class ServeTargetNames
{
    public const string Vllm = "vllm";
    public const string LlamaCpp = "llamacpp";
    public const string Tgi = "tgi";

    /// <summary>The accepted names, for messages.</summary>
    public const string Allowed = Vllm + ", " + LlamaCpp + ", " + Tgi;

    private static readonly (string Name, ServeTargets Target)[] Names =
    {
        (Vllm, ServeTargets.Vllm),
        (LlamaCpp, ServeTargets.LlamaCpp),
        (Tgi, ServeTargets.Tgi),
    };

    /// <summary>The name of one server.</summary>
    public static string Of(ServeTargets single)
    {
        foreach (var (name, target) in Names)
            if (target == single) return name;
        throw new ArgumentOutOfRangeException(nameof(single), single, "not a single ServeTargets value");
    }

    /// <summary>Each server of <paramref name="targets"/>, in the order vllm, llamacpp, tgi.</summary>
    public static IEnumerable<ServeTargets> Each(ServeTargets targets) =>
        Names.Where(n => (targets & n.Target) != 0).Select(n => n.Target);

    /// <summary>
    /// "vllm;llamacpp" → Vllm | LlamaCpp. Names are case-insensitive, separated by ';' or ',', blanks ignored; empty or
    /// null text is <see cref="ServeTargets.None"/>. False, with the unknown names in <paramref name="error"/>, when a
    /// name is not one of <see cref="Allowed"/> (the known ones are still returned).
    /// </summary>
    public static bool TryParse(string? text, out ServeTargets targets, out string? error)
    {
        targets = ServeTargets.None;
        error = null;
        if (text is null) return true;
        var unknown = new List<string>();
        foreach (var part in text.Split(';', ','))
        {
            var name = part.Trim();
            if (name.Length == 0) continue;
            var hit = Names.Where(n => string.Equals(n.Name, name, StringComparison.OrdinalIgnoreCase)).ToArray();
            if (hit.Length == 1) targets |= hit[0].Target;
            else unknown.Add(name);
        }
        if (unknown.Count == 0) return true;
        error = $"'{string.Join("', '", unknown)}' {(unknown.Count == 1 ? "is not a server" : "are not servers")} LoraKit knows; use {Allowed}, separated by ';'";
        return false;
    }
}
