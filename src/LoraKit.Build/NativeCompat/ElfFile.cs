using System.IO;
using System.Text;

namespace LoraKit.Build.NativeCompat;

/// <summary>A symbol-version requirement (Vernaux) of a shared object: "needs VERSION from FILE".</summary>
/// <param name="EntryOffset">File offset of the Vernaux entry, for patching its flags.</param>
/// <param name="Index">The version index symbols refer to through .gnu.version.</param>
internal sealed record VersionNeed(string File, string Version, ushort Flags, ushort Index, long EntryOffset)
{
    public const ushort WeakFlag = 0x2; // VER_FLG_WEAK
    public bool IsWeak => (Flags & WeakFlag) != 0;
}

/// <summary>A dynamic symbol with the version index it is bound to.</summary>
internal sealed record VersionedSymbol(string Name, ushort VersionIndex, bool IsDefined);

/// <summary>
/// Reads the symbol-versioning sections of a 64-bit little-endian ELF file (the only kind libtorch
/// ships for Linux): .gnu.version_r (needs), .gnu.version_d (definitions), .gnu.version + .dynsym.
/// Every offset and count is checked against the file length before use.
/// </summary>
internal sealed class ElfFile
{
    private const uint ShtDynsym = 11;
    private const uint ShtGnuVerdef = 0x6ffffffd;
    private const uint ShtGnuVerneed = 0x6ffffffe;
    private const uint ShtGnuVersym = 0x6fffffff;

    private readonly byte[] _headerBytes;
    private readonly Stream _stream;
    private readonly List<Section> _sections = new();

    private sealed record Section(uint Type, long Offset, long Size, uint Link, uint Info, long EntrySize);

    private ElfFile(Stream stream, byte[] header)
    {
        _stream = stream;
        _headerBytes = header;
    }

    /// <summary>Opens <paramref name="path"/> if it is a 64-bit little-endian ELF with section headers; null otherwise.</summary>
    public static ElfFile? TryRead(string path)
    {
        using var stream = File.OpenRead(path);
        return TryRead(stream);
    }

    /// <summary>Reads the section table from <paramref name="stream"/>; the caller keeps ownership of it during queries.</summary>
    public static ElfFile? TryRead(Stream stream)
    {
        var header = new byte[64];
        if (stream.Length < 64 || ReadAt(stream, 0, header) < 64) return null;
        if (header[0] != 0x7f || header[1] != (byte)'E' || header[2] != (byte)'L' || header[3] != (byte)'F') return null;
        if (header[4] != 2 || header[5] != 1) return null; // ELFCLASS64, ELFDATA2LSB
        var elf = new ElfFile(stream, header);
        return elf.ReadSections() ? elf : null;
    }

    private bool ReadSections()
    {
        var shoff = (long)BitConverter.ToUInt64(_headerBytes, 0x28);
        var shentsize = BitConverter.ToUInt16(_headerBytes, 0x3A);
        var shnum = BitConverter.ToUInt16(_headerBytes, 0x3C);
        if (shoff <= 0 || shnum == 0 || shentsize < 64) return false;
        if (shoff > _stream.Length || (long)shnum * shentsize > _stream.Length - shoff) return false;
        var table = new byte[shnum * shentsize];
        if (ReadAt(_stream, shoff, table) != table.Length) return false;
        for (var i = 0; i < shnum; i++)
        {
            var o = i * shentsize;
            var s = new Section(
                Type: BitConverter.ToUInt32(table, o + 4),
                Offset: (long)BitConverter.ToUInt64(table, o + 24),
                Size: (long)BitConverter.ToUInt64(table, o + 32),
                Link: BitConverter.ToUInt32(table, o + 40),
                Info: BitConverter.ToUInt32(table, o + 44),
                EntrySize: (long)BitConverter.ToUInt64(table, o + 56));
            _sections.Add(s);
        }
        return true;
    }

    /// <summary>Every version requirement in .gnu.version_r.</summary>
    public IReadOnlyList<VersionNeed> ReadVersionNeeds()
    {
        var result = new List<VersionNeed>();
        // Verneed: vn_cnt at 2, vn_file at 4, vn_aux at 8, vn_next at 12 (16 bytes).
        foreach (var (sec, data, strings, offset) in VersionEntries(ShtGnuVerneed, entrySize: 16, nextAt: 12))
        {
            var o = (int)offset;
            var cnt = BitConverter.ToUInt16(data, o + 2);
            var file = ReadString(strings, BitConverter.ToUInt32(data, o + 4));
            long aux = offset + BitConverter.ToUInt32(data, o + 8);
            for (var a = 0; a < cnt && aux + 16 <= data.Length && aux >= 0; a++)
            {
                var ao = (int)aux;
                var flags = BitConverter.ToUInt16(data, ao + 4);
                var other = BitConverter.ToUInt16(data, ao + 6);
                var name = ReadString(strings, BitConverter.ToUInt32(data, ao + 8));
                result.Add(new VersionNeed(file, name, flags, other, sec.Offset + aux));
                var nextAux = BitConverter.ToUInt32(data, ao + 12);
                if (nextAux == 0) break;
                aux += nextAux;
            }
        }
        return result;
    }

    /// <summary>The version names this object defines in .gnu.version_d (e.g. GLIBCXX_3.4.30 in libstdc++).</summary>
    public IReadOnlyCollection<string> ReadVersionDefinitions()
    {
        var result = new HashSet<string>(StringComparer.Ordinal);
        // Verdef: vd_aux at 12, vd_next at 16 (20 bytes); the first Verdaux's vda_name names the version.
        foreach (var (_, data, strings, offset) in VersionEntries(ShtGnuVerdef, entrySize: 20, nextAt: 16))
        {
            long aux = offset + BitConverter.ToUInt32(data, (int)offset + 12);
            if (aux + 8 <= data.Length && aux >= 0)
                result.Add(ReadString(strings, BitConverter.ToUInt32(data, (int)aux)));
        }
        return result;
    }

    /// <summary>
    /// The entries of every section of <paramref name="type"/> (Verneed or Verdef) with the section's bytes, its linked
    /// string table and each entry's offset: sh_info holds the number of entries, each links to the next by the relative
    /// offset at <paramref name="nextAt"/>; a zero link or an entry past the section's end stops the walk.
    /// </summary>
    private IEnumerable<(Section Section, byte[] Data, byte[] Strings, long Offset)> VersionEntries(uint type, int entrySize, int nextAt)
    {
        foreach (var sec in _sections)
        {
            if (sec.Type != type) continue;
            var data = ReadSection(sec);
            var strings = ReadLinkedStrings(sec);
            long offset = 0;
            for (var n = 0; n < sec.Info && offset + entrySize <= data.Length; n++)
            {
                yield return (sec, data, strings, offset);
                var next = BitConverter.ToUInt32(data, (int)offset + nextAt);
                if (next == 0) break;
                offset += next;
            }
        }
    }

    /// <summary>Dynamic symbols with their version index from .gnu.version.</summary>
    public IReadOnlyList<VersionedSymbol> ReadVersionedSymbols()
    {
        var result = new List<VersionedSymbol>();
        Section? dynsym = null, versym = null;
        foreach (var s in _sections)
        {
            if (s.Type == ShtDynsym) dynsym = s;
            else if (s.Type == ShtGnuVersym) versym = s;
        }
        if (dynsym is null || versym is null) return result;
        var syms = ReadSection(dynsym);
        var vers = ReadSection(versym);
        var strings = ReadLinkedStrings(dynsym);
        var count = Math.Min(syms.Length / 24, vers.Length / 2);
        for (var i = 0; i < count; i++)
        {
            var name = ReadString(strings, BitConverter.ToUInt32(syms, i * 24));
            var shndx = BitConverter.ToUInt16(syms, i * 24 + 6);
            var index = (ushort)(BitConverter.ToUInt16(vers, i * 2) & 0x7fff);
            result.Add(new VersionedSymbol(name, index, shndx != 0));
        }
        return result;
    }

    private byte[] ReadSection(Section s)
    {
        if (s.Offset < 0 || s.Size < 0 || s.Offset > _stream.Length || s.Size > _stream.Length - s.Offset || s.Size > int.MaxValue)
            throw new InvalidDataException($"ELF section at offset {s.Offset} with size {s.Size} lies outside the file.");
        var data = new byte[s.Size];
        if (ReadAt(_stream, s.Offset, data) != data.Length)
            throw new InvalidDataException($"ELF section at offset {s.Offset} is truncated.");
        return data;
    }

    private byte[] ReadLinkedStrings(Section s) =>
        s.Link < _sections.Count ? ReadSection(_sections[(int)s.Link]) : throw new InvalidDataException("ELF section links to a missing string table.");

    private static string ReadString(byte[] table, uint offset)
    {
        if (offset >= table.Length) throw new InvalidDataException($"ELF string offset {offset} lies outside its table.");
        var end = Array.IndexOf(table, (byte)0, (int)offset);
        if (end < 0) end = table.Length;
        return Encoding.UTF8.GetString(table, (int)offset, end - (int)offset);
    }

    private static int ReadAt(Stream stream, long offset, byte[] buffer)
    {
        stream.Position = offset;
        var total = 0;
        while (total < buffer.Length)
        {
            var n = stream.Read(buffer, total, buffer.Length - total);
            if (n == 0) break;
            total += n;
        }
        return total;
    }
}
