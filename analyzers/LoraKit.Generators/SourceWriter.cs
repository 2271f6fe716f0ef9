using System.Text;

namespace LoraKit.Generators;

/// <summary>An indenting writer with <c>\n</c> line ends whatever the host OS, so output is byte-stable.</summary>
internal sealed class SourceWriter
{
    private readonly StringBuilder _text = new();
    private int _indent;

    public void Line(string line = "")
    {
        if (line.Length > 0) _text.Append(' ', _indent * 4).Append(line);
        _text.Append('\n');
    }

    /// <summary>Writes <paramref name="line"/> then <c>{</c>, and indents.</summary>
    public void Open(string line)
    {
        Line(line);
        Line("{");
        _indent++;
    }

    /// <summary>Outdents and writes <c>}</c> followed by <paramref name="suffix"/>.</summary>
    public void Close(string suffix = "")
    {
        _indent--;
        Line("}" + suffix);
    }

    public override string ToString() => _text.ToString();
}
