using System.Reflection;
//#if (!isLlamaSharp)
using LoraKit.Inference;
//#endif
using LoraKitApp;

// The project file records where `dotnet build -t:LoraTrain` writes the adapter and which base it trains
// (LoraKitBaseModel, LoraKitOutputDir); the adapter lands in <LoraKitOutputDir>/SupportAdapter/.
string Setting(string key) =>
    typeof(SupportAdapter).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().FirstOrDefault(a => a.Key == key)?.Value
    ?? throw new InvalidOperationException($"the project file sets no AssemblyMetadata '{key}'");

var baseModel = Setting("LoraKitBaseModel");
var adapterFolder = Path.Combine(Setting("LoraKitOutputDir"), nameof(SupportAdapter));

if (!File.Exists(Path.Combine(adapterFolder, "adapter_model.safetensors")))
{
    // The adapter as the compiler checked it: the source generator computed these from SupportAdapter's attribute.
    Console.WriteLine($"SupportAdapter: r={SupportAdapter.Rank}, alpha={SupportAdapter.Alpha}, scaling {SupportAdapter.Scaling}, " +
                      $"targets {string.Join(", ", SupportAdapter.Config.TargetModules)}");
    Console.WriteLine($"trains {SupportAdapter.TrainableParameters:N0} of {SupportAdapter.BaseParameters:N0} parameters ({SupportAdapter.BudgetPercent:0.000} %)");
    Console.Error.WriteLine($"No trained adapter in {adapterFolder} yet. Train it first: dotnet build -t:LoraTrain   (rank sweep: dotnet build -t:LoraSweep)");
    return 1;
}
if (args.Length == 0)
{
    Console.Error.WriteLine("Ask the trained adapter something: dotnet run -- \"date: 2024-03-07\\n\"   (\\n in the prompt is a newline)");
    return 2;
}

var prompt = string.Join(" ", args).Replace("\\n", "\n");
//#if (isLlamaSharp)
// Answer through llama.cpp (LLamaSharp) from the GGUF files `lorakit export gguf` writes next to the adapter: the base,
// and the adapter as llama.cpp's LoRA GGUF, which llama.cpp applies itself. Nothing here loads TorchSharp.
var ggufFolder = Path.Combine(adapterFolder, "gguf");
var modelFile = Path.Combine(ggufFolder, "model.gguf");
var adapterFile = Path.Combine(ggufFolder, "adapter.gguf");
if (!File.Exists(modelFile) || !File.Exists(adapterFile))
{
    Console.Error.WriteLine("Export the base and the trained adapter for llama.cpp first (the lorakit tool: dotnet tool install LoraKit.Cli):");
    Console.Error.WriteLine($"  lorakit export gguf --base {baseModel} --out {modelFile} --type q8_0");
    Console.Error.WriteLine($"  lorakit export gguf --base {baseModel} --adapter {adapterFolder} --out {adapterFile}");
    return 3;
}
using var chat = new GgufChat(modelFile, adapterFile);
foreach (var piece in chat.Generate(prompt, maxNewTokens: 64))
    Console.Write(piece);
//#else
// Load the base once, attach the trained adapter through its typed wrapper (rank and targets checked), stream the answer.
using var model = LoraKitModel.Load(baseModel);
SupportAdapter.Load(model.Model, adapterFolder);
await foreach (var piece in model.Generate(prompt, new GenerationOptions { MaxNewTokens = 64 }))
    Console.Write(piece);
//#endif
Console.WriteLine();
return 0;
