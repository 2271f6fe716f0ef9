using System;
using System.Linq;
using LoraKit.Benchmarks;

// Usage: LoraKit.Benchmarks <benchmark> [options]; benchmarks: checkpoint-io
var name = args.FirstOrDefault() ?? "all";
var rest = args.Skip(1).ToArray();
switch (name)
{
    case "checkpoint-io":
        CheckpointIoBenchmark.Run(rest);
        break;
    case "all":
        CheckpointIoBenchmark.Run(rest);
        break;
    default:
        Console.Error.WriteLine($"unknown benchmark '{name}'; known: checkpoint-io, all");
        return 2;
}
return 0;
