using LoraKit.Data;
using LoraKit.Modeling;
using LoraKit.Models;

namespace LoraKit.Builtin;

/// <summary>Resolves a base-model spec — <c>builtin</c> or a Hugging Face folder — to its folder and tokenizer.</summary>
public static class BaseModelSource
{
    /// <param name="Name">The base as the user gave it (<c>builtin</c>, or the folder path exactly as passed): what a
    /// saved adapter records as <c>base_model_name_or_path</c>, as PEFT records the name or path the base was loaded from.</param>
    public sealed record Resolved(string Folder, string Name, ILoraTokenizer Tokenizer);

    public static Resolved Open(string spec, Action<string>? log = null)
    {
        if (spec == BuiltinModel.Spec)
        {
            var folder = BuiltinModel.EnsurePretrained(log);
            return new Resolved(folder, BuiltinModel.Spec, ByteTokenizer.Instance);
        }
        if (!Directory.Exists(spec) && spec.StartsWith(BuiltinModel.Spec + ":", StringComparison.Ordinal))
            throw new DirectoryNotFoundException($"base model '{spec}': there is one builtin base model, '{BuiltinModel.Spec}'; give '{BuiltinModel.Spec}' or a Hugging Face model folder");
        if (!Directory.Exists(spec))
            throw new DirectoryNotFoundException($"base model '{spec}' is neither 'builtin' nor a folder; give a Hugging Face model folder (config.json, *.safetensors, tokenizer.json or tokenizer.model)");
        if (!File.Exists(Path.Combine(spec, HfCheckpoint.ConfigFileName)))
            throw new FileNotFoundException($"base model folder {spec} has no config.json; a Hugging Face model folder holds config.json and model.safetensors");
        ILoraTokenizer tokenizer = BuiltinModel.IsBuiltinFolder(spec) ? ByteTokenizer.Instance : HfTokenizer.FromFolder(spec);
        RequireIdsWithinVocabulary(tokenizer, Path.Combine(spec, HfCheckpoint.ConfigFileName));
        return new Resolved(spec, spec, tokenizer);
    }

    /// <summary>
    /// Every id the tokenizer can produce (its vocabulary, added and special tokens) must have a row in the model's
    /// embedding; otherwise the first such token would fail inside libtorch. Refused here, naming both files.
    /// </summary>
    private static void RequireIdsWithinVocabulary(ILoraTokenizer tokenizer, string configPath)
    {
        var vocabSize = HfConfig.Load(configPath).VocabSize;
        var largest = new[] { tokenizer.VocabSize - 1, tokenizer.BosId ?? -1, tokenizer.EosId ?? -1, tokenizer.PadId ?? -1 }.Max();
        if (largest >= vocabSize)
            throw new DataException(
                $"the tokenizer ({tokenizer.Name}) has token ids up to {largest}, but {configPath} gives vocab_size {vocabSize}, so those tokens have no embedding; " +
                "take the tokenizer files and config.json from the same model", configPath);
    }
}
