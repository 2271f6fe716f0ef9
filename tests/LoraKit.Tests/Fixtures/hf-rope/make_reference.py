# Writes this folder's reference files with transformers (see PROVENANCE.md). Usage: python3 make_reference.py OUT
import json, os, sys, traceback
import torch, transformers
from transformers import LlamaConfig, MistralConfig, Qwen2Config, LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM
from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding
out = sys.argv[1]; os.makedirs(out, exist_ok=True)
res = {"transformers": transformers.__version__, "torch": torch.__version__}
def cfg(cls, theta, rope, **kw):
    try:
        p = dict(rope or {"rope_type": "default"}); p["rope_theta"] = theta
        return cls(rope_parameters=p, **kw)
    except Exception:
        return cls(rope_theta=theta, rope_scaling=rope, **kw)
big = dict(hidden_size=4096, num_attention_heads=32, num_key_value_heads=8, intermediate_size=64, num_hidden_layers=1, vocab_size=16)
def freqs(name, theta, maxpos, rope, seq):
    try:
        r = LlamaRotaryEmbedding(config=cfg(LlamaConfig, theta, rope, max_position_embeddings=maxpos, **big))
        x = torch.zeros(1, seq, 8)
        cos, _ = r(x, torch.arange(seq)[None])
        res[name] = {"inv_freq": [float(v) for v in r.inv_freq], "attention_scaling": float(r.attention_scaling), "cos_last": [float(v) for v in cos[0, -1, :64]]}
    except Exception:
        res[name] = traceback.format_exc()[-600:]
freqs("llama3", 500000.0, 131072, {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}, 16)
freqs("yarn", 1000000.0, 131072, {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}, 16)
freqs("dynamic", 10000.0, 2048, {"rope_type": "dynamic", "factor": 2.0}, 4096)
json.dump(res, open(os.path.join(out, "freqs.json"), "w"), indent=1)
torch.manual_seed(0); ids = torch.randint(0, 300, (1, 24))
small = dict(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, vocab_size=300, max_position_embeddings=16, rms_norm_eps=1e-5, initializer_range=0.1)
models = {
 "mistral-window4": (MistralForCausalLM, MistralConfig, None, dict(sliding_window=4)),
 "qwen2-window5": (Qwen2ForCausalLM, Qwen2Config, None, dict(use_sliding_window=True, sliding_window=5, max_window_layers=1, tie_word_embeddings=True)),
 "llama-yarn": (LlamaForCausalLM, LlamaConfig, {"rope_type": "yarn", "factor": 4.0}, {}),
 "llama-llama3": (LlamaForCausalLM, LlamaConfig, {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 64}, {}),
 "llama-dynamic": (LlamaForCausalLM, LlamaConfig, {"rope_type": "dynamic", "factor": 2.0}, {}),
 "llama-linear": (LlamaForCausalLM, LlamaConfig, {"rope_type": "linear", "factor": 2.0}, {}),
}
for name, (mcls, ccls, rope, extra) in models.items():
    try:
        c = cfg(ccls, 10000.0, rope, **small, **extra); c._attn_implementation = "eager"
        torch.manual_seed(1); m = mcls(c).eval()
        with torch.no_grad(): logits = m(ids).logits
        d = os.path.join(out, name); m.save_pretrained(d)
        json.dump({"input_ids": ids.tolist(), "shape": list(logits.shape), "logits": [round(float(v), 7) for v in logits.flatten()]}, open(os.path.join(d, "reference.json"), "w"))
        print(name, "ok")
    except Exception:
        print(name, traceback.format_exc()[-800:])
print(json.dumps({k: (v if isinstance(v, str) else "ok") for k, v in res.items()}))
