using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using Microsoft.CodeAnalysis;

namespace LoraKit.Roslyn;

/// <summary>
/// Finds the AdditionalFile a path written in source names: relative to the project folder
/// (<c>build_property.ProjectDir</c>), else as a path suffix, else by file name when that is unique.
/// Pure string work on '/'-separated paths: analyzers must not touch the file system.
/// </summary>
internal static class AdditionalFileLocator
{
    public static AdditionalText? Find(ImmutableArray<AdditionalText> files, string? projectDir, string written)
    {
        var rel = Normalize(written);
        if (rel.Length == 0) return null;
        var absolute = rel.StartsWith("/", StringComparison.Ordinal) || (rel.Length > 1 && rel[1] == ':');
        if (!string.IsNullOrEmpty(projectDir) || absolute)
        {
            var full = Collapse(absolute ? rel : Normalize(projectDir!).TrimEnd('/') + "/" + rel);
            foreach (var f in files)
                if (string.Equals(Collapse(Normalize(f.Path)), full, StringComparison.Ordinal)) return f;
        }
        var suffix = "/" + Collapse(rel).TrimStart('/');
        foreach (var f in files)
        {
            var p = Normalize(f.Path);
            if (p.EndsWith(suffix, StringComparison.Ordinal) || p == suffix.Substring(1)) return f;
        }
        var name = FileName(rel);
        AdditionalText? byName = null;
        foreach (var f in files)
        {
            if (!string.Equals(FileName(Normalize(f.Path)), name, StringComparison.Ordinal)) continue;
            if (byName is not null) return null; // ambiguous: two files of that name
            byName = f;
        }
        return byName;
    }

    /// <summary>Every AdditionalFile with this file name, those in the project folder first.</summary>
    public static IEnumerable<AdditionalText> ByFileName(ImmutableArray<AdditionalText> files, string? projectDir, string fileName)
    {
        var inProject = string.IsNullOrEmpty(projectDir) ? null : Collapse(Normalize(projectDir!).TrimEnd('/') + "/" + fileName);
        var rest = new List<AdditionalText>();
        foreach (var f in files)
        {
            var p = Collapse(Normalize(f.Path));
            if (!string.Equals(FileName(p), fileName, StringComparison.OrdinalIgnoreCase)) continue;
            if (inProject is not null && string.Equals(p, inProject, StringComparison.Ordinal)) yield return f;
            else rest.Add(f);
        }
        foreach (var f in rest) yield return f;
    }

    /// <summary>A path to show in messages: relative to the project folder when inside it.</summary>
    public static string Display(string path, string? projectDir)
    {
        var p = Collapse(Normalize(path));
        if (string.IsNullOrEmpty(projectDir)) return p;
        var dir = Collapse(Normalize(projectDir!)).TrimEnd('/') + "/";
        return p.StartsWith(dir, StringComparison.Ordinal) ? p.Substring(dir.Length) : p;
    }

    internal static string Normalize(string path)
    {
        var p = path.Trim().Replace('\\', '/');
        while (p.StartsWith("./", StringComparison.Ordinal)) p = p.Substring(2);
        return p;
    }

    /// <summary>Resolves "." and ".." segments: /a/b/../c → /a/c.</summary>
    internal static string Collapse(string path)
    {
        var parts = path.Split('/');
        var stack = new List<string>();
        foreach (var part in parts)
        {
            if (part == "." || (part.Length == 0 && stack.Count > 0)) continue;
            if (part == ".." && stack.Count > 0 && stack[stack.Count - 1] != ".." && stack[stack.Count - 1].Length > 0)
            {
                stack.RemoveAt(stack.Count - 1);
                continue;
            }
            stack.Add(part);
        }
        return string.Join("/", stack);
    }

    private static string FileName(string path) => path.Substring(path.LastIndexOf('/') + 1);
}
