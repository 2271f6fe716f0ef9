using System.IO;

namespace LoraKit.Build.NativeCompat;

/// <summary>What <see cref="LibStdCxxCompat.Analyze"/> found in one shared object.</summary>
/// <param name="Missing">libstdc++ versions the object needs (strongly) that the host library lacks.</param>
/// <param name="Weakenable">Those of <paramref name="Missing"/> needed only by link-time marker symbols.</param>
/// <param name="Blocking">Those needed by real symbols: marking them weak would break at run time.</param>
internal sealed record CompatPlan(string File, IReadOnlyList<VersionNeed> Missing, IReadOnlyList<VersionNeed> Weakenable, IReadOnlyList<VersionNeed> Blocking)
{
    public bool NeedsPatch => Weakenable.Count > 0;
}

/// <summary>
/// TorchSharp 0.107's libLibTorchSharp.so needs GLIBCXX_3.4.32 (libstdc++ of GCC 13+), which
/// Debian 12 and Ubuntu 22.04 lack, so it fails to load. The only symbol at that version is
/// std::ios_base_library_init, a link-time marker that is never called. Marking that version need
/// weak (VER_FLG_WEAK in .gnu.version_r) lets the dynamic loader accept the library. Only versions
/// listed in <see cref="MarkerOnlyVersions"/>, and only when no other symbol uses them, are touched.
/// </summary>
internal static class LibStdCxxCompat
{
    public const string LibStdCxxSoname = "libstdc++.so.6";

    /// <summary>Versions whose only symbols are link-time markers, with those symbols.</summary>
    public static readonly IReadOnlyDictionary<string, string[]> MarkerOnlyVersions = new Dictionary<string, string[]>(StringComparer.Ordinal)
    {
        ["GLIBCXX_3.4.32"] = new[] { "_ZSt21ios_base_library_initv" }, // std::ios_base_library_init()
    };

    private static readonly string[] StandardLibraryDirectories =
    {
        "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
        "/lib64", "/usr/lib64", "/lib", "/usr/lib",
    };

    /// <summary>The libstdc++.so.6 the dynamic loader will pick: LD_LIBRARY_PATH first, then the standard directories.</summary>
    public static string? FindHostLibStdCxx(string? ldLibraryPath)
    {
        var dirs = (ldLibraryPath ?? "").Split(new[] { ':' }, StringSplitOptions.RemoveEmptyEntries).Concat(StandardLibraryDirectories);
        foreach (var dir in dirs)
        {
            var candidate = Path.Combine(dir, LibStdCxxSoname);
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }

    /// <summary>The GLIBCXX/CXXABI versions a libstdc++ defines; null when it is not a readable ELF.</summary>
    public static IReadOnlyCollection<string>? ReadDefinedVersions(string libStdCxxPath)
    {
        using var stream = File.OpenRead(libStdCxxPath);
        return ElfFile.TryRead(stream)?.ReadVersionDefinitions();
    }

    /// <summary>Null when <paramref name="path"/> is not an ELF object this code reads.</summary>
    public static CompatPlan? Analyze(string path, IReadOnlyCollection<string> hostVersions)
    {
        using var stream = File.OpenRead(path);
        var elf = ElfFile.TryRead(stream);
        if (elf is null) return null;
        var missing = elf.ReadVersionNeeds()
            .Where(n => n.File == LibStdCxxSoname && !n.IsWeak && !hostVersions.Contains(n.Version))
            .ToArray();
        if (missing.Length == 0) return new CompatPlan(path, missing, Array.Empty<VersionNeed>(), Array.Empty<VersionNeed>());

        var symbols = elf.ReadVersionedSymbols();
        var weakenable = new List<VersionNeed>();
        var blocking = new List<VersionNeed>();
        foreach (var need in missing)
        {
            var users = symbols.Where(s => s.VersionIndex == need.Index && !s.IsDefined).Select(s => s.Name).ToArray();
            var markerOnly = MarkerOnlyVersions.TryGetValue(need.Version, out var markers) && users.All(u => markers.Contains(u));
            (markerOnly ? weakenable : blocking).Add(need);
        }
        return new CompatPlan(path, missing, weakenable, blocking);
    }

    /// <summary>
    /// Writes a patched copy next to the file and renames it over the original, so a hard link into
    /// the NuGet cache is replaced, never written through, and a crash leaves the old file whole.
    /// </summary>
    public static void Apply(CompatPlan plan)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(plan.File))!;
        // Keep the original time stamp: the SDK's incremental copy (same size and time) then leaves the
        // patched file alone on the next build instead of copying the unpatched one over it again.
        var originalTime = File.GetLastWriteTimeUtc(plan.File);
        var temp = Path.Combine(dir, "." + Path.GetFileName(plan.File) + ".lorakit-" + Guid.NewGuid().ToString("N") + ".tmp");
        try
        {
            File.Copy(plan.File, temp, overwrite: false);
            using (var stream = new FileStream(temp, FileMode.Open, FileAccess.ReadWrite, FileShare.None))
            {
                foreach (var need in plan.Weakenable)
                {
                    var flags = (ushort)(need.Flags | VersionNeed.WeakFlag);
                    stream.Position = need.EntryOffset + 4; // Vernaux.vna_flags
                    stream.WriteByte((byte)(flags & 0xff));
                    stream.WriteByte((byte)(flags >> 8));
                }
                stream.Flush(flushToDisk: true);
            }
            // The original may be a symlink or a hard link: replace the directory entry, not its target.
            File.Delete(plan.File);
            File.Move(temp, plan.File);
            File.SetLastWriteTimeUtc(plan.File, originalTime);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    /// <summary>Shared objects under a build output: *.so and versioned *.so.N files, links skipped.</summary>
    public static IEnumerable<string> FindSharedObjects(string directory)
    {
        if (!Directory.Exists(directory)) yield break;
        foreach (var file in Directory.EnumerateFiles(directory, "*.so*", SearchOption.AllDirectories))
        {
            var name = Path.GetFileName(file);
            var isSharedObject = name.EndsWith(".so", StringComparison.Ordinal) || name.Contains(".so.");
            if (!isSharedObject || name.EndsWith(".tmp", StringComparison.Ordinal)) continue;
            if ((File.GetAttributes(file) & FileAttributes.ReparsePoint) != 0) continue;
            yield return file;
        }
    }
}
