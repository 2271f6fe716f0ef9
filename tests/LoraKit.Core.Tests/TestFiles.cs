using System;
using System.IO;

namespace LoraKit.Core.Tests;

internal static class TestFiles
{
    public static string Config(string name) => Path.Combine(AppContext.BaseDirectory, "Configs", name + ".json");

    /// <summary>A fresh empty folder under the temp directory.</summary>
    public static string TempFolder()
    {
        var dir = Path.Combine(Path.GetTempPath(), "lorakit-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }
}
