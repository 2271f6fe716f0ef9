using LoraKit.Cli;

return LoraKitCli.Run(args, Console.Out, Console.Error);
