using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using LoraKit.IO;
using LoraKit.Data;
using LoraKit.Inference;

namespace LoraKit.Cli.Commands;

/// <summary>
/// `lorakit generate`: text from the base or an adapter, greedy by default (transformers' greedy tokens), streamed
/// to the terminal as it comes; `--prompts file.jsonl` answers each line's prompt and writes one JSON object per line.
/// </summary>
internal static class GenerateCommand
{
    /// <summary>The key a `--prompts` line holds its prompt under.</summary>
    public const string PromptKey = "prompt";

    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var o = new InferenceOptions();
        var adapter = new Option<string?>("--adapter") { Description = "A PEFT adapter folder (default: the bare base)." };
        var prompt = new Option<string?>("--prompt") { Description = "The prompt; the answer streams to standard output." };
        var prompts = new Option<string?>("--prompts") { Description = "JSONL file of {\"prompt\": …} lines; writes one JSON object per line (prompt, completion, tokens, stop reason)." };
        var maxNew = new Option<int>("--max-new-tokens") { Description = "Tokens to generate at most.", DefaultValueFactory = _ => GenerationOptions.DefaultMaxNewTokens };
        var temperature = new Option<double?>("--temperature") { Description = "Sample with this temperature (default: greedy)." };
        var topP = new Option<double?>("--top-p") { Description = "Nucleus sampling: the smallest set of tokens with probability ≥ p." };
        var topK = new Option<int?>("--top-k") { Description = "Sample among the k most likely tokens." };
        var seed = new Option<long?>("--seed") { Description = "Seed of the sampling generator (default 0)." };
        var stop = new Option<string[]>("--stop") { Description = "Stop when the text contains this string (left out of the answer); repeatable." };
        var noCache = new Option<bool>("--no-cache") { Description = "Recompute the whole sequence for every token (no KV cache; slower, for checks)." };
        var chat = new Option<bool>("--chat") { Description = "Format the prompt with the model's chat template (a user turn)." };
        var command = new Command("generate", "Generate text with a base model or an adapter.") { adapter, prompt, prompts, maxNew, temperature, topP, topK, seed, stop, noCache, chat };
        o.AddTo(command);
        command.SetAction(p =>
        {
            var single = p.GetValue(prompt);
            var file = p.GetValue(prompts);
            if ((single is null) == (file is null))
            {
                stderr.WriteLine("error: give exactly one of --prompt TEXT or --prompts file.jsonl");
                return ExitCodes.BadInput;
            }
            try
            {
                var options = new GenerationOptions
                {
                    MaxNewTokens = p.GetValue(maxNew), Temperature = p.GetValue(temperature), TopP = p.GetValue(topP), TopK = p.GetValue(topK),
                    Seed = p.GetValue(seed), StopStrings = p.GetValue(stop) ?? Array.Empty<string>(), UseCache = !p.GetValue(noCache),
                };
                options.Validate();
                var inputs = single is not null ? new List<(int Line, string Prompt)> { (0, single) } : ReadPrompts(file!);
                using var model = o.Load(p, p.GetValue(adapter) is { } a ? new[] { a } : Array.Empty<string>(), stderr);
                if (p.GetValue(adapter) is not null) model.UseAdapter(model.Adapters[0]);
                for (var i = 0; i < inputs.Count; i++)
                {
                    var (line, text) = inputs[i];
                    var ids = p.GetValue(chat) ? model.EncodeChatPrompt(new[] { new ChatMessage("user", text) }) : model.EncodePrompt(text);
                    if (single is not null)
                    {
                        var clock = Stopwatch.StartNew();
                        var result = model.GenerateTokens(ids, options, (_, piece) =>
                        {
                            stdout.Write(piece);
                            stdout.Flush();
                        });
                        stdout.WriteLine();
                        stderr.WriteLine($"{result.NewIds.Count} tokens in {clock.Elapsed.TotalSeconds:0.00} s ({result.NewIds.Count / Math.Max(clock.Elapsed.TotalSeconds, 1e-9):0.0} tokens/s), stopped at {Describe(result.StopReason)}");
                    }
                    else
                    {
                        WriteJsonLine(stdout, line, text, model.GenerateTokens(ids, options));
                    }
                }
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

    private static string Describe(StopReason reason) => reason switch
    {
        StopReason.EndOfSequence => "the end-of-sequence token",
        StopReason.StopString => "a stop string",
        _ => "--max-new-tokens",
    };

    public static string StopReasonName(StopReason reason) => reason switch
    {
        StopReason.EndOfSequence => "eos",
        StopReason.StopString => "stop_string",
        _ => "max_new_tokens",
    };

    /// <summary>Each non-blank line's prompt; a line that is not an object with a non-empty string "prompt" is refused with its file:line.</summary>
    private static List<(int Line, string Prompt)> ReadPrompts(string path)
    {
        var result = new List<(int, string)>();
        var line = 0;
        var all = InputFile.ReadAllText(path, InputLimits.DatasetFileBytes, "prompts file").Split('\n');
        foreach (var raw in all)
        {
            line++;
            var text = raw.TrimEnd('\r');
            if (string.IsNullOrWhiteSpace(text)) continue;
            string? prompt = null;
            try
            {
                using var doc = StrictJson.Parse(Encoding.UTF8.GetBytes(text));
                if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty(PromptKey, out var v) && v.ValueKind == JsonValueKind.String)
                    prompt = v.GetString();
            }
            catch (JsonException e)
            {
                throw new DataException($"{path}:{line}: not JSON ({StrictJson.Describe(e)}); each line is an object {{\"prompt\": \"…\"}}", path, line);
            }
            if (string.IsNullOrEmpty(prompt))
                throw new DataException($"{path}:{line}: no non-empty string \"{PromptKey}\"; each line is an object {{\"prompt\": \"…\"}}", path, line);
            result.Add((line, prompt));
        }
        if (result.Count == 0) throw new DataException($"{path} has no prompt lines; write one {{\"prompt\": \"…\"}} object per line", path);
        return result;
    }

    private static void WriteJsonLine(TextWriter stdout, int line, string prompt, GenerationResult result)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteNumber("line", line);
            w.WriteString(PromptKey, prompt);
            w.WriteString("completion", result.Text);
            w.WriteNumber("new_tokens", result.NewIds.Count);
            w.WriteString("stop_reason", StopReasonName(result.StopReason));
            w.WriteEndObject();
        }
        stdout.WriteLine(System.Text.Encoding.UTF8.GetString(stream.ToArray()));
        stdout.Flush();
    }
}
