using LoraKitApp;

// The adapter as the compiler checked it: the source generator computed these from SupportAdapter's attribute.
Console.WriteLine($"SupportAdapter: r={SupportAdapter.Rank}, alpha={SupportAdapter.Alpha}, scaling {SupportAdapter.Scaling}, " +
                  $"targets {string.Join(", ", SupportAdapter.Config.TargetModules)}");
Console.WriteLine($"trains {SupportAdapter.TrainableParameters:N0} of {SupportAdapter.BaseParameters:N0} parameters ({SupportAdapter.BudgetPercent:0.000} %)");
Console.WriteLine("Train it with: dotnet build -t:LoraTrain   (rank sweep: dotnet build -t:LoraSweep)");
