# The same LoRA training step as LoraKit's gpu-training benchmark, in transformers + PEFT (the field's reference),
# on the same GPU: bf16 base, fp32 LoRA on the targets LoraKit names, no dropout, AdamW(lr 1e-4) on the LoRA
# parameters, labels = inputs, SDPA attention; median of 10 steps after 2 warm-up steps. The case (transformers
# config, batch, sequence, rank, alpha, targets) is the file LoraKit writes with `LoraKit.Benchmarks
# gpu-training-cases DIR`, so both sides run the same shapes. Usage: peft_bench.py DIR/smollm2.json [--gradient-checkpointing]
# (eng/gpu/bench.sh; eng/gpu/fit.sh adds transformers' gradient checkpointing, non-reentrant, as its docs recommend)
import sys, time, statistics, json, torch, transformers, peft
from transformers import LlamaConfig, LlamaForCausalLM
from peft import LoraConfig, get_peft_model
case = json.load(open(sys.argv[1]))
batch, seq = case["batch"], case["sequence"]
cfg = LlamaConfig(**{k: v for k, v in case["config"].items() if k not in ("architectures", "model_type", "torch_dtype", "dtype")},
                  attn_implementation="sdpa")
torch.manual_seed(1)
with torch.device("cuda"):
    model = LlamaForCausalLM(cfg).to(torch.bfloat16)
checkpointing = "--gradient-checkpointing" in sys.argv[2:]
if checkpointing:
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
model = get_peft_model(model, LoraConfig(r=case["rank"], lora_alpha=case["alpha"], lora_dropout=0.0, target_modules=case["targets"]))
model.train()
lora_dtype = next(p.dtype for n, p in model.named_parameters() if p.requires_grad)
opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
ids = torch.randint(0, cfg.vocab_size, (batch, seq), generator=torch.Generator().manual_seed(2)).cuda()
times = []
torch.cuda.reset_peak_memory_stats()
for i in range(12):
    torch.cuda.synchronize(); t = time.perf_counter()
    loss = model(input_ids=ids, labels=ids).loss
    loss.backward(); opt.step(); opt.zero_grad(set_to_none=True)
    torch.cuda.synchronize()
    if i >= 2: times.append(time.perf_counter() - t)
s = statistics.median(times)
print(json.dumps({"case": sys.argv[1], "gradient_checkpointing": checkpointing, "batch": batch, "seq": seq, "step_s": s, "tokens_per_s": batch * seq / s, "lora_dtype": str(lora_dtype),
                  "max_allocated_mib": torch.cuda.max_memory_allocated() / 2**20, "max_reserved_mib": torch.cuda.max_memory_reserved() / 2**20,
                  "torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__}))
