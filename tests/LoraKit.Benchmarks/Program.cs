using System;
using System.Globalization;
using System.Linq;
using LoraKit.Benchmarks;

// Usage: LoraKit.Benchmarks <benchmark> [options]; benchmarks: checkpoint-io, training-step, memory-estimate, gpu-training, generation, qlora, gguf, hostile-templates, fit, all
// (gpu-training-cases DIR writes gpu-training's cases for eng/gpu/peft_bench.py)
var name = args.FirstOrDefault() ?? "all";
var rest = args.Skip(1).ToArray();
switch (name)
{
    case "checkpoint-io":
        CheckpointIoBenchmark.Run(rest);
        break;
    case "training-step":
        TrainingStepBenchmark.Run(rest);
        break;
    case "gpu-training":
        GpuTrainingBenchmark.Run(rest);
        break;
    case "gpu-training-cases":
        GpuTrainingBenchmark.WriteCases(rest);
        break;
    case "fit":
        FitBenchmark.Run(rest);
        break;
    case "fit-child":
        FitBenchmark.RunChild(rest[0], int.Parse(rest[1], CultureInfo.InvariantCulture));
        break;
    case "fit-loss-child":
        FitBenchmark.RunLossChild(rest[0]);
        break;
    case "memory-estimate":
        MemoryEstimateBenchmark.Run(rest);
        break;
    case "qlora":
        QloraBenchmark.Run(rest);
        break;
    case "qlora-child":
        QloraBenchmark.RunChild(rest[0], int.Parse(rest[1], CultureInfo.InvariantCulture));
        break;
    case "generation":
        InferenceBenchmark.Run(rest);
        break;
    case "gguf":
        GgufBenchmark.Run(rest);
        break;
    case "hostile-templates":
        HostileTemplateBenchmark.Run(rest);
        break;
    case "memory-estimate-child":
        MemoryEstimateBenchmark.RunChild(int.Parse(rest[0], CultureInfo.InvariantCulture), int.Parse(rest[1], CultureInfo.InvariantCulture));
        break;
    case "lora-memory":
    case "full-memory":
        TrainingStepBenchmark.RunMemoryChild(name, int.Parse(rest[0], CultureInfo.InvariantCulture));
        break;
    case "all":
        CheckpointIoBenchmark.Run(Array.Empty<string>());
        Console.WriteLine();
        TrainingStepBenchmark.Run(Array.Empty<string>());
        Console.WriteLine();
        MemoryEstimateBenchmark.Run(Array.Empty<string>());
        Console.WriteLine();
        InferenceBenchmark.Run(Array.Empty<string>());
        Console.WriteLine();
        QloraBenchmark.Run(Array.Empty<string>());
        Console.WriteLine();
        GgufBenchmark.Run(Array.Empty<string>());
        Console.WriteLine();
        HostileTemplateBenchmark.Run(Array.Empty<string>());
        Console.WriteLine();
        FitBenchmark.Run(Array.Empty<string>());
        break;
    default:
        Console.Error.WriteLine($"unknown benchmark '{name}'; known: checkpoint-io, training-step, memory-estimate, gpu-training, generation, qlora, gguf, hostile-templates, fit, all");
        return 2;
}
return 0;
