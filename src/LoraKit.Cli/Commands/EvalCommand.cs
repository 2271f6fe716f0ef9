using System.CommandLine;
using System.Text.Json;
using LoraKit.Data;
using LoraKit.Inference;

namespace LoraKit.Cli.Commands;

/// <summary>
/// `lorakit eval`: the token-weighted mean next-token loss and perplexity of the base and each adapter over every
/// line of a JSONL file, side by side, from one model load.
/// </summary>
internal static class EvalCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var o = new InferenceOptions();
        var adapters = new Option<string[]>("--adapter") { Description = "A PEFT adapter folder; repeat for several (each is scored beside the base)." };
        var data = new Option<string>("--data") { Description = "JSONL file of {\"text\"}, {\"prompt\",\"completion\"} or chat {\"messages\"} lines (or a builtin dataset); every line is scored.", Required = true };
        var seqLen = new Option<int?>("--seq-len") { Description = "Cut longer lines to this many tokens (default: the longest sequence the model runs — max_position_embeddings, or factor × it for linear and dynamic RoPE scaling, factor × the original context for yarn and llama3, never less than max_position_embeddings; longrope's max_position_embeddings is already its long context). Per-line losses do not depend on which lines share a batch." };
        var json = new Option<bool>("--json") { Description = "One JSON object with every model's figures and per-line losses." };
        var command = new Command("eval", "Evaluate a base model and its adapters on a JSONL file: mean loss and perplexity.") { adapters, data, seqLen, json };
        o.AddTo(command);
        command.SetAction(p =>
        {
            var file = p.GetValue(data)!;
            try
            {
                var dataset = DatasetSource.Open(file);
                using var model = o.Load(p, p.GetValue(adapters) ?? Array.Empty<string>(), stderr);
                var encoded = model.EncodeForEval(dataset.Examples, p.GetValue(seqLen));
                var results = new List<EvalResult> { model.Evaluate(encoded, null) };
                foreach (var adapter in model.Adapters) results.Add(model.Evaluate(encoded, adapter));
                if (p.GetValue(json)) WriteJson(stdout, file, model.BaseName, encoded, results);
                else WriteTable(stdout, file, model.BaseName, encoded, results);
                return ExitCodes.Ok;
            }
            catch (Exception e) when (CommandInput.IsBadInput(e))
            {
                stderr.WriteLine($"error: {e.Message}");
                return ExitCodes.BadInput;
            }
        });
        return command;
    }

    /// <summary>An adapter's name, or the base's: its folder's name when given as a path (the table stays narrow), else as given.</summary>
    private static string Label(string baseName, EvalResult r) =>
        r.Adapter ?? $"{(Directory.Exists(baseName) ? Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(baseName))) : baseName)} (base)";

    private static void WriteTable(TextWriter stdout, string file, string baseName, EncodedExamples encoded, IReadOnlyList<EvalResult> results)
    {
        var truncated = results[0].TruncatedExamples;
        stdout.WriteLine($"data {file}: {encoded.Rows.Count} lines, {results[0].Tokens:N0} scored tokens; " +
                         $"{truncated} line{(truncated == 1 ? "" : "s")} truncated to --seq-len {encoded.SequenceLength}");
        var width = Math.Max(5, results.Max(r => Label(baseName, r).Length));
        stdout.WriteLine($"{"model".PadRight(width)}  {"loss",10}  {"perplexity",12}");
        foreach (var r in results)
            stdout.WriteLine($"{Label(baseName, r).PadRight(width)}  {r.MeanLoss,10:0.000000}  {r.Perplexity,12:0.000}");
    }

    private static void WriteJson(TextWriter stdout, string file, string baseName, EncodedExamples encoded, IReadOnlyList<EvalResult> results)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("data", Path.GetFullPath(file));
            w.WriteNumber("lines", encoded.Rows.Count);
            w.WriteNumber("sequence_length", encoded.SequenceLength);
            w.WriteNumber("truncated_lines", results[0].TruncatedExamples);
            w.WriteStartArray("results");
            foreach (var r in results)
            {
                w.WriteStartObject();
                w.WriteString("model", Label(baseName, r));
                if (r.Adapter is null) w.WriteNull("adapter");
                else w.WriteString("adapter", r.Adapter);
                w.WriteNumber("mean_loss", r.MeanLoss);
                w.WriteNumber("perplexity", r.Perplexity);
                w.WriteNumber("tokens", r.Tokens);
                w.WriteStartArray("examples");
                foreach (var e in r.Examples)
                {
                    w.WriteStartObject();
                    w.WriteNumber("line", e.Line);
                    w.WriteNumber("tokens", e.Tokens);
                    if (e.MeanLoss is double loss) w.WriteNumber("mean_loss", loss);
                    else w.WriteNull("mean_loss");
                    w.WriteBoolean("truncated", e.Truncated);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        stdout.WriteLine(System.Text.Encoding.UTF8.GetString(stream.ToArray()));
    }
}
