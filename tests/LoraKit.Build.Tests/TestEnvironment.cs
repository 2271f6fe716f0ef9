using System;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Security.Cryptography;

namespace LoraKit.Build.Tests;

internal static class TestEnvironment
{
    private static string Metadata(string key) =>
        typeof(TestEnvironment).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == key).Value!;

    /// <summary>TorchSharp's libLibTorchSharp.so as shipped in its package (never modified by tests).</summary>
    public static string OriginalLibTorchSharp =>
        Path.Combine(Metadata("TorchSharpPackageDir"), "runtimes", "linux-x64", "native", "libLibTorchSharp.so");

    /// <summary>The folder of libtorch's native libraries in the libtorch-cpu-linux-x64 package.</summary>
    public static string LibTorchNativeDir => Path.Combine(Metadata("LibTorchPackageDir"), "runtimes", "linux-x64", "native");

    public static string RepoRoot => Metadata("RepoRoot");

    private static readonly string Root = Path.Combine(Path.GetTempPath(), "lorakit-build-tests", Guid.NewGuid().ToString("N"));

    static TestEnvironment()
    {
        // User projects built here hold ~1 GB of libtorch each: remove them all when the test run ends.
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                if (Directory.Exists(Root)) Directory.Delete(Root, recursive: true);
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        };
    }

    /// <summary>A fresh folder under this test run's temporary root, deleted when the run ends.</summary>
    public static string TempFolder()
    {
        var dir = Path.Combine(Root, Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    public static string Sha256(string path)
    {
        using var s = File.OpenRead(path);
        return Convert.ToHexString(SHA256.HashData(s));
    }
}
