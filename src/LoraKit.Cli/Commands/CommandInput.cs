using System.CommandLine;
using System.Text.Json;
using LoraKit.Data;
using LoraKit.IO;
using LoraKit.Lora;
using LoraKit.Models;
using LoraKit.Modeling;
using LoraKit.Rules;
using LoraKit.Run;
using static TorchSharp.torch;

namespace LoraKit.Cli.Commands;

/// <summary>
/// What the model commands (eval, generate, merge, quantize) share: options taken from the run contract,
/// --out, and how input LoraKit cannot use ends a command — one "error: …" line on stderr, exit 2.
/// </summary>
internal static class CommandInput
{
    /// <summary>An option of the run contract (<see cref="TrainRequest.Options"/>) with its name, description and the builtin run's default.</summary>
    public static Option<string> FromContract(string name)
    {
        var spec = TrainRequest.Options.Single(o => o.Name == name);
        var value = spec.ValueIn(TrainRequest.DefaultsFor(TrainRequest.BuiltinSpec, TrainRequest.BuiltinSpec))
                    ?? throw new InvalidOperationException($"the run contract's {name} has no default");
        return new Option<string>(name) { Description = spec.Description, DefaultValueFactory = _ => value };
    }

    /// <summary>The required --out folder of a command that writes a new checkpoint.</summary>
    public static Option<string> OutFolder(string what) =>
        new("--out") { Description = $"Folder for {what}; must be new or empty.", Required = true };

    public static int Fail(TextWriter stderr, string message)
    {
        stderr.WriteLine($"error: {message}");
        return ExitCodes.BadInput;
    }

    /// <summary>Runs a command's body; bad input (<see cref="IsBadInput"/>) becomes its message on stderr and exit 2.</summary>
    public static int Guard(TextWriter stderr, Func<int> body)
    {
        try
        {
            return body();
        }
        catch (Exception e) when (IsBadInput(e))
        {
            return Fail(stderr, e.Message);
        }
    }

    /// <summary>Failures that mean the input is wrong (exit 2): the message names the file, key or line and the fix.</summary>
    public static bool IsBadInput(Exception e) =>
        e is ArgumentException or IOException or DataException or ModelDescriptionException or InvalidFileException
            or HfStateDictException or LoraException or UnauthorizedAccessException or NotSupportedException or JsonException
            or KeyNotFoundException or Gguf.GgufExportException or LoraLockException;
}

/// <summary>The dtype names the commands take: fp32, bf16, fp16.</summary>
internal static class DtypeOption
{
    public static bool TryParse(string name, out ScalarType dtype)
    {
        (var ok, dtype) = name switch
        {
            "fp32" => (true, ScalarType.Float32),
            "bf16" => (true, ScalarType.BFloat16),
            "fp16" => (true, ScalarType.Float16),
            _ => (false, ScalarType.Float32),
        };
        return ok;
    }

    /// <summary>An optional dtype option's value (null when not given), or the error naming the option and the names it takes.</summary>
    public static (ScalarType? Dtype, string? Error) Read(ParseResult parse, Option<string?> option)
    {
        if (parse.GetValue(option) is not { } name) return (null, null);
        return TryParse(name, out var dtype) ? (dtype, null) : (null, $"{option.Name} {name} is not one of fp32, bf16, fp16");
    }
}
