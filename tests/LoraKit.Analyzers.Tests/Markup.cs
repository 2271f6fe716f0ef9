using System;
using System.Collections.Generic;
using System.Text;
using Microsoft.CodeAnalysis.Text;

namespace LoraKit.Analyzers.Tests;

/// <summary>An expected diagnostic: its ID and the span it covers in the markup-free source.</summary>
public sealed record ExpectedDiagnostic(string Id, TextSpan Span);

/// <summary>
/// Parses <c>{|LORA1001:Alpha = 8|}</c> markup: the ID(s) before the colon (comma-separated for several
/// diagnostics on one span), the covered text after it. Markup does not nest.
/// </summary>
public static class Markup
{
    public static (string Source, IReadOnlyList<ExpectedDiagnostic> Expected) Parse(string markup)
    {
        var source = new StringBuilder();
        var expected = new List<ExpectedDiagnostic>();
        var i = 0;
        while (i < markup.Length)
        {
            var open = markup.IndexOf("{|", i, StringComparison.Ordinal);
            if (open < 0)
            {
                source.Append(markup, i, markup.Length - i);
                break;
            }
            source.Append(markup, i, open - i);
            var colon = markup.IndexOf(':', open);
            var close = markup.IndexOf("|}", open, StringComparison.Ordinal);
            if (colon < 0 || close < 0 || colon > close) throw new FormatException($"Unterminated markup at {open}: {markup.Substring(open)}");
            var start = source.Length;
            source.Append(markup, colon + 1, close - colon - 1);
            foreach (var id in markup.Substring(open + 2, colon - open - 2).Split(','))
                expected.Add(new ExpectedDiagnostic(id.Trim(), TextSpan.FromBounds(start, source.Length)));
            i = close + 2;
        }
        return (source.ToString(), expected);
    }
}
