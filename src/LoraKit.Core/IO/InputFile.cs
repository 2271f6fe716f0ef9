#if !LORAKIT_ANALYZER // analyzers must not do file I/O (RS1035): they get files as AdditionalFiles
using System.IO;
using System.Runtime.InteropServices;
using System.Text;

namespace LoraKit.IO;

/// <summary>
/// Reads the files strangers hand LoraKit (model configs, tokenizers, datasets, templates): only regular files
/// (never a device such as /dev/zero, a FIFO or a socket), streamed in chunks and never past a size limit —
/// the length a file system reports is not trusted. The limits are <see cref="InputLimits"/>.
/// </summary>
public static class InputFile
{
    /// <summary>The bytes of <paramref name="path"/>; <paramref name="what"/> ("model config", "dataset") names the file in errors.</summary>
    /// <exception cref="InputFileException">Not a regular file, or larger than <paramref name="maxBytes"/>.</exception>
    public static byte[] ReadAllBytes(string path, long maxBytes, string what)
    {
        if (path is null) throw new ArgumentNullException(nameof(path));
        if (IsSpecialFile(path))
            throw NotRegular(path, what);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
        // A character device or pipe cannot seek; on systems without statx this is the check.
        if (!stream.CanSeek) throw NotRegular(path, what);
        var initial = (int)Math.Min(Math.Min(stream.Length, maxBytes), 1 << 26);
        var buffer = new MemoryStream(Math.Max(initial, 0));
        var chunk = new byte[1 << 16];
        long total = 0;
        int n;
        while ((n = stream.Read(chunk, 0, chunk.Length)) > 0)
        {
            total += n;
            if (total > maxBytes)
                throw new InputFileException(path,
                    $"the {what} '{path}' is larger than {InputLimits.Describe(maxBytes)}, the most LoraKit reads for a {what}; pass the right file (or split a dataset into smaller files)");
            buffer.Write(chunk, 0, n);
        }
        return buffer.ToArray();
    }

    /// <summary>For files read otherwise (memory-mapped weights): refuses a device, FIFO or socket before it is opened.</summary>
    public static void RequireRegularFile(string path, string what)
    {
        if (path is null) throw new ArgumentNullException(nameof(path));
        if (IsSpecialFile(path)) throw NotRegular(path, what);
    }

    /// <summary>The text of <paramref name="path"/> as strict UTF-8 (a BOM is skipped); invalid bytes are an error naming the line.</summary>
    public static string ReadAllText(string path, long maxBytes, string what) => DecodeUtf8(ReadAllBytes(path, maxBytes, what), path, what);

    /// <summary>Strict UTF-8 (a leading BOM skipped); an invalid byte is an <see cref="InputFileException"/> naming its line.</summary>
    public static string DecodeUtf8(byte[] bytes, string path, string what)
    {
        var start = bytes.Length >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF ? 3 : 0;
        try
        {
            return StrictUtf8.GetString(bytes, start, bytes.Length - start);
        }
        catch (DecoderFallbackException e)
        {
            var offset = e.Index >= 0 ? Math.Min(bytes.Length, start + e.Index) : 0;
            var line = 1;
            for (var i = 0; i < offset; i++)
                if (bytes[i] == (byte)'\n') line++;
            throw new InputFileException(path, $"the {what} '{path}' is not valid UTF-8 (line {line}); save it as UTF-8", line);
        }
    }

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private static InputFileException NotRegular(string path, string what) =>
        new(path, $"the {what} '{path}' is not a regular file (a device, pipe or socket); LoraKit reads only regular files, so pass the file itself");

    // statx(2): a fixed layout on every Linux architecture (stx_mode, a u16, at byte 28), unlike stat(2).
    private const int AtFdCwd = -100;
    private const uint StatxType = 0x1;
    private const int FileTypeMask = 0xF000, RegularFile = 0x8000, Directory = 0x4000;

    [DllImport("libc", EntryPoint = "statx", SetLastError = true)]
    private static extern int Statx(int dirfd, string path, int flags, uint mask, byte[] buffer);

    private static bool _statxMissing;

    /// <summary>True when Linux says the path is something other than a regular file or a directory (a directory fails on open).</summary>
    private static bool IsSpecialFile(string path)
    {
        if (_statxMissing || !RuntimeInformation.IsOSPlatform(OSPlatform.Linux)) return false;
        try
        {
            var buffer = new byte[256];
            if (Statx(AtFdCwd, path, 0, StatxType, buffer) != 0) return false; // missing files fail on open with the usual message
            var type = (buffer[28] | (buffer[29] << 8)) & FileTypeMask;
            return type != RegularFile && type != Directory;
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            _statxMissing = true;
            return false;
        }
    }
}

/// <summary>A file LoraKit refuses to read: not a regular file, too large, or not UTF-8.</summary>
public sealed class InputFileException : IOException
{
    public InputFileException(string path, string message, int line = 0) : base(message)
    {
        FilePath = path;
        Line = line;
    }

    /// <summary>The file.</summary>
    public string FilePath { get; }

    /// <summary>1-based line of the problem, or 0.</summary>
    public int Line { get; }
}
#endif
