using System.Reflection;
using static TorchSharp.torch;

namespace LoraKit.Modeling;

/// <summary>
/// Replaces a child module held in a field whose name equals its registered name (the convention of every
/// module in this namespace), keeping the registration order so named_parameters stays in model order.
/// </summary>
public static class ModuleSurgery
{
    /// <summary>
    /// Sets <paramref name="parent"/>'s field <paramref name="name"/> to <paramref name="replacement"/> and
    /// re-registers it under the same name. The field must exist and accept the replacement's type.
    /// </summary>
    public static void ReplaceChild(nn.Module parent, string name, nn.Module replacement)
    {
        if (parent is null) throw new ArgumentNullException(nameof(parent));
        if (replacement is null) throw new ArgumentNullException(nameof(replacement));
        var field = FindField(parent.GetType(), name)
            ?? throw new ArgumentException($"{parent.GetType().Name} has no field '{name}' holding a child module", nameof(name));
        if (!field.FieldType.IsInstanceOfType(replacement))
            throw new ArgumentException(
                $"{parent.GetType().Name}.{name} is typed {field.FieldType.Name}; a {replacement.GetType().Name} cannot replace it", nameof(replacement));

        var children = parent.named_children().ToList();
        var index = children.FindIndex(c => c.name == name);
        if (index < 0)
            throw new ArgumentException($"{parent.GetType().Name} has no registered child '{name}'", nameof(name));

        field.SetValue(parent, replacement);
        // register_module refuses a taken name and appends: unregister this child and the ones after it,
        // then register them again in their order, with the replacement in place.
        for (var i = index; i < children.Count; i++)
            parent.register_module(children[i].name, null!);
        for (var i = index; i < children.Count; i++)
            parent.register_module(children[i].name, i == index ? replacement : children[i].module);
    }

    private static FieldInfo? FindField(Type? type, string name)
    {
        for (; type is not null; type = type.BaseType)
        {
            var f = type.GetField(name, BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly);
            if (f is not null && typeof(nn.Module).IsAssignableFrom(f.FieldType)) return f;
        }
        return null;
    }
}

/// <summary>
/// One linear layer of the model: its Hugging Face module path, the module holding it and the field/child
/// name there. <see cref="Replace"/> swaps it (e.g. for a LoRA wrapper around <see cref="Current"/>).
/// </summary>
public sealed record LinearSlot(string Path, nn.Module Parent, string Name)
{
    /// <summary>The module now in the slot (an nn.Linear, a <see cref="TiedLinear"/>, or a replacement).</summary>
    public nn.Module<Tensor, Tensor> Current =>
        (nn.Module<Tensor, Tensor>)(Parent.GetType().GetField(Name, BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic)!.GetValue(Parent)
            ?? throw new InvalidOperationException($"{Path} is empty"));

    public void Replace(nn.Module<Tensor, Tensor> replacement) => ModuleSurgery.ReplaceChild(Parent, Name, replacement);
}
