using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Globalization;
using System.Linq;
using System.Threading;
using LoraKit.Models;
using LoraKit.Roslyn;
using LoraKit.Rules;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace LoraKit.Analyzers;

/// <summary>A model class read into LoraKit.Core's <see cref="ModelShape"/>, or the LORA2xxx that stops it.</summary>
internal sealed class ModelResult
{
    public ModelResult(ModelShape? shape, Diagnostic? error)
    {
        Shape = shape;
        Error = error;
    }

    public ModelShape? Shape { get; }

    /// <summary>The model's own LORA2xxx, reported on the model class; adapters of it skip the model rules.</summary>
    public Diagnostic? Error { get; }
}

/// <summary>
/// Turns <c>[LoraModel]</c> (dimensions, ConfigFile) and <c>[LoraLinear]</c> attributes, read by the shared
/// <see cref="LoraAttributeReader"/>, into Core's shape, or the LORA2xxx at the argument at fault.
/// </summary>
internal static class ModelReader
{
    public static ModelResult Read(INamedTypeSymbol model, LoraTypes types, ImmutableArray<AdditionalText> files, string? projectDir, CancellationToken ct)
    {
        var attribute = model.GetAttributes().FirstOrDefault(a => SymbolEqualityComparer.Default.Equals(a.AttributeClass, types.ModelAttribute));
        if (attribute is null) return new ModelResult(null, null);
        var syntax = attribute.ApplicationSyntaxReference?.GetSyntax(ct) as AttributeSyntax;
        var name = model.Name;
        var values = LoraAttributeReader.ReadModel(attribute,
            model.GetAttributes().Where(a => SymbolEqualityComparer.Default.Equals(a.AttributeClass, types.LinearAttribute)));
        try
        {
            if (values.HasConfigFile)
                return new ModelResult(ReadConfigFile(name, values.ConfigFile!, syntax, files, projectDir, ct, out var error), error);
            return new ModelResult(values.ToShape(name), null);
        }
        catch (ModelDescriptionException e)
        {
            return new ModelResult(null, Diagnostic.Create(LoraDescriptors.For(e.Id), LocateField(model, e.Field, syntax, types, ct), MessageOf(e)));
        }
    }

    private static ModelShape? ReadConfigFile(string name, string configFile, AttributeSyntax? syntax, ImmutableArray<AdditionalText> files,
        string? projectDir, CancellationToken ct, out Diagnostic? error)
    {
        var location = ArgumentLocation(syntax, nameof(LoraModelAttribute.ConfigFile)) ?? syntax?.GetLocation() ?? Location.None;
        error = null;
        var file = AdditionalFileLocator.Find(files, projectDir, configFile);
        var text = file?.GetText(ct);
        if (file is null || text is null)
        {
            error = Diagnostic.Create(LoraDescriptors.UnreadableConfig, location,
                file is null
                    ? $"{configFile}: is not among the project's AdditionalFiles; add <AdditionalFiles Include=\"{configFile}\" /> to the project"
                    : $"{configFile}: cannot be read; check that the file exists and is readable");
            return null;
        }
        try
        {
            return ModelValues.FromConfigText(name, configFile, text.ToString());
        }
        catch (ModelDescriptionException e)
        {
            error = Diagnostic.Create(LoraDescriptors.For(e.Id), location, MessageOf(e));
            return null;
        }
    }

    /// <summary>The exception's message without its leading "LORA2xxx: ", which the diagnostic already shows.</summary>
    internal static string MessageOf(ModelDescriptionException e)
    {
        var prefix = e.Id + ": ";
        return e.Message.StartsWith(prefix, StringComparison.Ordinal) ? e.Message.Substring(prefix.Length) : e.Message;
    }

    /// <summary>Where a LORA2xxx belongs: the named argument of the field at fault, the [LoraLinear] it names, or the attribute.</summary>
    private static Location LocateField(INamedTypeSymbol model, string? field, AttributeSyntax? syntax, LoraTypes types, CancellationToken ct)
    {
        var fallback = syntax?.GetLocation() ?? model.Locations.FirstOrDefault() ?? Location.None;
        if (field is null) return fallback;
        if (field.StartsWith("LoraLinear(\"", StringComparison.Ordinal))
        {
            var end = field.IndexOf("\")", StringComparison.Ordinal);
            var layer = end > 12 ? field.Substring(12, end - 12) : "";
            foreach (var attr in model.GetAttributes())
            {
                if (!SymbolEqualityComparer.Default.Equals(attr.AttributeClass, types.LinearAttribute)) continue;
                if (attr.ConstructorArguments.Length > 0 && attr.ConstructorArguments[0].Value as string == layer &&
                    attr.ApplicationSyntaxReference?.GetSyntax(ct) is AttributeSyntax linear)
                {
                    var member = field.EndsWith("." + nameof(LoraLinearAttribute.Count), StringComparison.Ordinal) ? ArgumentLocation(linear, nameof(LoraLinearAttribute.Count)) : null;
                    return member ?? linear.GetLocation();
                }
            }
            return fallback;
        }
        return ArgumentLocation(syntax, field) ?? fallback;
    }

    internal static Location? ArgumentLocation(AttributeSyntax? syntax, string name)
    {
        var arg = Argument(syntax, name);
        return arg?.GetLocation();
    }

    internal static AttributeArgumentSyntax? Argument(AttributeSyntax? syntax, string name)
    {
        if (syntax?.ArgumentList is null) return null;
        foreach (var arg in syntax.ArgumentList.Arguments)
            if (arg.NameEquals?.Name.Identifier.ValueText == name) return arg;
        return null;
    }
}
