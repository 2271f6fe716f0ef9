namespace LoraKit.IO;

/// <summary>
/// How much LoraKit reads of each kind of file it is handed (docs/hardening.md lists them). Generous for real
/// files — the largest Hugging Face tokenizer.json files are tens of MB — and small enough that a wrong path or a
/// hostile file is refused before it exhausts memory.
/// </summary>
public static class InputLimits
{
    /// <summary>config.json, tokenizer_config.json, generation_config.json, adapter_config.json, safetensors index, lock files, chat_template.jinja.</summary>
    public const long JsonFileBytes = 64L << 20;

    /// <summary>tokenizer.json, tokenizer.model, vocab.json, merges.txt.</summary>
    public const long TokenizerFileBytes = 512L << 20;

    /// <summary>A JSONL dataset: the largest array .NET allocates (LoraKit holds a dataset in memory).</summary>
    public const long DatasetFileBytes = 0x7FFFFFC7;

    /// <summary>"64 MiB", "2 GiB".</summary>
    public static string Describe(long bytes) =>
        bytes >= 1L << 30 ? $"{Math.Round(bytes / (double)(1L << 30), 1).ToString(CultureInfo.InvariantCulture)} GiB"
        : bytes >= 1L << 20 ? $"{(bytes >> 20).ToString(CultureInfo.InvariantCulture)} MiB"
        : $"{bytes.ToString(CultureInfo.InvariantCulture)} bytes";
}
