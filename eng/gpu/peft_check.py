# Outside checks of LoraKit's CUDA runs with the real transformers/PEFT on the lent GPU machine.
# usage: peft_check.py FIXTURES ADAPTER_DIR EVAL_JSON GEN_JSONL EVAL_REF_JSON (eng/gpu/check.sh passes them);
# prints one JSON object with every figure and a "checks" list; exits 1 when a check fails.
import json, sys, torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from peft import PeftModel
fix, adapter, eval_json, gen_jsonl, eval_ref_json = sys.argv[1:6]
out = {"torch": torch.__version__}
import transformers, peft
out["transformers"] = transformers.__version__; out["peft"] = peft.__version__
base_dir = fix + "/tiny-llama"
tok = AutoTokenizer.from_pretrained(base_dir)
eos = json.load(open(base_dir + "/generation_config.json"))["eos_token_id"]  # what lorakit eval appends
lines = [json.loads(l)["text"] for l in open(fix + "/data/tiny.jsonl") if l.strip()]
def mean_loss(model, dev):
    tot, n = 0.0, 0
    with torch.no_grad():
        for t in lines:
            ids = tok(t)["input_ids"] + [eos]
            x = torch.tensor([ids], device=dev)
            logits = model(x).logits.float()[0, :-1]
            nll = torch.nn.functional.cross_entropy(logits, x[0, 1:], reduction="sum")
            tot += nll.item(); n += len(ids) - 1
    return tot / n, n
for dev in ["cuda", "cpu"]:
    base = AutoModelForCausalLM.from_pretrained(base_dir, torch_dtype=torch.float32, attn_implementation="eager").to(dev).eval()
    b, n = mean_loss(base, dev)
    pm = PeftModel.from_pretrained(base, adapter).to(dev).eval()
    a, _ = mean_loss(pm, dev)
    out[f"peft_{dev}"] = {"base_mean_loss": b, "adapter_mean_loss": a, "tokens": n}
ours = {r["adapter"] or "base": r["mean_loss"] for r in json.load(open(eval_json))["results"]}
out["lorakit_cuda_eval"] = ours
ref = json.load(open(fix + "/transformers5/generate/tiny-llama.json"))
gens = [json.loads(l) for l in open(gen_jsonl) if l.strip()]
cmp = []
for g, r in zip(gens, ref["greedy"]):
    cmp.append({"prompt": r["prompt"], "transformers": tok.decode(r["new_ids"]), "lorakit_cuda": g["completion"], "stop": g.get("stop_reason")})
out["generate"] = cmp
# LoraKit on CUDA (fp32 eval) against transformers 5's losses in the fixtures (computed on a CPU) and against PEFT on
# this GPU; greedy text against transformers' greedy ids. 1e-5: fp32 reductions in another order on another device.
ref_eval = {r["adapter"] or "base": r["mean_loss"] for r in json.load(open(eval_ref_json))["results"]}
checks = [
  ("eval base on CUDA vs transformers 5", ref_eval["base"], json.load(open(fix + "/transformers5/eval/tiny-llama.json"))["text"]["mean_loss"]),
  ("eval peft-llama-r4 on CUDA vs transformers 5 + PEFT", ref_eval["peft-llama-r4"], json.load(open(fix + "/transformers5/eval/peft-llama-r4.json"))["text"]["mean_loss"]),
  ("eval of the CUDA-trained adapter vs PEFT on this GPU", ours[adapter.rstrip("/").split("/")[-1]], out["peft_cuda"]["adapter_mean_loss"]),
  ("eval of the CUDA-trained adapter vs PEFT on this CPU", ours[adapter.rstrip("/").split("/")[-1]], out["peft_cpu"]["adapter_mean_loss"]),
]
out["checks"] = [{"check": n, "lorakit": a, "reference": b, "abs_diff": abs(a - b), "pass": abs(a - b) <= 1e-5} for n, a, b in checks]
out["checks"] += [{"check": "greedy generation on CUDA = transformers: " + c["prompt"], "pass": c["transformers"] == c["lorakit_cuda"]} for c in cmp]
print(json.dumps(out, indent=1))
failed = [c["check"] for c in out["checks"] if not c["pass"]]
print("peft_check: " + ("FAIL: " + "; ".join(failed) if failed else f"PASS ({len(out['checks'])} checks)"), file=sys.stderr)
sys.exit(1 if failed else 0)
