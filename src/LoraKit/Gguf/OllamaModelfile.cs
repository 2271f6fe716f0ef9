using LoraKit.Builtin;
using LoraKit.Data;
using LoraKit.Inference;
using LoraKit.Modeling;

namespace LoraKit.Gguf;

/// <summary>What <see cref="OllamaModelfile.Export"/> wrote, and why the Modelfile has no TEMPLATE when it has none.</summary>
public sealed record OllamaExportResult(string Folder, string Modelfile, GgufExportResult Model, GgufExportResult? Adapter, bool HasTemplate, string? TemplateNote);

/// <summary>
/// An Ollama model folder: the base as GGUF (<c>FROM ./model.gguf</c>), the adapter as llama.cpp's LoRA GGUF
/// (<c>ADAPTER ./adapter.gguf</c>), a <c>PARAMETER stop</c> per end-of-sequence token, and a <c>TEMPLATE</c> only when
/// the model's Jinja chat template is a fixed text around each turn that an Ollama Go template reproduces exactly:
/// the template is rendered for probe conversations, the pieces around each role's content are read off, and the
/// Go template built from them must give the very same text for every probe (with and without a system turn, one
/// and several turns, with the generation prompt). Any other template (a default system prompt, per-turn logic,
/// tools) gets no TEMPLATE and the reason, so Ollama's own default is not mistaken for the model's format.
/// </summary>
public static class OllamaModelfile
{
    public const string FileName = "Modelfile";
    public const string ModelFileName = "model.gguf";
    public const string AdapterFileName = "adapter.gguf";

    /// <summary>Writes <paramref name="folder"/> (new or empty): model.gguf, adapter.gguf when an adapter is given, and the Modelfile.</summary>
    public static OllamaExportResult Export(string baseModel, string? adapterFolder, string folder, GgufExportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(folder);
        if (Directory.Exists(folder) && Directory.EnumerateFileSystemEntries(folder).Any())
            throw new IOException($"{Path.GetFullPath(folder)} is not empty; export never overwrites: give a new --out");
        options ??= new GgufExportOptions();
        var source = BaseModelSource.Open(baseModel);
        Directory.CreateDirectory(folder);
        var model = GgufExporter.ExportBase(baseModel, Path.Combine(folder, ModelFileName), options);
        var adapter = adapterFolder is null ? null : GgufExporter.ExportAdapter(baseModel, adapterFolder, Path.Combine(folder, AdapterFileName), options);

        var gguf = GgufFile.Open(model.Path);
        var tokens = (string[])gguf["tokenizer.ggml.tokens"]!.Value;
        var stops = EosTokens.Of(source.Folder, source.Tokenizer).Where(id => id >= 0 && id < tokens.Length).Select(id => tokens[id]).Distinct().ToList();
        var bos = source.Tokenizer.BosId is int b && b < tokens.Length ? tokens[b] : null;
        string? goTemplate = null, note;
        var template = BuiltinModel.IsBuiltinFolder(source.Folder) ? null : ChatTemplate.TryLoad(source.Folder);
        if (template is null) note = "the model has no chat template (a base model): Ollama's default template applies; use `ollama run` with raw prompts or add a TEMPLATE yourself";
        else (goTemplate, note) = Translate(template, source.Tokenizer.AddBos ? bos : null);

        var text = new StringBuilder();
        text.Append("# Written by lorakit export ollama. Create the model with: ollama create <name> -f Modelfile\n");
        text.Append("FROM ./").Append(ModelFileName).Append('\n');
        if (adapter is not null) text.Append("ADAPTER ./").Append(AdapterFileName).Append('\n');
        foreach (var s in stops) text.Append("PARAMETER stop ").Append(Quote(s)).Append('\n');
        if (goTemplate is not null) text.Append("TEMPLATE ").Append(Quote(goTemplate)).Append('\n');
        else text.Append("# No TEMPLATE: ").Append(note).Append('\n');
        var path = Path.Combine(folder, FileName);
        IO.AtomicFile.WriteAllBytes(path, Encoding.UTF8.GetBytes(text.ToString()));
        return new OllamaExportResult(Path.GetFullPath(folder), path, model, adapter, goTemplate is not null, note);
    }

    /// <summary>A Modelfile string: Go-quoted when it fits on one line, else triple-quoted (Ollama's multi-line form).</summary>
    private static string Quote(string s) =>
        s.Contains('\n') || s.Contains('"') ? "\"\"\"" + s + "\"\"\"" : "\"" + s + "\"";

    /// <summary>
    /// The Go template that renders every probe conversation exactly as <paramref name="template"/> does, or null and the
    /// reason. <paramref name="bos"/>: the BOS text llama.cpp adds itself when tokenizing, dropped from the template's start.
    /// </summary>
    public static (string? GoTemplate, string Note) Translate(ChatTemplate template, string? bos)
    {
        const string X1 = "\uE001x1", X2 = "\uE001x2", Y1 = "\uE001y1", S1 = "\uE001s1";
        try
        {
            string R(bool gen, params (string Role, string Content)[] turns) => template.Render(turns.Select(t => new ChatMessage(t.Role, t.Content)).ToList(), gen);
            var r1 = R(false, ("user", X1));
            var gen = R(true, ("user", X1));
            if (!gen.StartsWith(r1, StringComparison.Ordinal)) return (null, "its generation prompt is not text added after the conversation");
            var generation = gen[r1.Length..];
            var (head1, tail1) = Around(r1, X1);
            var r2 = R(false, ("user", X1), ("assistant", Y1), ("user", X2));
            var (_, afterX1) = Around(r2, X1);
            var userSuffix = tail1;
            if (!afterX1.StartsWith(userSuffix, StringComparison.Ordinal)) return (null, "a user turn ends differently when more turns follow");
            var (assistantPrefix, afterY1) = Around(afterX1[userSuffix.Length..], Y1);
            var (betweenY1X2, _) = Around(afterY1, X2);
            var userPrefix = CommonSuffix(head1, betweenY1X2);
            var start = head1[..^userPrefix.Length];
            var assistantSuffix = betweenY1X2[..^userPrefix.Length];
            var rs = R(false, ("system", S1), ("user", X1));
            var (beforeS1, afterS1) = Around(rs, S1);
            if (!beforeS1.StartsWith(start, StringComparison.Ordinal) || !afterS1.Contains(X1, StringComparison.Ordinal))
                return (null, "a system turn changes what comes before it");
            var systemPrefix = beforeS1[start.Length..];
            var (betweenS1X1, _) = Around(afterS1, X1);
            if (!betweenS1X1.EndsWith(userPrefix, StringComparison.Ordinal)) return (null, "the user turn after a system turn is written differently");
            var systemSuffix = betweenS1X1[..^userPrefix.Length];

            string Simulate(bool g, params (string Role, string Content)[] turns) =>
                start + string.Concat(turns.Select(t => t.Role switch
                {
                    "system" => systemPrefix + t.Content + systemSuffix,
                    "user" => userPrefix + t.Content + userSuffix,
                    _ => assistantPrefix + t.Content + assistantSuffix,
                })) + (g ? generation : "");
            var probes = new[]
            {
                (false, new[] { ("user", X1) }), (true, new[] { ("user", X1) }),
                (true, new[] { ("system", S1), ("user", X1) }),
                (true, new[] { ("user", X1), ("assistant", Y1), ("user", X2) }),
                (true, new[] { ("system", S1), ("user", X1), ("assistant", Y1), ("user", X2) }),
                (false, new[] { ("system", S1), ("user", X1), ("assistant", Y1) }),
            };
            foreach (var (g, turns) in probes)
                if (R(g, turns) != Simulate(g, turns))
                    return (null, $"it renders a conversation of {string.Join(", ", turns.Select(t => t.Item1))} in a way a fixed text per role does not reproduce (e.g. a default system prompt or per-turn logic)");
            var pieces = new[] { start, systemPrefix, systemSuffix, userPrefix, userSuffix, assistantPrefix, assistantSuffix, generation };
            if (pieces.Any(p => p.Contains("{{", StringComparison.Ordinal) || p.Contains('\uE001')))
                return (null, "its text holds \"{{\", which a Go template cannot hold literally");
            if (bos is not null && r1.StartsWith(bos, StringComparison.Ordinal) && !start.StartsWith(bos, StringComparison.Ordinal))
                return (null, "it writes the BOS token inside every user turn, and llama.cpp adds one more at the start of the prompt");
            if (bos is not null && start.StartsWith(bos, StringComparison.Ordinal)) start = start[bos.Length..];
            var go = start + "{{ range .Messages }}"
                     + $"{{{{ if eq .Role \"system\" }}}}{systemPrefix}{{{{ .Content }}}}{systemSuffix}"
                     + $"{{{{ else if eq .Role \"user\" }}}}{userPrefix}{{{{ .Content }}}}{userSuffix}"
                     + $"{{{{ else if eq .Role \"assistant\" }}}}{assistantPrefix}{{{{ .Content }}}}{assistantSuffix}"
                     + "{{ end }}{{ end }}" + generation;
            return (go, "translated: the Go template renders every probe conversation exactly as the chat template does");
        }
        catch (Exception e) when (e is DataException or InvalidOperationException or ArgumentException)
        {
            return (null, $"rendering it for probe conversations failed ({e.Message})");
        }
    }

    private static (string Before, string After) Around(string text, string marker)
    {
        var i = text.IndexOf(marker, StringComparison.Ordinal);
        if (i < 0 || text.IndexOf(marker, i + marker.Length, StringComparison.Ordinal) >= 0)
            throw new InvalidOperationException("a message's content does not appear exactly once in the rendering");
        return (text[..i], text[(i + marker.Length)..]);
    }

    private static string CommonSuffix(string a, string b)
    {
        var n = 0;
        while (n < a.Length && n < b.Length && a[^(n + 1)] == b[^(n + 1)]) n++;
        return a[^n..];
    }
}
