using LoraKit;

namespace LoraKitApp;

/// <summary>The base model LoRA adapts. LoraKit's analyzers check every adapter against these dimensions.</summary>
//#if (isBuiltin)
// LoraKit's embedded tiny byte-level Llama (`LoraKitBaseModel=builtin`): created and pretrained by LoraKit, no download.
[LoraModel(LoraArchitecture.Llama, HiddenSize = 256, IntermediateSize = 688, Layers = 4, AttentionHeads = 4, KeyValueHeads = 2, VocabSize = 259)]
//#elif (isLlama2)
// meta-llama/Llama-2-7b-hf: put the Hugging Face folder at models/base (LoraKitBaseModel).
[LoraModel(LoraArchitecture.Llama, HiddenSize = 4096, IntermediateSize = 11008, Layers = 32, AttentionHeads = 32, KeyValueHeads = 32, VocabSize = 32000)]
//#elif (isTinyLlama)
// TinyLlama/TinyLlama-1.1B: put the Hugging Face folder at models/base (LoraKitBaseModel).
[LoraModel(LoraArchitecture.Llama, HiddenSize = 2048, IntermediateSize = 5632, Layers = 22, AttentionHeads = 32, KeyValueHeads = 4, VocabSize = 32000)]
//#elif (isSmolLM2)
// HuggingFaceTB/SmolLM2-135M: put the Hugging Face folder at models/base (LoraKitBaseModel).
[LoraModel(LoraArchitecture.Llama, HiddenSize = 576, IntermediateSize = 1536, Layers = 30, AttentionHeads = 9, KeyValueHeads = 3, VocabSize = 49152, TieWordEmbeddings = true)]
//#elif (isQwen25)
// Qwen/Qwen2.5-0.5B: put the Hugging Face folder at models/base (LoraKitBaseModel).
[LoraModel(LoraArchitecture.Llama, HiddenSize = 896, IntermediateSize = 4864, Layers = 24, AttentionHeads = 14, KeyValueHeads = 2, VocabSize = 151936, TieWordEmbeddings = true, AttentionBias = true)]
//#elif (isGemma2)
// google/gemma-2-2b: put the Hugging Face folder at models/base (LoraKitBaseModel).
[LoraModel(LoraArchitecture.Gemma2, HiddenSize = 2304, IntermediateSize = 9216, Layers = 26, AttentionHeads = 8, KeyValueHeads = 4, HeadDim = 256, VocabSize = 256000, TieWordEmbeddings = true)]
//#elif (isPhi3)
// microsoft/Phi-3-mini-4k-instruct or Phi-3.5-mini-instruct (same shapes): put the Hugging Face folder at models/base (LoraKitBaseModel).
[LoraModel(LoraArchitecture.Phi3, HiddenSize = 3072, IntermediateSize = 8192, Layers = 32, AttentionHeads = 32, KeyValueHeads = 32, VocabSize = 32064)]
//#else
// Read from the model's Hugging Face config.json (an AdditionalFile of the project).
[LoraModel(ConfigFile = "models/base/config.json")]
//#endif
public partial class BaseModel;
