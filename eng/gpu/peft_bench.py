# The same LoRA training step as LoraKit's gpu-training benchmark, in transformers + PEFT (the field's reference),
# on the same GPU: bf16 base, fp32 LoRA r=16/alpha 32 on q,k,v,o, no dropout, AdamW(lr 1e-4) on the LoRA parameters,
# labels = inputs, SDPA attention; median of 10 steps after 2 warm-up steps. Usage: peft_bench.py smollm2|tinyllama (eng/gpu/bench.sh)
import sys, time, statistics, json, torch, transformers, peft
from transformers import LlamaConfig, LlamaForCausalLM
from peft import LoraConfig, get_peft_model
case = sys.argv[1]
cfgs = {
 "smollm2": (dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3,
                  vocab_size=49152, tie_word_embeddings=True, rms_norm_eps=1e-5, max_position_embeddings=8192), 16),
 "tinyllama": (dict(hidden_size=2048, intermediate_size=5632, num_hidden_layers=22, num_attention_heads=32, num_key_value_heads=4,
                    vocab_size=32000, tie_word_embeddings=False, rms_norm_eps=1e-5, max_position_embeddings=2048), 8),
}
kw, batch = cfgs[case]; seq = 1024
cfg = LlamaConfig(**kw, attn_implementation="sdpa")
torch.manual_seed(1)
with torch.device("cuda"):
    model = LlamaForCausalLM(cfg).to(torch.bfloat16)
model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"]))
model.train()
lora_dtype = next(p.dtype for n, p in model.named_parameters() if p.requires_grad)
opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
ids = torch.randint(0, kw["vocab_size"], (batch, seq), generator=torch.Generator().manual_seed(2)).cuda()
times = []
torch.cuda.reset_peak_memory_stats()
for i in range(12):
    torch.cuda.synchronize(); t = time.perf_counter()
    loss = model(input_ids=ids, labels=ids).loss
    loss.backward(); opt.step(); opt.zero_grad(set_to_none=True)
    torch.cuda.synchronize()
    if i >= 2: times.append(time.perf_counter() - t)
s = statistics.median(times)
print(json.dumps({"case": case, "batch": batch, "seq": seq, "step_s": s, "tokens_per_s": batch * seq / s, "lora_dtype": str(lora_dtype),
                  "max_allocated_mib": torch.cuda.max_memory_allocated() / 2**20, "max_reserved_mib": torch.cuda.max_memory_reserved() / 2**20,
                  "torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__}))
