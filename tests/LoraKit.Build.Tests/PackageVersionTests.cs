using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Xml.Linq;
using Xunit;

namespace LoraKit.Build.Tests;

/// <summary>
/// The TorchSharp backend versions a user's project references are written in two project files users get —
/// the template's (dotnet new lorakit) and the snippet the package tests build — which cannot use central
/// package management. Their home is Directory.Packages.props; these tests hold both files to it.
/// </summary>
public class PackageVersionTests
{
    private static readonly string TemplateProject = Path.Combine("templates", "LoraKit.Templates", "content", "LoraKitApp", "LoraKitApp.csproj");
    private static readonly string SnippetProject = Path.Combine("src", "LoraKit.Build", "snippets", "LoraKitApp.csproj");

    /// <summary>Every versioned PackageReference but LoraKit's own (its version is filled in when packed): (id, version, condition).</summary>
    private static List<(string Id, string Version, string Condition)> References(string relative)
    {
        var doc = XDocument.Load(Path.Combine(TestEnvironment.RepoRoot, relative));
        return doc.Descendants("PackageReference")
            .Where(r => (string?)r.Attribute("Include") != "LoraKit")
            .Select(r => ((string)r.Attribute("Include")!, (string?)r.Attribute("Version") ?? "", ((string?)r.Parent!.Attribute("Condition") ?? "") + " " + ((string?)r.Attribute("Condition") ?? "")))
            .ToList();
    }

    private static Dictionary<string, string> CentralVersions()
    {
        var doc = XDocument.Load(Path.Combine(TestEnvironment.RepoRoot, "Directory.Packages.props"));
        return doc.Descendants("PackageVersion").ToDictionary(p => (string)p.Attribute("Include")!, p => (string)p.Attribute("Version")!, StringComparer.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData("template")]
    [InlineData("snippet")]
    public void Every_backend_reference_has_the_version_of_Directory_Packages_props(string which)
    {
        var file = which == "template" ? TemplateProject : SnippetProject;
        var central = CentralVersions();
        var references = References(file);
        Assert.Contains(references, r => r.Id == "libtorch-cpu-linux-x64");
        Assert.Contains(references, r => r.Id == "TorchSharp-cpu");
        foreach (var (id, version, _) in references)
        {
            Assert.True(central.TryGetValue(id, out var expected), $"{file}: {id} has no PackageVersion in Directory.Packages.props; add it there");
            Assert.True(expected == version, $"{file}: {id} {version}, Directory.Packages.props says {expected}; change it to {expected}");
        }
    }

    /// <summary>
    /// The packages of the template's inference=llamasharp option (the app answers through LLamaSharp): the template
    /// only, not the snippet; the test above still holds their versions to Directory.Packages.props.
    /// </summary>
    private static readonly string[] LlamaSharpOption = { "LLamaSharp", "LLamaSharp.Backend.Cpu" };

    [Fact]
    public void The_template_and_the_snippet_reference_the_same_packages_under_the_same_conditions()
    {
        static IEnumerable<string> Rows(string file) =>
            References(file).Where(r => !LlamaSharpOption.Contains(r.Id)).Select(r => $"{r.Id} {r.Version} {string.Join(" ", r.Condition.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries))}").OrderBy(r => r, StringComparer.Ordinal);
        Assert.Equal(Rows(SnippetProject), Rows(TemplateProject));
    }
}
