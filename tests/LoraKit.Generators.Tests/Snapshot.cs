using System;
using System.IO;
using System.Linq;
using Xunit;

namespace LoraKit.Generators.Tests;

/// <summary>
/// Verify's conventions without Verify (not served here): <c>Snapshots/&lt;name&gt;.verified.txt</c> is committed;
/// a mismatch writes <c>&lt;name&gt;.received.txt</c> beside it (git-ignored) and fails. Set
/// <c>LORAKIT_ACCEPT_SNAPSHOTS=1</c> to accept what was received; refused when <c>CI=true</c>.
/// </summary>
public static class Snapshot
{
    public const string AcceptVariable = "LORAKIT_ACCEPT_SNAPSHOTS";

    /// <summary>
    /// The committed Snapshots folder, from the project's directory at build time (not [CallerFilePath]:
    /// CI builds map source paths to /_/ for deterministic output).
    /// </summary>
    public static string Folder { get; } = System.Linq.Enumerable.Single(
        typeof(Snapshot).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyMetadataAttribute), false)
            .Cast<System.Reflection.AssemblyMetadataAttribute>(), a => a.Key == "SnapshotsFolder").Value!;

    public static void Verify(string name, string actual) =>
        Verify(Folder, name, actual,
            accept: Environment.GetEnvironmentVariable(AcceptVariable) == "1",
            ci: string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase));

    /// <summary>The comparison with the environment passed in, so tests of the helper need not set process-wide variables.</summary>
    internal static void Verify(string folder, string name, string actual, bool accept, bool ci)
    {
        var verified = Path.Combine(folder, name + ".verified.txt");
        var received = Path.Combine(folder, name + ".received.txt");
        actual = actual.Replace("\r\n", "\n", StringComparison.Ordinal);
        var expected = File.Exists(verified) ? File.ReadAllText(verified).Replace("\r\n", "\n", StringComparison.Ordinal) : null;
        if (expected == actual)
        {
            if (File.Exists(received)) File.Delete(received);
            return;
        }
        if (accept && !ci)
        {
            Directory.CreateDirectory(folder);
            File.WriteAllText(verified, actual);
            if (File.Exists(received)) File.Delete(received);
            return;
        }
        Directory.CreateDirectory(folder);
        File.WriteAllText(received, actual);
        Assert.Fail((expected is null ? $"No snapshot {verified} yet." : $"{name} differs from {verified} at {Describe(expected, actual)}.") +
                    $" Wrote {received}." +
                    (accept && ci ? $" {AcceptVariable}=1 is refused when CI=true." : $" Review it, then accept with {AcceptVariable}=1 (refused when CI=true)."));
    }

    private static string Describe(string expected, string actual)
    {
        var e = expected.Split('\n');
        var a = actual.Split('\n');
        for (var i = 0; i < Math.Max(e.Length, a.Length); i++)
        {
            var el = i < e.Length ? e[i] : "<end>";
            var al = i < a.Length ? a[i] : "<end>";
            if (el != al) return $"line {i + 1}:\n  expected: {el}\n  actual:   {al}\n";
        }
        return "the end";
    }
}
