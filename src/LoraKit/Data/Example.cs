namespace LoraKit.Data;

/// <summary>What a dataset's lines hold: plain text (loss on every token), a prompt and its completion (loss on the completion only), or a conversation (loss on the assistant turns only).</summary>
public enum ExampleKind
{
    /// <summary><c>{"text": …}</c></summary>
    Text,

    /// <summary><c>{"prompt": …, "completion": …}</c></summary>
    PromptCompletion,

    /// <summary><c>{"messages": [{"role": "system|user|assistant", "content": …}, …]}</c>, formatted by the model's chat template.</summary>
    Chat,
}

/// <summary>One training example. <see cref="Line"/> is the 1-based line of its JSONL file (0 for generated examples).</summary>
public sealed record Example
{
    private Example() { } // built only by the From… factories, which validate

    public ExampleKind Kind { get; private init; }

    /// <summary>The text of a <see cref="ExampleKind.Text"/> example; null otherwise.</summary>
    public string? Text { get; private init; }

    /// <summary>The prompt of a <see cref="ExampleKind.PromptCompletion"/> example; null otherwise.</summary>
    public string? Prompt { get; private init; }

    /// <summary>The completion of a <see cref="ExampleKind.PromptCompletion"/> example; null otherwise.</summary>
    public string? Completion { get; private init; }

    /// <summary>The conversation of a <see cref="ExampleKind.Chat"/> example; null otherwise.</summary>
    public IReadOnlyList<ChatMessage>? Messages { get; private init; }

    public int Line { get; private init; }

    public static Example FromText(string text, int line = 0)
    {
        if (string.IsNullOrEmpty(text)) throw new ArgumentException("an example's text must not be empty", nameof(text));
        return new Example { Kind = ExampleKind.Text, Text = text, Line = line };
    }

    public static Example FromPromptCompletion(string prompt, string completion, int line = 0)
    {
        if (string.IsNullOrEmpty(prompt)) throw new ArgumentException("an example's prompt must not be empty", nameof(prompt));
        if (string.IsNullOrEmpty(completion)) throw new ArgumentException("an example's completion must not be empty", nameof(completion));
        return new Example { Kind = ExampleKind.PromptCompletion, Prompt = prompt, Completion = completion, Line = line };
    }

    /// <summary>A conversation: at least one assistant message (the turns the loss is on); roles from <see cref="ChatMessage.Roles"/>.</summary>
    public static Example FromMessages(IReadOnlyList<ChatMessage> messages, int line = 0)
    {
        if (messages is null) throw new ArgumentNullException(nameof(messages));
        if (messages.Count == 0) throw new ArgumentException("a conversation needs at least one message", nameof(messages));
        foreach (var m in messages)
        {
            if (m is null || !ChatMessage.Roles.Contains(m.Role))
                throw new ArgumentException($"a message's role must be one of {string.Join(", ", ChatMessage.Roles)}", nameof(messages));
            if (m.Content is null) throw new ArgumentException("a message's content must not be null", nameof(messages));
        }
        if (!messages.Any(m => m.Role == ChatMessage.AssistantRole && !string.IsNullOrWhiteSpace(m.Content)))
            throw new ArgumentException("a conversation needs an assistant message with content (the loss is on assistant turns only)", nameof(messages));
        return new Example { Kind = ExampleKind.Chat, Messages = messages.ToArray(), Line = line };
    }

    /// <summary>
    /// The example's content as the split and the dataset hash see it: kind, then each field as a
    /// length-prefixed string. Independent of JSON formatting, key order, escapes and line number.
    /// </summary>
    public string Canonical => Kind switch
    {
        ExampleKind.Text => $"text\n{Text!.Length}:{Text}",
        ExampleKind.PromptCompletion => $"prompt_completion\n{Prompt!.Length}:{Prompt}\n{Completion!.Length}:{Completion}",
        _ => Messages!.Aggregate(new StringBuilder("chat"), (sb, m) => sb.Append('\n').Append(m.Role.Length).Append(':').Append(m.Role)
            .Append('\n').Append(m.Content.Length).Append(':').Append(m.Content)).ToString(),
    };

    // Equality is by content (the line is where it came from, not what it is).
    public bool Equals(Example? other) =>
        other is not null && Kind == other.Kind && Text == other.Text && Prompt == other.Prompt && Completion == other.Completion
        && (Messages is null ? other.Messages is null : other.Messages is not null && Messages.SequenceEqual(other.Messages));

    public override int GetHashCode() => HashCode.Combine(Kind, Text, Prompt, Completion, Messages is null ? 0 : Canonical.GetHashCode(StringComparison.Ordinal));
}

/// <summary>A JSONL line that was not used, and why.</summary>
public sealed record BadLine(string File, int Line, string Problem)
{
    public override string ToString() => $"{File}:{Line}: {Problem}";
}
