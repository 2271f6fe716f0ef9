#!/usr/bin/env python3
"""Writes the serving-lint fixtures from the PEFT adapter peft-llama-r4 and its base tiny-llama (../hf-reference),
in the layout PEFT 0.12's save_pretrained gives a DoRA adapter and an adapter with modules_to_save. Pure Python (no
torch here): reads and writes safetensors by its spec. See PROVENANCE.md. Run from this folder: python3 make_fixtures.py"""
import json, math, os, struct
from array import array

HERE = os.path.dirname(os.path.abspath(__file__))
REF = os.path.join(HERE, "..", "hf-reference")


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", None)
    body = data[8 + n:]
    tensors = {}
    for name, info in header.items():
        assert info["dtype"] == "F32", (name, info["dtype"])
        start, end = info["data_offsets"]
        values = array("f")
        values.frombytes(body[start:end])
        tensors[name] = (info["shape"], values)
    return tensors, meta


def write_safetensors(path, tensors, meta):
    # safetensors' Python writer: tensors ordered by dtype alignment, then name; header padded with spaces to 8 bytes.
    header, offset, chunks = {}, 0, []
    for name in sorted(tensors):
        shape, values = tensors[name]
        raw = values.tobytes()
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        chunks.append(raw)
    header = {"__metadata__": meta, **header}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(chunks))


def write_config(folder, config):
    with open(os.path.join(folder, "adapter_config.json"), "w") as f:
        f.write(json.dumps(config, indent=2, sort_keys=True))  # PEFT: sort_keys=True, indent=2, no trailing newline


def main():
    adapter, meta = read_safetensors(os.path.join(REF, "peft-llama-r4", "adapter_model.safetensors"))
    base, _ = read_safetensors(os.path.join(REF, "tiny-llama", "model.safetensors"))
    with open(os.path.join(REF, "peft-llama-r4", "adapter_config.json")) as f:
        config = json.load(f)

    # DoRA: PEFT's DoraLinearLayer.update_layer starts the magnitude at get_weight_norm(W, B @ A, scaling), the norms over
    # dim 1 of W + scaling * B @ A, when B is still zero: the row norms of W (peft-llama-r4's B was set after that).
    # get_peft_model_state_dict saves it as <module>.lora_magnitude_vector (adapter name and ".weight" removed).
    dora = dict(adapter)
    for name in adapter:
        if not name.endswith(".lora_A.weight"):
            continue
        module = name[:-len(".lora_A.weight")]
        (n_out, n_in), w = base[module[len("base_model.model."):] + ".weight"]
        norms = array("f", (math.sqrt(sum(w[o * n_in + i] ** 2 for i in range(n_in))) for o in range(n_out)))
        dora[module + ".lora_magnitude_vector"] = ([n_out], norms)
    folder = os.path.join(HERE, "peft-llama-r4-dora")
    os.makedirs(folder, exist_ok=True)
    write_safetensors(os.path.join(folder, "adapter_model.safetensors"), dora, meta)
    write_config(folder, {**config, "use_dora": True})

    # modules_to_save=["lm_head"]: PEFT wraps lm_head in ModulesToSaveWrapper (a copy of the base module) and saves
    # base_model.model.lm_head.weight (the "modules_to_save.default" segment removed).
    saved = dict(adapter)
    saved["base_model.model.lm_head.weight"] = base["lm_head.weight"]
    folder = os.path.join(HERE, "peft-llama-r4-lm-head-saved")
    os.makedirs(folder, exist_ok=True)
    write_safetensors(os.path.join(folder, "adapter_model.safetensors"), saved, meta)
    write_config(folder, {**config, "modules_to_save": ["lm_head"]})


if __name__ == "__main__":
    main()
