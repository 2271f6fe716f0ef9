namespace LoraKit.Gguf;

/// <summary>
/// A model, adapter or tokenizer that LoraKit will not write as GGUF because llama.cpp would load it wrongly or
/// compute something else; raised before anything is written. The message names the file, the key, the problem and the fix.
/// </summary>
public sealed class GgufExportException(string source, string? key, string problem, string fix)
    : Exception(key is null ? $"{source}: {problem}; {fix}" : $"{source}, {key}: {problem}; {fix}")
{
    public new string Source { get; } = source;
    public string? Key { get; } = key;
    public string Problem { get; } = problem;
    public string Fix { get; } = fix;
}
