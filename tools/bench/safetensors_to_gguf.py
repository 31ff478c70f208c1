#!/usr/bin/env python3
"""Writes a Qwen2 Hugging Face folder (config.json + *.safetensors, e.g. from `tina init-model --random`)
as an F16 or F32 GGUF that llama.cpp loads (architecture qwen2), so llama.cpp runs the same weights as Tina.

Benchmark harness only (tools/bench/llamacpp-compare.sh), not part of the product. Needs numpy and the
gguf package of llama.cpp's own source tree (gguf-py, numpy only): pass --gguf-py LLAMA_SRC/gguf-py.
No torch, no transformers: the safetensors are read with numpy (BF16 widened to float32 by a shift),
the tokenizer from tokenizer.json.

Vocabulary: the tokenizer's tokens fill ids below the model's vocab_size; ids the tokenizer does not
have become [PAD<id>] (as llama.cpp's converter does), and a tokenizer larger than the model (a
benchmark shape with a small vocabulary) is cut at vocab_size, with the merges whose parts or result
fall outside dropped. The GGUF is for speed measurements, not for meaningful text.
"""
import argparse
import json
import os
import struct
import sys

import numpy as np


def fail(msg):
    print(f"safetensors_to_gguf: error: {msg}", file=sys.stderr)
    sys.exit(2)


def read_safetensors(path):
    """name -> (dtype, shape, offset, nbytes) and a memmap of the whole file."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    header.pop("__metadata__", None)
    data = np.memmap(path, dtype=np.uint8, mode="r")
    base = 8 + n
    return {k: (v["dtype"], v["shape"], base + v["data_offsets"][0], v["data_offsets"][1] - v["data_offsets"][0])
            for k, v in header.items()}, data


def to_f32(dtype, shape, raw):
    if dtype == "F32":
        return raw.view(np.float32).reshape(shape)
    if dtype == "F16":
        return raw.view(np.float16).astype(np.float32).reshape(shape)
    if dtype == "BF16":
        return (raw.view(np.uint16).astype(np.uint32) << 16).view(np.float32).reshape(shape)
    fail(f"unsupported safetensors dtype {dtype}")


HF_TO_GGUF = {
    "input_layernorm.weight": "attn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.q_proj.bias": "attn_q.bias",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.k_proj.bias": "attn_k.bias",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.v_proj.bias": "attn_v.bias",
    "self_attn.o_proj.weight": "attn_output.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}


def gguf_name(hf):
    if hf == "model.embed_tokens.weight":
        return "token_embd.weight"
    if hf == "model.norm.weight":
        return "output_norm.weight"
    if hf == "lm_head.weight":
        return "output.weight"
    if hf.startswith("model.layers."):
        rest = hf[len("model.layers."):]
        layer, _, suffix = rest.partition(".")
        if suffix in HF_TO_GGUF:
            return f"blk.{int(layer)}.{HF_TO_GGUF[suffix]}"
    fail(f"tensor {hf} has no qwen2 GGUF name")


def vocab(tokenizer_json, vocab_size, gguf):
    tok = json.load(open(tokenizer_json, encoding="utf-8"))
    model = tok["model"]
    if model.get("type") != "BPE":
        fail(f"{tokenizer_json}: not a BPE tokenizer")
    by_id = {i: t for t, i in model["vocab"].items()}
    special = {}
    for a in tok.get("added_tokens", []):
        by_id[a["id"]] = a["content"]
        special[a["id"]] = a.get("special", False)
    tokens, types = [], []
    for i in range(vocab_size):
        if i in by_id:
            tokens.append(by_id[i])
            types.append(gguf.TokenType.CONTROL if special.get(i) else
                         gguf.TokenType.USER_DEFINED if i in special else gguf.TokenType.NORMAL)
        else:
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
    present = set(tokens)
    merges = []
    for m in model.get("merges", []):
        a, b = m if isinstance(m, list) else m.split(" ", 1)
        if a in present and b in present and a + b in present:
            merges.append(f"{a} {b}")
    return tokens, types, merges


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="Hugging Face folder: config.json and *.safetensors")
    p.add_argument("--tokenizer", required=True, help="folder with tokenizer.json (e.g. shared/tokenizers/qwen2-bpe)")
    p.add_argument("--gguf-py", required=True, help="llama.cpp's gguf-py folder")
    p.add_argument("--out", required=True, help="GGUF file to write")
    p.add_argument("--type", choices=["f16", "f32"], default="f16")
    a = p.parse_args()

    if not os.path.isdir(os.path.join(a.gguf_py, "gguf")):
        fail(f"{a.gguf_py} is not llama.cpp's gguf-py folder (no gguf/ package in it)")
    sys.path.insert(0, a.gguf_py)
    import gguf

    cfg_path = os.path.join(a.model, "config.json")
    if not os.path.isfile(cfg_path):
        fail(f"{cfg_path} missing")
    cfg = json.load(open(cfg_path))
    if cfg.get("model_type") != "qwen2":
        fail(f"model_type {cfg.get('model_type')!r}: only qwen2 is written")
    tok_json = os.path.join(a.tokenizer, "tokenizer.json")
    if not os.path.isfile(tok_json):
        fail(f"{tok_json} missing")
    shards = sorted(f for f in os.listdir(a.model) if f.endswith(".safetensors"))
    if not shards:
        fail(f"no *.safetensors in {a.model}")

    hidden, heads = cfg["hidden_size"], cfg["num_attention_heads"]
    vocab_size = cfg["vocab_size"]
    ftype = gguf.LlamaFileType.MOSTLY_F16 if a.type == "f16" else gguf.LlamaFileType.ALL_F32
    tmp = a.out + ".tmp"
    w = gguf.GGUFWriter(tmp, "qwen2")
    w.add_name(os.path.basename(os.path.normpath(a.model)))
    w.add_context_length(min(cfg.get("max_position_embeddings", 32768), 131072))
    w.add_embedding_length(hidden)
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(heads)
    w.add_head_count_kv(cfg.get("num_key_value_heads", heads))
    w.add_rope_freq_base(float(cfg.get("rope_theta", 10000.0)))
    w.add_layer_norm_rms_eps(float(cfg.get("rms_norm_eps", 1e-6)))
    w.add_file_type(ftype)

    tokens, types, merges = vocab(tok_json, vocab_size, gguf)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("qwen2")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    eos = cfg.get("eos_token_id")
    bos = cfg.get("bos_token_id")
    eos = eos[0] if isinstance(eos, list) else eos
    if bos is not None and bos < vocab_size:
        w.add_bos_token_id(bos)
    if eos is not None and eos < vocab_size:
        w.add_eos_token_id(eos)
    w.add_add_bos_token(False)

    count = 0
    for shard in shards:
        header, data = read_safetensors(os.path.join(a.model, shard))
        for name, (dtype, shape, off, nbytes) in header.items():
            t = to_f32(dtype, shape, data[off:off + nbytes])
            # norms and biases stay float32 (as llama.cpp's converter keeps 1-D tensors); matrices in --type
            arr = t.astype(np.float16) if (a.type == "f16" and t.ndim == 2) else np.ascontiguousarray(t, dtype=np.float32)
            w.add_tensor(gguf_name(name), arr)
            count += 1
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    os.replace(tmp, a.out)
    print(f"wrote {a.out} ({a.type}, {count} tensors, vocab {vocab_size}, {len(merges)} merges, "
          f"{os.path.getsize(a.out) / 1e9:.2f} GB)")


if __name__ == "__main__":
    main()
