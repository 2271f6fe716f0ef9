using LoraKit;

namespace LoraKitApp;

/// <summary>A LoRA adapter for <see cref="BaseModel"/>; LoraKit's analyzers check its rank, alpha, budget and targets as you type.</summary>
[LoraAdapter(typeof(BaseModel), Rank = 8 /*lorakit:rank*/,
//#if (alphaGiven)
             Alpha = 16 /*lorakit:alpha*/,
//#else
             Alpha = 2 * 8 /*lorakit:rank*/,
//#endif
             Dropout = 0.05, TargetModules = new[] { "q_proj", "v_proj" /*lorakit:targets*/ })]
public partial class NewAdapter;
