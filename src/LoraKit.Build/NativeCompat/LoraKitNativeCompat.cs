using System.IO;
using System.Runtime.InteropServices;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

namespace LoraKit.Build.NativeCompat;

/// <summary>
/// Makes TorchSharp's native library load on Linux distributions whose libstdc++ predates GCC 13
/// (Debian 12, Ubuntu 22.04): in the build output only — never in the NuGet cache — it marks the
/// libstdc++ version needs that only link-time markers use as weak. Does nothing where the host
/// libstdc++ has every version. Turned off with LoraKitNativeCompat=false.
/// </summary>
public sealed class LoraKitNativeCompatTask : Task
{
    /// <summary>The build output folder to scan (OutDir or PublishDir).</summary>
    [Required]
    public string Directory { get; set; } = "";

    /// <summary>The host libstdc++.so.6; empty means the one the loader finds (LD_LIBRARY_PATH, standard directories).</summary>
    public string? HostLibStdCxx { get; set; }

    /// <summary>The shared objects that were patched.</summary>
    [Output]
    public ITaskItem[] PatchedFiles { get; private set; } = Array.Empty<ITaskItem>();

    /// <summary>
    /// True when the folder needs nothing more (each library loads or was just made to): the targets then
    /// skip the step until something is copied to the output again. False after a LORA3100 warning, so the
    /// warning comes back on every build until it is dealt with.
    /// </summary>
    [Output]
    public bool Settled { get; private set; }

    private bool Settle(bool settled)
    {
        Settled = settled;
        return true;
    }

    public override bool Execute()
    {
        if (string.IsNullOrEmpty(HostLibStdCxx) && !RuntimeInformation.IsOSPlatform(OSPlatform.Linux))
            return Settle(true);
        var host = string.IsNullOrEmpty(HostLibStdCxx)
            ? LibStdCxxCompat.FindHostLibStdCxx(Environment.GetEnvironmentVariable("LD_LIBRARY_PATH"))
            : HostLibStdCxx;
        if (host is null || !File.Exists(host))
        {
            Log.LogMessage(MessageImportance.Low, "LoraKit native compat: no host libstdc++.so.6 found; nothing to check.");
            return Settle(true);
        }
        IReadOnlyCollection<string>? hostVersions;
        try
        {
            hostVersions = LibStdCxxCompat.ReadDefinedVersions(host);
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            Log.LogMessage(MessageImportance.Normal, $"LoraKit native compat: cannot read {host} ({e.Message}); skipped.");
            return Settle(false);
        }
        if (hostVersions is null || hostVersions.Count == 0)
        {
            Log.LogMessage(MessageImportance.Low, $"LoraKit native compat: {host} defines no symbol versions; skipped.");
            return Settle(true);
        }

        var patched = new List<ITaskItem>();
        var warned = false;
        foreach (var file in LibStdCxxCompat.FindSharedObjects(Directory))
        {
            CompatPlan? plan;
            try
            {
                plan = LibStdCxxCompat.Analyze(file, hostVersions);
            }
            catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
            {
                Log.LogMessage(MessageImportance.Low, $"LoraKit native compat: skipped {file}: {e.Message}");
                continue;
            }
            if (plan is null || plan.Missing.Count == 0) continue;

            if (plan.Blocking.Count > 0)
            {
                warned = true;
                Log.LogWarning(subcategory: "LoraKit", warningCode: LoraKit.Rules.DiagnosticIds.NativeLibraryIncompatible, helpKeyword: null, file: file,
                    lineNumber: 0, columnNumber: 0, endLineNumber: 0, endColumnNumber: 0,
                    message: $"{Path.GetFileName(file)} needs {string.Join(", ", plan.Blocking.Select(b => b.Version))} from libstdc++.so.6, " +
                             $"which {host} lacks and which real symbols use, so it will not load; install a newer libstdc++ (GCC 13 or later).");
            }
            if (!plan.NeedsPatch) continue;

            LibStdCxxCompat.Apply(plan);
            patched.Add(new TaskItem(file));
            Log.LogMessage(MessageImportance.High,
                $"LoraKit: marked {string.Join(", ", plan.Weakenable.Select(w => w.Version))} weak in {file}: {host} lacks it and only " +
                "link-time markers (std::ios_base_library_init) use it, so the library now loads on this system. " +
                "The NuGet cache is untouched; set LoraKitNativeCompat=false to turn this off.");
        }
        PatchedFiles = patched.ToArray();
        Settled = !warned && !Log.HasLoggedErrors;
        return !Log.HasLoggedErrors;
    }
}
