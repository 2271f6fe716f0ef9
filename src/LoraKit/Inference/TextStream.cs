using LoraKit.Data;

namespace LoraKit.Inference;

/// <summary>
/// Turns generated token ids into text pieces as they come. Only complete characters are released: a byte-level
/// token may end inside a multi-byte UTF-8 character, which decodes to U+FFFD until the next token completes it,
/// so trailing U+FFFD is held back until more tokens arrive or the stream ends. Text that could still become a
/// stop string is held back too; when a stop string appears the text ends before it.
/// </summary>
public sealed class TextStream
{
    private const char Replacement = '\uFFFD';

    private readonly ILoraTokenizer _tokenizer;
    private readonly IReadOnlyList<string> _stops;
    private readonly List<int> _ids = new();
    private int _released;

    public TextStream(ILoraTokenizer tokenizer, IReadOnlyList<string>? stopStrings = null)
    {
        _tokenizer = tokenizer ?? throw new ArgumentNullException(nameof(tokenizer));
        _stops = stopStrings ?? Array.Empty<string>();
    }

    /// <summary>Everything released so far.</summary>
    public string Text { get; private set; } = "";

    /// <summary>True once a stop string appeared: nothing more is released.</summary>
    public bool Stopped { get; private set; }

    /// <summary>Adds one token; returns the text it releases (possibly empty).</summary>
    public string Add(int id)
    {
        if (Stopped) return "";
        _ids.Add(id);
        return Release(final: false);
    }

    /// <summary>Ends the stream: releases what was held back (an incomplete character stays U+FFFD).</summary>
    public string Flush() => Stopped ? "" : Release(final: true);

    private string Release(bool final)
    {
        var decoded = _tokenizer.Decode(_ids);
        var stable = decoded.Length;
        if (!final)
            while (stable > 0 && decoded[stable - 1] == Replacement) stable--;

        var end = stable;
        var stopAt = -1;
        foreach (var stop in _stops)
        {
            var from = Math.Max(0, _released - stop.Length + 1);
            var at = decoded.IndexOf(stop, from, StringComparison.Ordinal);
            if (at >= 0 && at + stop.Length <= stable && (stopAt < 0 || at < stopAt)) stopAt = at;
        }
        if (stopAt >= 0)
        {
            end = stopAt;
            Stopped = true;
        }
        else if (!final)
        {
            end = stable - HeldForStops(decoded, stable);
        }
        if (end <= _released) return "";
        var piece = decoded.Substring(_released, end - _released);
        _released = end;
        Text += piece;
        return piece;
    }

    /// <summary>The longest tail of decoded[..length] that is the start of a stop string (it may still complete one).</summary>
    private int HeldForStops(string decoded, int length)
    {
        var held = 0;
        foreach (var stop in _stops)
            for (var n = Math.Min(stop.Length - 1, length); n > held; n--)
                if (string.CompareOrdinal(decoded, length - n, stop, 0, n) == 0)
                {
                    held = n;
                    break;
                }
        return held;
    }
}
