// What every code fix here uses; one list instead of the same block at the top of each provider.
global using System.Composition;
global using System.Globalization;
global using System.Threading;
global using System.Threading.Tasks;
global using LoraKit.Rules;
global using Microsoft.CodeAnalysis;
global using Microsoft.CodeAnalysis.CodeActions;
global using Microsoft.CodeAnalysis.CodeFixes;
global using Microsoft.CodeAnalysis.CSharp;
global using Microsoft.CodeAnalysis.CSharp.Syntax;
