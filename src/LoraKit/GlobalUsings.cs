// The namespaces the SDK's ImplicitUsings would import, written once for LoraKit and LoraKit.Cli (which links
// this file). The repository turns ImplicitUsings off so that LoraKit.Core, also compiled into the analyzers,
// imports only what it names (in its own GlobalUsings.cs).
global using System;
global using System.Collections.Generic;
global using System.Globalization;
global using System.IO;
global using System.Linq;
global using System.Text;
global using System.Threading;
global using System.Threading.Tasks;
