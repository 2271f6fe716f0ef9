using LoraKit;

namespace LoraKitApp;

/// <summary>
/// The adapter `dotnet build -t:LoraTrain` trains. Change Rank, Alpha or TargetModules and the analyzers
/// re-check the alpha/r ratio (LORA1001), the parameter budget (LORA1002), the rank (LORA1003), the
/// targets (LORA1004) and, after a sweep, the locked rank (LORA1007) as you type.
/// </summary>
[LoraAdapter(typeof(BaseModel), Rank = 8 /*lorakit:rank*/,
//#if (alphaGiven)
             Alpha = 16 /*lorakit:alpha*/,
//#else
             Alpha = 2 * 8 /*lorakit:rank*/,
//#endif
//#if (isPhi3DefaultTargets)
             // Phi-3 fuses q, k and v into qkv_proj (the name PEFT targets).
             Dropout = 0.05, TargetModules = new[] { "qkv_proj" })]
//#else
             Dropout = 0.05, TargetModules = new[] { "q_proj", "v_proj" /*lorakit:targets*/ })]
//#endif
public partial class SupportAdapter;
