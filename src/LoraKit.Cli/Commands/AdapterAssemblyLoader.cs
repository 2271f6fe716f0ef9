using System.Reflection;
using System.Runtime.CompilerServices;

namespace LoraKit.Cli.Commands;

/// <summary>
/// Finds an adapter in the user's compiled assembly: loads it, runs its module initializers (where the
/// generated code, or a hand-written [ModuleInitializer], calls <see cref="LoraAdapterRegistry.Register"/>)
/// and looks the adapter up by name. This is how `dotnet build -t:LoraTrain` trains what the code describes.
/// </summary>
internal static class AdapterAssemblyLoader
{
    public static LoraAdapterDescriptor Load(string assemblyPath, string? name)
    {
        var path = Path.GetFullPath(assemblyPath);
        if (!File.Exists(path))
            throw new ArgumentException($"--adapter-assembly: '{path}' does not exist; build the project first (dotnet build)");
        Assembly assembly;
        try
        {
            assembly = Assembly.LoadFrom(path);
        }
        catch (BadImageFormatException e)
        {
            throw new ArgumentException($"--adapter-assembly: '{path}' is not a .NET assembly ({e.Message})");
        }
        // Module initializers run on first access to the module; run them now so the adapters register.
        RuntimeHelpers.RunModuleConstructor(assembly.ManifestModule.ModuleHandle);

        var own = LoraAdapterRegistry.All.Where(a => a.AdapterType.Assembly == assembly).ToList();
        var listed = own.Count == 0 ? "it registers no adapter ([LoraAdapter] classes register through LoraKit's source generator or a [ModuleInitializer])"
                                    : $"it registers {string.Join(", ", own.Select(a => a.FullName))}";
        if (name is null)
        {
            if (own.Count == 1) return own[0];
            throw new ArgumentException($"--adapter-assembly {Path.GetFileName(path)}: name the adapter with --adapter; {listed}");
        }
        // Only this assembly's adapters: the registry is process-wide, and another loaded assembly may use the same class name.
        var found = own.FirstOrDefault(a => a.FullName == name);
        if (found is null)
        {
            var simple = own.Where(a => a.Name == name).ToList();
            if (simple.Count > 1)
                throw new ArgumentException($"--adapter {name} names {simple.Count} adapters ({string.Join(", ", simple.Select(a => a.FullName))}); use the full name");
            found = simple.FirstOrDefault();
        }
        return found ?? throw new ArgumentException($"--adapter {name}: no such adapter in {Path.GetFileName(path)}; {listed}");
    }
}
