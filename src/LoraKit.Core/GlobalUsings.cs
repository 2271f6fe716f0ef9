// The namespaces most LoraKit.Core files use, imported once. Wherever Core's sources are compiled this file goes
// with them: the analyzers and the generator compile Core/**/*.cs, and LoraKit.Build links it beside its subset of
// Core. So it names only namespaces of netstandard2.0 itself; a file imports anything else on its own.
global using System;
global using System.Collections.Generic;
global using System.Globalization;
global using System.Linq;
