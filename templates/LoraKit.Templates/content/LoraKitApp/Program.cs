using System.Reflection;
using LoraKit.Inference;
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

// Load the base once, attach the trained adapter through its typed wrapper (rank and targets checked), stream the answer.
using var model = LoraKitModel.Load(baseModel);
SupportAdapter.Load(model.Model, adapterFolder);
var prompt = string.Join(" ", args).Replace("\\n", "\n");
await foreach (var piece in model.Generate(prompt, new GenerationOptions { MaxNewTokens = 64 }))
    Console.Write(piece);
Console.WriteLine();
return 0;
