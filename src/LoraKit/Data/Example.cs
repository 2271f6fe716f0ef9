using System;

namespace LoraKit.Data;

/// <summary>What a dataset's lines hold: plain text (loss on every token) or a prompt and its completion (loss on the completion only).</summary>
public enum ExampleKind
{
    /// <summary><c>{"text": …}</c></summary>
    Text,

    /// <summary><c>{"prompt": …, "completion": …}</c></summary>
    PromptCompletion,
}

/// <summary>One training example. <see cref="Line"/> is the 1-based line of its JSONL file (0 for generated examples).</summary>
public sealed record Example
{
    private Example(ExampleKind kind, string? text, string? prompt, string? completion, int line)
    {
        Kind = kind;
        Text = text;
        Prompt = prompt;
        Completion = completion;
        Line = line;
    }

    public ExampleKind Kind { get; }

    /// <summary>The text of a <see cref="ExampleKind.Text"/> example; null otherwise.</summary>
    public string? Text { get; }

    /// <summary>The prompt of a <see cref="ExampleKind.PromptCompletion"/> example; null otherwise.</summary>
    public string? Prompt { get; }

    /// <summary>The completion of a <see cref="ExampleKind.PromptCompletion"/> example; null otherwise.</summary>
    public string? Completion { get; }

    public int Line { get; }

    public static Example FromText(string text, int line = 0)
    {
        if (string.IsNullOrEmpty(text)) throw new ArgumentException("an example's text must not be empty", nameof(text));
        return new Example(ExampleKind.Text, text, null, null, line);
    }

    public static Example FromPromptCompletion(string prompt, string completion, int line = 0)
    {
        if (string.IsNullOrEmpty(prompt)) throw new ArgumentException("an example's prompt must not be empty", nameof(prompt));
        if (string.IsNullOrEmpty(completion)) throw new ArgumentException("an example's completion must not be empty", nameof(completion));
        return new Example(ExampleKind.PromptCompletion, null, prompt, completion, line);
    }

    /// <summary>
    /// The example's content as the split and the dataset hash see it: kind, then each field as a
    /// length-prefixed string. Independent of JSON formatting, key order, escapes and line number.
    /// </summary>
    public string Canonical => Kind == ExampleKind.Text
        ? $"text\n{Text!.Length}:{Text}"
        : $"prompt_completion\n{Prompt!.Length}:{Prompt}\n{Completion!.Length}:{Completion}";

    // Equality is by content (the line is where it came from, not what it is).
    public bool Equals(Example? other) =>
        other is not null && Kind == other.Kind && Text == other.Text && Prompt == other.Prompt && Completion == other.Completion;

    public override int GetHashCode() => HashCode.Combine(Kind, Text, Prompt, Completion);
}

/// <summary>A JSONL line that was not used, and why.</summary>
public sealed record BadLine(string File, int Line, string Problem)
{
    public override string ToString() => $"{File}:{Line}: {Problem}";
}
