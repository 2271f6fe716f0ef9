using System.CommandLine;
using LoraKit.Gguf;

namespace LoraKit.Cli.Commands;

/// <summary>`lorakit export gguf` and `lorakit export ollama`: LoraKit models and adapters for llama.cpp, LLamaSharp and Ollama.</summary>
internal static class GgufCommands
{
    public static Command Gguf(TextWriter stdout, TextWriter stderr)
    {
        var baseModel = new Option<string>("--base") { Description = "The base model: builtin or a Hugging Face folder.", Required = true };
        var adapter = new Option<string?>("--adapter") { Description = "A PEFT adapter folder: written as llama.cpp's LoRA GGUF, or merged with --merge." };
        var merge = new Option<bool>("--merge") { Description = "Write base + adapter merged into one model file." };
        var output = new Option<string>("--out") { Description = "The .gguf file to write (must not exist).", Required = true };
        var (type, context) = (TypeOption(), ContextOption());
        var command = new Command("gguf", "Write a base model, a LoRA adapter or a merged model as llama.cpp's GGUF (llama.cpp, LLamaSharp, Ollama, LM Studio).")
        {
            baseModel, adapter, merge, output, type, context,
        };
        command.SetAction(parse => CommandInput.Guard(stderr, () =>
        {
            var options = Options(parse, type, context);
            var outFile = parse.GetValue(output)!;
            if (File.Exists(outFile)) throw new IOException($"{Path.GetFullPath(outFile)} exists; export never overwrites: give a new --out");
            var (b, a) = (parse.GetValue(baseModel)!, parse.GetValue(adapter));
            if (parse.GetValue(merge) && a is null) throw new ArgumentException("--merge needs --adapter, the adapter to merge into the base");
            var result = a is null ? GgufExporter.ExportBase(b, outFile, options)
                : parse.GetValue(merge) ? GgufExporter.ExportMerged(b, a, outFile, options)
                : GgufExporter.ExportAdapter(b, a, outFile, options);
            stdout.WriteLine($"wrote {result.Path}: {result.Kind} for llama.cpp architecture '{result.Architecture}', {result.Tensors} tensors, {Rules.Format.Count(result.Bytes)} bytes ({options.Type.ToString().ToLowerInvariant()})");
            foreach (var note in result.Notes) stdout.WriteLine($"note: {note}");
            if (a is not null && !parse.GetValue(merge))
                stdout.WriteLine($"use it over the base exported with the same --base: llama-cli -m base.gguf --lora {Path.GetFileName(outFile)} (LLamaSharp: LoadLoraFromFile; Ollama: ADAPTER)");
            return ExitCodes.Ok;
        }));
        return command;
    }

    public static Command Ollama(TextWriter stdout, TextWriter stderr)
    {
        var baseModel = new Option<string>("--base") { Description = "The base model: builtin or a Hugging Face folder.", Required = true };
        var adapter = new Option<string?>("--adapter") { Description = "A PEFT adapter folder (Modelfile ADAPTER)." };
        var output = new Option<string>("--out") { Description = "Folder for model.gguf, adapter.gguf and the Modelfile (new or empty).", Required = true };
        var (type, context) = (TypeOption(), ContextOption());
        var command = new Command("ollama", "Write an Ollama model folder: the GGUF base (FROM), the LoRA adapter (ADAPTER), stop tokens and, where faithful, the chat TEMPLATE.")
        {
            baseModel, adapter, output, type, context,
        };
        command.SetAction(parse => CommandInput.Guard(stderr, () =>
        {
            var result = OllamaModelfile.Export(parse.GetValue(baseModel)!, parse.GetValue(adapter), parse.GetValue(output)!, Options(parse, type, context));
            stdout.WriteLine($"wrote {result.Folder}: {OllamaModelfile.FileName}, {OllamaModelfile.ModelFileName}{(result.Adapter is null ? "" : ", " + OllamaModelfile.AdapterFileName)}");
            stdout.WriteLine(result.HasTemplate ? "TEMPLATE: translated from the model's chat template (checked on probe conversations)" : $"no TEMPLATE: {result.TemplateNote}");
            stdout.WriteLine($"then: cd {parse.GetValue(output)} && ollama create <name> -f {OllamaModelfile.FileName}");
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Option<string> TypeOption() =>
        new("--type") { Description = "Weights of the matrices: f32, f16, bf16 or q8_0 (vectors stay f32).", DefaultValueFactory = _ => "f32" };

    private static Option<int?> ContextOption() =>
        new("--context-length") { Description = "Context length written into the file (default: max_position_embeddings; a sliding-window model needs one within its window, Phi-3 LongRoPE one within its original context)." };

    private static GgufExportOptions Options(ParseResult parse, Option<string> type, Option<int?> context) => new()
    {
        Type = parse.GetValue(type) switch
        {
            "f32" => GgufOutputType.F32,
            "f16" => GgufOutputType.F16,
            "bf16" => GgufOutputType.BF16,
            "q8_0" => GgufOutputType.Q8_0,
            var t => throw new ArgumentException($"--type {t} is not one of f32, f16, bf16, q8_0"),
        },
        ContextLength = parse.GetValue(context),
    };

    /// <summary>`lorakit inspect model.gguf`: what LoraKit's validated reader finds in a GGUF file.</summary>
    public static int Inspect(string path, TextWriter stdout)
    {
        var file = GgufFile.Open(path);
        string Text(string key) => file[key]?.ToString() ?? "-";
        stdout.WriteLine($"gguf        {Path.GetFullPath(path)} (GGUF v{file.Version}, alignment {file.Alignment})");
        stdout.WriteLine($"kind        {Text("general.type")}, architecture {Text("general.architecture")}, name {Text("general.name")}");
        var bytes = file.Tensors.Sum(t => t.ByteLength);
        var types = string.Join(", ", file.Tensors.GroupBy(t => t.Type).OrderBy(g => g.Key).Select(g => $"{g.Count()} {g.Key}"));
        stdout.WriteLine($"tensors     {file.Tensors.Count} ({types}), {Rules.Format.Count(file.Tensors.Sum(t => t.ElementCount))} values, {Rules.Format.Count(bytes)} bytes");
        stdout.WriteLine("metadata");
        var width = file.Metadata.Count == 0 ? 0 : file.Metadata.Max(kv => kv.Key.Length);
        foreach (var (key, value) in file.Metadata) stdout.WriteLine($"  {key.PadRight(width)}  {value}");
        stdout.WriteLine("tensor list");
        var nameWidth = file.Tensors.Count == 0 ? 0 : file.Tensors.Max(t => t.Name.Length);
        foreach (var t in file.Tensors)
            stdout.WriteLine($"  {t.Name.PadRight(nameWidth)}  {t.Type,-5} [{string.Join(", ", t.Dimensions)}]");
        return ExitCodes.Ok;
    }
}
