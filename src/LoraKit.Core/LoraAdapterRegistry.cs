namespace LoraKit;

/// <summary>
/// An adapter described with <see cref="LoraAdapterAttribute"/>, as the source generator registers it:
/// its names, its base model class and its configuration. The CLI and the MSBuild task find a user's
/// adapters here by name after loading the user's assembly (its module initializer registers them).
/// </summary>
/// <param name="Name">The class name, e.g. <c>SupportAdapter</c>.</param>
/// <param name="FullName">The fully qualified class name, e.g. <c>MyApp.SupportAdapter</c>.</param>
/// <param name="ModelName">The fully qualified <see cref="LoraModelAttribute"/> class name.</param>
/// <param name="AdapterType">The generated adapter class.</param>
/// <param name="Config">The adapter's configuration (a fresh copy each call).</param>
/// <param name="TrainableParameters">LoraKit.Core's count for the described model, as compiled in.</param>
/// <param name="BaseParameters">The described model's parameter count, as compiled in.</param>
public sealed record LoraAdapterDescriptor(
    string Name,
    string FullName,
    string ModelName,
    Type AdapterType,
    Func<LoraConfig> Config,
    long TrainableParameters,
    long BaseParameters)
{
    /// <summary>
    /// <c>[LoraAdapter(Quantize = …)]</c> when the attribute sets it, else null. A value set on the adapter wins over
    /// <c>--quantize</c> / <c>LoraKitQuantize</c>, as it does in the analyzers' memory estimate (LORA1006).
    /// </summary>
    public LoraQuantization? Quantize { get; init; }
}

/// <summary>Process-wide registry of generated adapters; thread-safe; registering the same type twice is harmless.</summary>
public static class LoraAdapterRegistry
{
    private static readonly object Gate = new();
    private static readonly List<LoraAdapterDescriptor> Adapters = new();

    public static void Register(LoraAdapterDescriptor descriptor)
    {
        if (descriptor is null) throw new ArgumentNullException(nameof(descriptor));
        lock (Gate)
        {
            if (Adapters.Any(a => a.AdapterType == descriptor.AdapterType)) return;
            Adapters.Add(descriptor);
        }
    }

    public static IReadOnlyList<LoraAdapterDescriptor> All
    {
        get
        {
            lock (Gate) return Adapters.ToArray();
        }
    }

    /// <summary>By full name, or by simple name when that is unique; null when absent.</summary>
    public static LoraAdapterDescriptor? Find(string name)
    {
        lock (Gate)
        {
            var exact = Adapters.FirstOrDefault(a => a.FullName == name);
            if (exact is not null) return exact;
            var simple = Adapters.Where(a => a.Name == name).ToList();
            if (simple.Count > 1)
                throw new InvalidOperationException($"'{name}' names {simple.Count} adapters ({string.Join(", ", simple.Select(a => a.FullName))}); use the full name");
            return simple.FirstOrDefault();
        }
    }
}
