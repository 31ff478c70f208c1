#!/usr/bin/env python3
"""Benchmark only: time one LoRA GRPO training step (forward + backward + AdamW step) in plain PyTorch on CPU.

Not part of the build and not imported by anything. It exists to give a reference number for the Java /
ONNX Runtime trainer. It needs only torch and numpy (no transformers): the Llama / Qwen2 decoder is written
out below and the safetensors files are read with a small reader.

    python3 torch_lora_grpo_step.py --model HF_DIR --batch 8 --seq 256 --rank 32 --alpha 128 --steps 3

Prints one JSON line: median seconds per step (after one warm-up step) and peak RSS.
"""
import argparse
import json
import math
import os
import resource
import statistics
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


# ----------------------------------------------------------------------------------------------------------
# safetensors reader (F32 / BF16 / F16), one tensor at a time so peak memory stays near the fp32 model size
# ----------------------------------------------------------------------------------------------------------
def _read_header(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    header.pop("__metadata__", None)
    return 8 + n, header


def _to_f32(raw, dtype, shape):
    if dtype == "F32":
        arr = np.frombuffer(raw, dtype=np.float32)
    elif dtype == "BF16":
        arr = (np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)
    elif dtype == "F16":
        arr = np.frombuffer(raw, dtype=np.float16).astype(np.float32)
    else:
        raise ValueError(f"unsupported dtype {dtype}")
    return torch.from_numpy(arr.copy() if dtype == "F32" else arr).reshape(shape)


def load_state_dict(model_dir):
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    sd, dtypes = {}, set()
    for name in files:
        path = os.path.join(model_dir, name)
        base, header = _read_header(path)
        with open(path, "rb") as f:
            for key, meta in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
                start, end = meta["data_offsets"]
                f.seek(base + start)
                raw = f.read(end - start)
                sd[key] = _to_f32(raw, meta["dtype"], meta["shape"])
                dtypes.add(meta["dtype"])
                del raw
    return sd, sorted(dtypes)


# ----------------------------------------------------------------------------------------------------------
# model
# ----------------------------------------------------------------------------------------------------------
class LoraLinear:
    """Frozen W [out,in] (+ optional bias) plus trainable LoRA A [r,in], B [out,r], scaled by alpha/r."""

    def __init__(self, weight, bias, rank, alpha, gen):
        self.weight, self.bias = weight, bias
        out_f, in_f = weight.shape
        self.scale = alpha / rank
        bound = 1.0 / math.sqrt(in_f)  # kaiming_uniform_(a=sqrt(5)) bound, as in PEFT / nn.Linear
        self.A = ((torch.rand(rank, in_f, generator=gen) * 2 - 1) * bound).requires_grad_(True)
        # PEFT initialises B to zero; use small non-zero values so that A receives gradients too.
        self.B = (torch.randn(out_f, rank, generator=gen) * 1e-3).requires_grad_(True)

    def __call__(self, x):
        return F.linear(x, self.weight, self.bias) + F.linear(F.linear(x, self.A), self.B) * self.scale

    def params(self):
        return [self.A, self.B]


def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


class Decoder:
    def __init__(self, cfg, sd, rank, alpha, seed):
        self.cfg = cfg
        self.n_layers = cfg["num_hidden_layers"]
        self.hidden = cfg["hidden_size"]
        self.n_heads = cfg["num_attention_heads"]
        self.n_kv = cfg.get("num_key_value_heads") or self.n_heads
        self.head_dim = cfg.get("head_dim") or self.hidden // self.n_heads
        self.eps = float(cfg.get("rms_norm_eps", 1e-6))
        self.theta = float(cfg.get("rope_theta", 10000.0))
        gen = torch.Generator().manual_seed(seed)
        for t in sd.values():
            t.requires_grad_(False)
        self.embed = sd["model.embed_tokens.weight"]
        self.norm = sd["model.norm.weight"]
        tied = cfg.get("tie_word_embeddings", False) or "lm_head.weight" not in sd
        self.lm_head = self.embed if tied else sd["lm_head.weight"]
        self.tied = tied
        self.layers = []
        for i in range(self.n_layers):
            p = f"model.layers.{i}."
            layer = {"ln1": sd[p + "input_layernorm.weight"], "ln2": sd[p + "post_attention_layernorm.weight"]}
            for proj in LORA_TARGETS:
                sub = "self_attn." if proj in ("q_proj", "k_proj", "v_proj", "o_proj") else "mlp."
                layer[proj] = LoraLinear(sd[p + sub + proj + ".weight"], sd.get(p + sub + proj + ".bias"),
                                         rank, alpha, gen)
            self.layers.append(layer)

    def lora_params(self):
        return [t for layer in self.layers for proj in LORA_TARGETS for t in layer[proj].params()]

    def rope(self, seq):
        inv_freq = 1.0 / (self.theta ** (torch.arange(0, self.head_dim, 2, dtype=torch.float32) / self.head_dim))
        freqs = torch.outer(torch.arange(seq, dtype=torch.float32), inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos(), emb.sin()

    def hidden_states(self, input_ids):
        bsz, seq = input_ids.shape
        cos, sin = self.rope(seq)
        mask = torch.full((seq, seq), float("-inf")).triu(1)
        x = F.embedding(input_ids, self.embed)
        rep = self.n_heads // self.n_kv
        for L in self.layers:
            h = rms_norm(x, L["ln1"], self.eps)
            q = L["q_proj"](h).view(bsz, seq, self.n_heads, self.head_dim).transpose(1, 2)
            k = L["k_proj"](h).view(bsz, seq, self.n_kv, self.head_dim).transpose(1, 2)
            v = L["v_proj"](h).view(bsz, seq, self.n_kv, self.head_dim).transpose(1, 2)
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            if rep > 1:
                k = k.repeat_interleave(rep, dim=1)
                v = v.repeat_interleave(rep, dim=1)
            scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim) + mask
            attn = torch.matmul(torch.softmax(scores, dim=-1), v)
            attn = attn.transpose(1, 2).reshape(bsz, seq, self.n_heads * self.head_dim)
            x = x + L["o_proj"](attn)
            h = rms_norm(x, L["ln2"], self.eps)
            x = x + L["down_proj"](F.silu(L["gate_proj"](h)) * L["up_proj"](h))
        return rms_norm(x, self.norm, self.eps)


# ----------------------------------------------------------------------------------------------------------
# GRPO step (TRL-style loss)
# ----------------------------------------------------------------------------------------------------------
def completion_logps(model, input_ids, prompt_len, temperature):
    """Log-probs of the completion tokens input_ids[:, prompt_len:], computing logits only where needed."""
    hidden = model.hidden_states(input_ids)
    # logits[:, t] predicts token t+1, so completion token c comes from hidden state c-1.
    h = hidden[:, prompt_len - 1: input_ids.shape[1] - 1, :]
    logits = F.linear(h, model.lm_head) / temperature
    targets = input_ids[:, prompt_len:]
    return torch.log_softmax(logits, dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)


def grpo_loss(logps, advantages, ref_noise, epsilon=0.2, beta=0.04):
    old_logps = logps.detach()
    ref_logps = logps.detach() + ref_noise
    ratio = torch.exp(logps - old_logps)
    adv = advantages.unsqueeze(1)
    per_token = -torch.min(ratio * adv, torch.clamp(ratio, 1 - epsilon, 1 + epsilon) * adv)
    d = ref_logps - logps
    per_token = per_token + beta * (torch.exp(d) - d - 1)
    mask = torch.ones_like(per_token)  # every completion position is real
    return ((per_token * mask).sum(-1) / mask.sum(-1)).mean()


def rss_gb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**30


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--rank", type=int, default=32)
    ap.add_argument("--alpha", type=float, default=None, help="LoRA alpha (default: 2*rank)")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--lr", type=float, default=1e-5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    alpha = args.alpha if args.alpha is not None else 2.0 * args.rank

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    with open(os.path.join(args.model, "config.json")) as f:
        cfg = json.load(f)

    t0 = time.perf_counter()
    sd, dtypes = load_state_dict(args.model)
    model = Decoder(cfg, sd, args.rank, alpha, args.seed)
    del sd
    load_s = time.perf_counter() - t0
    load_peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    load_rss_gb = rss_gb()
    params = model.lora_params()
    opt = torch.optim.AdamW(params, lr=args.lr)

    gen = torch.Generator().manual_seed(args.seed + 1)
    vocab = cfg["vocab_size"]
    prompt_len = args.seq // 2
    n_completion = args.seq - prompt_len
    input_ids = torch.randint(0, vocab, (args.batch, args.seq), generator=gen)
    advantages = torch.randn(args.batch, generator=gen)
    ref_noise = torch.randn(args.batch, n_completion, generator=gen) * 0.01

    def cpu_s():
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    times, warm, losses, phases, cpu_util = [], [], [], [], []
    for step in range(args.warmup + args.steps):
        f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        c0, t = cpu_s(), time.perf_counter()
        logps = completion_logps(model, input_ids, prompt_len, args.temperature)
        loss = grpo_loss(logps, advantages, ref_noise)
        t_fwd = time.perf_counter()
        loss.backward()
        t_bwd = time.perf_counter()
        grad_norm = torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        t_end = time.perf_counter()
        dt = t_end - t
        util = (cpu_s() - c0) / dt
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0
        losses.append(float(loss))
        if step >= args.warmup:
            times.append(dt)
            phases.append((t_fwd - t, t_bwd - t_fwd, t_end - t_bwd))
            cpu_util.append(util)
        else:
            warm.append(dt)
        print(f"step {step}{' (warm-up)' if step < args.warmup else ''}: {dt:.3f} s "
              f"(fwd {t_fwd - t:.3f}, bwd {t_bwd - t_fwd:.3f}, clip+adamw {t_end - t_bwd:.3f}), "
              f"cpu {util:.2f} cores, {faults} minor faults, rss {rss_gb():.2f} GB, loss {float(loss):.6f}, grad_norm {float(grad_norm):.4g}", file=sys.stderr, flush=True)

    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    n_base = sum(t.numel() for t in {id(t): t for t in
                 [model.embed, model.norm, model.lm_head] +
                 [w for L in model.layers for v in L.values()
                  for w in ((v.weight, v.bias) if isinstance(v, LoraLinear) else (v,)) if w is not None]}.values())
    print(json.dumps({
        "model": os.path.basename(os.path.normpath(args.model)),
        "arch": (cfg.get("architectures") or [cfg.get("model_type")])[0],
        "weights_dtype_on_disk": dtypes,
        "tied_lm_head": model.tied,
        "base_params": n_base,
        "lora_params": sum(p.numel() for p in params),
        "batch": args.batch, "seq": args.seq, "completion_tokens": n_completion,
        "rank": args.rank, "alpha": alpha, "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "load_s": round(load_s, 2),
        "warmup_s": [round(x, 3) for x in warm],
        "step_s": [round(x, 3) for x in times],
        "median_s_per_step": round(statistics.median(times), 3),
        "median_fwd_bwd_opt_s": [round(statistics.median(p[i] for p in phases), 3) for i in range(3)],
        "median_cpu_utilisation": round(statistics.median(cpu_util), 2),
        "peak_rss_gb": round(peak_kb / 1024 / 1024, 3),
        "peak_rss_during_load_gb": round(load_peak_kb / 1024 / 1024, 3),
        "rss_after_load_gb": round(load_rss_gb, 3),
        "loss_first": losses[0], "loss_last": losses[-1],
    }))


if __name__ == "__main__":
    main()
