using System;
using System.IO;
using System.Linq;
using LoraKit.Build.NativeCompat;
using Xunit;

namespace LoraKit.Build.Tests;

/// <summary>
/// The native-compat step against TorchSharp's real libLibTorchSharp.so (copied to a temp folder;
/// the package copy is only read) and this machine's libstdc++.
/// </summary>
public class NativeCompatTests
{
    private static readonly string[] AllGlibcxx =
        Enumerable.Range(0, 40).Select(i => $"GLIBCXX_3.4.{i}").Append("GLIBCXX_3.4").ToArray();

    private static string CopyOriginal(string folder, string relative = "libLibTorchSharp.so")
    {
        var target = Path.Combine(folder, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        File.Copy(TestEnvironment.OriginalLibTorchSharp, target);
        return target;
    }

    [Fact]
    public void Reads_the_libstdcxx_needs_of_libLibTorchSharp()
    {
        using var stream = File.OpenRead(TestEnvironment.OriginalLibTorchSharp);
        var elf = ElfFile.TryRead(stream)!;
        var needs = elf.ReadVersionNeeds();
        var v32 = Assert.Single(needs, n => n.Version == "GLIBCXX_3.4.32");
        Assert.Equal("libstdc++.so.6", v32.File);
        Assert.False(v32.IsWeak);
        Assert.Contains(needs, n => n.Version == "GLIBC_2.2.5" && n.File == "libc.so.6");
        // The only symbol bound to that version is the ios_base_library_init marker.
        var users = elf.ReadVersionedSymbols().Where(s => s.VersionIndex == v32.Index).Select(s => s.Name).ToArray();
        Assert.Equal(new[] { "_ZSt21ios_base_library_initv" }, users);
    }

    [Fact]
    public void Host_libstdcxx_definitions_are_read()
    {
        var host = LibStdCxxCompat.FindHostLibStdCxx(null);
        Assert.NotNull(host);
        var defined = LibStdCxxCompat.ReadDefinedVersions(host!)!;
        Assert.Contains("GLIBCXX_3.4", defined);
        Assert.Contains("CXXABI_1.3", defined);
    }

    [Fact]
    public void Plan_weakens_only_marker_versions_and_blocks_real_ones()
    {
        var folder = TestEnvironment.TempFolder();
        var lib = CopyOriginal(folder);
        // A host as old as GCC 11 (up to 3.4.29): 3.4.30 is used by real symbols, 3.4.32 only by the marker.
        var host = AllGlibcxx.Where(v => v != "GLIBCXX_3.4.30" && v != "GLIBCXX_3.4.31" && v != "GLIBCXX_3.4.32")
            .Concat(Enumerable.Range(0, 20).Select(i => $"CXXABI_1.3.{i}")).Append("CXXABI_1.3").ToArray();
        var plan = LibStdCxxCompat.Analyze(lib, host)!;
        Assert.Equal(new[] { "GLIBCXX_3.4.32" }, plan.Weakenable.Select(w => w.Version));
        Assert.Equal(new[] { "GLIBCXX_3.4.30" }, plan.Blocking.Select(w => w.Version));
    }

    [Fact]
    public void Nothing_to_do_when_the_host_has_every_version()
    {
        var folder = TestEnvironment.TempFolder();
        var lib = CopyOriginal(folder);
        var host = AllGlibcxx.Concat(Enumerable.Range(0, 20).Select(i => $"CXXABI_1.3.{i}")).Append("CXXABI_1.3").ToArray();
        var plan = LibStdCxxCompat.Analyze(lib, host)!;
        Assert.Empty(plan.Missing);
        Assert.False(plan.NeedsPatch);
    }

    [Fact]
    public void Task_patches_the_output_copy_only_and_changes_exactly_the_flag_bytes()
    {
        var output = TestEnvironment.TempFolder();
        var lib = CopyOriginal(output, Path.Combine("runtimes", "linux-x64", "native", "libLibTorchSharp.so"));
        var originalHash = TestEnvironment.Sha256(TestEnvironment.OriginalLibTorchSharp);
        var stamp = new DateTime(2024, 1, 2, 3, 4, 5, DateTimeKind.Utc);
        File.SetLastWriteTimeUtc(lib, stamp);
        var before = File.ReadAllBytes(lib);

        var engine = new FakeBuildEngine();
        var task = new LoraKitNativeCompatTask { BuildEngine = engine, Directory = output, HostLibStdCxx = HostWithout332() };
        Assert.True(task.Execute());

        Assert.Equal(lib, Assert.Single(task.PatchedFiles).ItemSpec);
        var after = File.ReadAllBytes(lib);
        Assert.Equal(before.Length, after.Length);
        var changed = Enumerable.Range(0, before.Length).Where(i => before[i] != after[i]).ToArray();
        Assert.Single(changed); // vna_flags 0 → 2: one byte
        using (var s = File.OpenRead(lib))
            Assert.True(ElfFile.TryRead(s)!.ReadVersionNeeds().Single(n => n.Version == "GLIBCXX_3.4.32").IsWeak);
        Assert.Equal(stamp, File.GetLastWriteTimeUtc(lib)); // so the SDK's incremental copy leaves it alone
        Assert.Equal(originalHash, TestEnvironment.Sha256(TestEnvironment.OriginalLibTorchSharp));
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(lib)!, "*.tmp"));
        var message = Assert.Single(engine.Messages, m => m.Message!.StartsWith("LoraKit: marked GLIBCXX_3.4.32 weak"));
        Assert.Contains("LoraKitNativeCompat=false", message.Message);

        // Idempotent: a second run finds the need already weak and does nothing.
        var again = new LoraKitNativeCompatTask { BuildEngine = new FakeBuildEngine(), Directory = output, HostLibStdCxx = HostWithout332() };
        Assert.True(again.Execute());
        Assert.Empty(again.PatchedFiles);
    }

    [Fact]
    public void A_hard_link_into_a_package_cache_is_replaced_not_written_through()
    {
        var cache = TestEnvironment.TempFolder();
        var cached = CopyOriginal(cache);
        var cachedHash = TestEnvironment.Sha256(cached);
        var output = TestEnvironment.TempFolder();
        var linked = Path.Combine(output, "libLibTorchSharp.so");
        Assert.Equal(0, link(cached, linked)); // how CreateHardLinksForCopyLocalIfPossible copies

        var task = new LoraKitNativeCompatTask { BuildEngine = new FakeBuildEngine(), Directory = output, HostLibStdCxx = HostWithout332() };
        Assert.True(task.Execute());
        Assert.Single(task.PatchedFiles);
        Assert.Equal(cachedHash, TestEnvironment.Sha256(cached));
        Assert.NotEqual(cachedHash, TestEnvironment.Sha256(linked));
    }

    [Fact]
    public void Patched_library_loads_with_this_hosts_loader()
    {
        var host = LibStdCxxCompat.FindHostLibStdCxx(null)!;
        var hostLacks332 = !LibStdCxxCompat.ReadDefinedVersions(host)!.Contains("GLIBCXX_3.4.32");
        // libLibTorchSharp.so finds libtorch through $ORIGIN: link libtorch's libraries beside the copies.
        var original = TestEnvironment.TempFolder();
        var patched = TestEnvironment.TempFolder();
        foreach (var dir in new[] { original, patched })
        {
            CopyOriginal(dir);
            foreach (var dep in Directory.GetFiles(TestEnvironment.LibTorchNativeDir))
                File.CreateSymbolicLink(Path.Combine(dir, Path.GetFileName(dep)), dep);
        }
        var task = new LoraKitNativeCompatTask { BuildEngine = new FakeBuildEngine(), Directory = patched };
        Assert.True(task.Execute());
        Assert.Equal(hostLacks332 ? 1 : 0, task.PatchedFiles.Length); // the links are skipped

        if (hostLacks332) Assert.Contains("GLIBCXX_3.4.32", Dlopen(Path.Combine(original, "libLibTorchSharp.so")));
        Assert.Equal("loaded", Dlopen(Path.Combine(patched, "libLibTorchSharp.so")));
    }

    [Fact]
    public void Non_elf_files_and_missing_folders_are_ignored()
    {
        var output = TestEnvironment.TempFolder();
        File.WriteAllText(Path.Combine(output, "libfake.so"), "not an ELF");
        File.WriteAllBytes(Path.Combine(output, "libshort.so.1"), new byte[] { 0x7f, (byte)'E' });
        var task = new LoraKitNativeCompatTask { BuildEngine = new FakeBuildEngine(), Directory = output, HostLibStdCxx = HostWithout332() };
        Assert.True(task.Execute());
        Assert.Empty(task.PatchedFiles);
        var missing = new LoraKitNativeCompatTask { BuildEngine = new FakeBuildEngine(), Directory = Path.Combine(output, "nope"), HostLibStdCxx = HostWithout332() };
        Assert.True(missing.Execute());
    }

    /// <summary>This machine's libstdc++ when it lacks 3.4.32 (the case under test), else skips via a clear failure.</summary>
    private static string HostWithout332()
    {
        var host = LibStdCxxCompat.FindHostLibStdCxx(null)!;
        Assert.DoesNotContain("GLIBCXX_3.4.32", LibStdCxxCompat.ReadDefinedVersions(host)!);
        return host;
    }

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    private static extern int link(string oldpath, string newpath);

    /// <summary>"loaded", or the loader's error. Uses NativeLibrary (dlopen) as TorchSharp does.</summary>
    private static string Dlopen(string path)
    {
        try
        {
            System.Runtime.InteropServices.NativeLibrary.Free(System.Runtime.InteropServices.NativeLibrary.Load(path));
            return "loaded";
        }
        catch (DllNotFoundException e)
        {
            return e.Message;
        }
    }
}
