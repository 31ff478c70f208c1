#!/usr/bin/env bash
# Tina's `bench generate` against llama.cpp on the same random weights, one after the other in one run:
# decode at batch 1 and batch 16, prefill of 512 tokens, N threads each, one Markdown table.
# Benchmark harness only (tools/bench/README.md); not run by the build or the tests.
#
#   tools/bench/llamacpp-compare.sh --llama-src DIR --work DIR [options]
#
# --llama-src DIR     llama.cpp source tree (its gguf-py writes the GGUF); must hold a built llama.cpp
# --llama-bin DIR     folder with llama-bench, llama-batched-bench, llama-quantize (default DIR/build/bin)
# --work DIR          where the model, the exports, the GGUFs and the logs go (reused when present)
# --config FILE       model config.json (default onnx-models/configs/deepseek-r1-distill-qwen-1.5b.json)
# --tokenizer DIR     tokenizer.json folder for the GGUF's vocabulary (default ../shared/tokenizers/qwen2-bpe)
# --tina LIST         Tina precisions, comma-separated from fp32,int8,w8a8,int4 (default fp32,int8,int4; w8a8 pairs with Q8_0)
# --llama LIST        llama.cpp formats from F16,Q8_0,Q4_K_M (default F16,Q8_0,Q4_K_M)
# --quantize-head yes|no   quantize Tina's LM head too (default yes: llama.cpp's Q8_0 and Q4_K_M quantize theirs)
# --lora-targets all|none  Tina's exports with LoRA inputs on every projection (default, what training and adapters need)
#                     or none (an inference-only export, as llama.cpp's model has no LoRA branches)
# --threads N         threads for both engines (default 2)
# --new-tokens N      decode tokens per sequence (default 32)
# --repeats N         repetitions (Tina: best of N; llama-bench: mean of N) (default 1)
# --llama-args "ARGS" extra options for llama-bench and llama-batched-bench both (e.g. "--poll 0")
# --llama-commit ID   llama.cpp's commit for the table (default: git rev-parse in --llama-src, else unknown)
set -euo pipefail

die() { echo "llamacpp-compare: error: $*" >&2; exit 2; }

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
llama_args=() llama_src= llama_bin= llama_commit= work= tina_list=fp32,int8,int4 llama_list=F16,Q8_0,Q4_K_M qhead=yes lora=all threads=2 new_tokens=32 repeats=1
config="$root/onnx-models/configs/deepseek-r1-distill-qwen-1.5b.json"
tokenizer="$root/../shared/tokenizers/qwen2-bpe"
while [ $# -gt 0 ]; do
  case "$1" in
    --llama-src) llama_src="${2:?}"; shift 2 ;;
    --llama-bin) llama_bin="${2:?}"; shift 2 ;;
    --work) work="${2:?}"; shift 2 ;;
    --config) config="${2:?}"; shift 2 ;;
    --tokenizer) tokenizer="${2:?}"; shift 2 ;;
    --tina) tina_list="${2:?}"; shift 2 ;;
    --llama) llama_list="${2:?}"; shift 2 ;;
    --quantize-head) qhead="${2:?}"; shift 2 ;;
    --lora-targets) lora="${2:?}"; shift 2 ;;
    --threads) threads="${2:?}"; shift 2 ;;
    --new-tokens) new_tokens="${2:?}"; shift 2 ;;
    --repeats) repeats="${2:?}"; shift 2 ;;
    --llama-commit) llama_commit="${2:?}"; shift 2 ;;
    --llama-args) read -r -a llama_args <<<"${2:?}"; shift 2 ;;
    -h|--help) sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (--help lists them)" ;;
  esac
done

# ---- everything it needs, each missing piece one line -------------------------------------------------------------
[ -n "$llama_src" ] || die "--llama-src DIR (llama.cpp's source tree) is required"
[ -n "$work" ] || die "--work DIR is required"
[ -d "$llama_src/gguf-py/gguf" ] || die "$llama_src has no gguf-py/gguf: not a llama.cpp source tree"
llama_bin="${llama_bin:-$llama_src/build/bin}"
llama_commit="${llama_commit:-$(git -C "$llama_src" rev-parse --short=9 HEAD 2>/dev/null || echo unknown)}"
for b in llama-bench llama-batched-bench llama-quantize; do
  [ -x "$llama_bin/$b" ] || die "$llama_bin/$b missing: build llama.cpp first (CPU, Release; targets llama-bench llama-batched-bench llama-quantize; llama.cpp's docs/build.md), or pass --llama-bin"
done
[ -f "$config" ] || die "config $config missing"
[ -f "$tokenizer/tokenizer.json" ] || die "$tokenizer/tokenizer.json missing (--tokenizer)"
command -v python3 >/dev/null || die "python3 missing (the GGUF writer needs python3 with numpy)"
python3 -c 'import numpy' 2>/dev/null || die "python3 has no numpy (the GGUF writer needs it)"
if [ -z "${JAVA_HOME:-}" ] && [ -x /usr/lib/jvm/temurin-25-jdk-amd64/bin/java ]; then export JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64; fi
[ -x "${JAVA_HOME:+$JAVA_HOME/bin/}java" ] || command -v java >/dev/null || die "no java (set JAVA_HOME to a JDK 25)"
[ -f "$root/tools/target/tina.jar" ] || die "$root/tools/target/tina.jar missing: build Tina first (./tina --help builds it)"
case "$qhead" in yes|no) ;; *) die "--quantize-head takes yes or no" ;; esac
case "$lora" in all|none) ;; *) die "--lora-targets takes all or none" ;; esac
[[ "$threads" =~ ^[1-9][0-9]*$ ]] || die "--threads takes a positive number"
[[ "$new_tokens" =~ ^[1-9][0-9]*$ ]] || die "--new-tokens takes a positive number"
[[ "$repeats" =~ ^[1-9][0-9]*$ ]] || die "--repeats takes a positive number"
IFS=, read -r -a tina_precs <<<"$tina_list"
IFS=, read -r -a llama_fmts <<<"$llama_list"
for p in "${tina_precs[@]}"; do case "$p" in fp32|int8|w8a8|int4) ;; *) die "--tina: unknown precision '$p' (fp32, int8, w8a8, int4)" ;; esac; done
for f in "${llama_fmts[@]}"; do case "$f" in F16|Q8_0|Q4_K_M) ;; *) die "--llama: unknown format '$f' (F16, Q8_0, Q4_K_M)" ;; esac; done
vocab_size="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["vocab_size"])' "$config")" || die "cannot read vocab_size from $config"

mkdir -p "$work/logs"
work="$(cd "$work" && pwd)"
log="$work/logs"
loadlog="$log/uptime.txt"
: >"$loadlog"
step() { # step NAME: prints and records the load average before a step
  local u; u="$(uptime)"
  printf '%-28s %s\n' "$1" "${u#*load average: }" >>"$loadlog"
  echo "== $1 (load average ${u#*load average: })" >&2
}
skipped() { printf '%-28s %s\n' "$1" "skipped: already in --work" >>"$loadlog"; }
tina() { # the repository's launcher (it rebuilds Tina first when the jar is older than the sources); N threads for ORT
  TINA_JAVA_OPTS="${TINA_JAVA_OPTS:-} -XX:ActiveProcessorCount=$threads" "$root/tina" "$@"
}
run_logged() { # run_logged LOGFILE CMD...: output to the log, last lines to stderr on failure
  local out="$1"; shift
  if ! "$@" >"$out" 2>&1; then
    tail -n 15 "$out" >&2
    die "$(basename "$1") failed; log: $out"
  fi
}

# ---- the model, Tina's exports, the GGUFs (each skipped when already there) -----------------------------------------
hf="$work/hf"
if [ ! -f "$hf/config.json" ]; then
  step "init-model"
  run_logged "$log/init-model.txt" tina init-model --random --config "$config" --dtype bf16 --out "$hf"
elif skipped "init-model"; ! cmp -s <(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(json.dumps({k: d[k] for k in ("hidden_size","num_hidden_layers","vocab_size","intermediate_size")}))' "$config") \
              <(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(json.dumps({k: d[k] for k in ("hidden_size","num_hidden_layers","vocab_size","intermediate_size")}))' "$hf/config.json"); then
  die "$hf holds another shape than $config: use another --work"
fi
head_flag=(); [ "$qhead" = yes ] && head_flag=(--quantize-head)
for p in "${tina_precs[@]}"; do
  if [ -f "$work/$p/tina-model.json" ]; then
    [ "$p" = fp32 ] || python3 -c 'import json,sys; q=json.load(open(sys.argv[1]))["quantization"]; sys.exit(0 if q and q["head"] == (sys.argv[2] == "yes") else 1)' \
      "$work/$p/tina-model.json" "$qhead" || die "$work/$p was exported with another --quantize-head than '$qhead': use another --work"
    python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["lora_targets"]; sys.exit(0 if bool(t) == (sys.argv[2] == "all") else 1)' \
      "$work/$p/tina-model.json" "$lora" || die "$work/$p was exported with other --lora-targets than '$lora': use another --work"
    skipped "export $p"; continue
  fi
  step "export $p"
  if [ "$p" = fp32 ]; then
    run_logged "$log/export-$p.txt" tina export --model "$hf" --out "$work/$p" --lora-targets "$lora"
  else
    run_logged "$log/export-$p.txt" tina export --model "$hf" --dtype bf16 --out "$work/$p" --quantize "$p" "${head_flag[@]}" --lora-targets "$lora"
  fi
done
f16="$work/model-F16.gguf"
if [ -f "$f16" ]; then
  skipped "gguf F16"
else
  step "gguf F16"
  run_logged "$log/gguf-F16.txt" python3 "$root/tools/bench/safetensors_to_gguf.py" --model "$hf" --tokenizer "$tokenizer" \
    --gguf-py "$llama_src/gguf-py" --out "$f16" --type f16
fi
for f in "${llama_fmts[@]}"; do
  [ "$f" = F16 ] && continue
  [ -f "$work/model-$f.gguf" ] && { skipped "llama-quantize $f"; continue; }
  step "llama-quantize $f"
  run_logged "$log/quantize-$f.txt" "$llama_bin/llama-quantize" "$f16" "$work/model-$f.gguf.tmp" "$f" "$threads"
  mv "$work/model-$f.gguf.tmp" "$work/model-$f.gguf"
done

# ---- the runs, paired by bit width: F16 then fp32, Q8_0 then int8 and w8a8, Q4_K_M then int4 ------------------------------
prompt_ids="$(python3 -c 'import sys; v=int(sys.argv[1]); print(",".join(str(1000 + (i * 7919) % (v - 1000)) for i in range(512)))' "$vocab_size")"
results="$work/results.tsv"
: >"$results"
ctx=$(( 16 * (new_tokens + 1) + 64 )); [ "$ctx" -lt 1024 ] && ctx=1024
bench_llama() {
  local f="$1" m="$work/model-$1.gguf"
  step "llama.cpp $f: llama-bench"
  run_logged "$log/llama-bench-$f.jsonl" "$llama_bin/llama-bench" -m "$m" -t "$threads" -p 512 -n "$new_tokens" -b 2048 -ub 512 \
    -r "$repeats" -o jsonl ${llama_args[@]+"${llama_args[@]}"}
  step "llama.cpp $f: batched-bench"
  run_logged "$log/llama-batched-$f.jsonl" "$llama_bin/llama-batched-bench" -m "$m" -t "$threads" -tb "$threads" -c "$ctx" \
    -b 2048 -ub 512 -npp 1 -ntg "$new_tokens" -npl 1,16 --output-format jsonl ${llama_args[@]+"${llama_args[@]}"}
  python3 - "$f" "$m" "$log/llama-bench-$f.jsonl" "$log/llama-batched-$f.jsonl" >>"$results" <<'EOF'
import json, os, sys
fmt, model, bench, batched = sys.argv[1:]
def rows(p):
    out = []
    for line in open(p):
        line = line.strip()
        if line.startswith("{"):
            try: out.append(json.loads(line))
            except ValueError: pass
    return out
b = rows(bench)
pp = [r["avg_ts"] for r in b if r.get("n_prompt") == 512 and r.get("n_gen") == 0]
tg = [r["avg_ts"] for r in b if r.get("n_prompt") == 0 and r.get("n_gen", 0) > 0]
bb = {r["pl"]: r["speed_tg"] for r in rows(batched)}
if not pp or not tg or 16 not in bb:
    sys.exit(f"llamacpp-compare: error: no pp512/tg/batch-16 result in {bench} / {batched}")
print("\t".join(["llama.cpp", fmt, str(os.path.getsize(model)), f"{tg[0]:.3f}", f"{bb[16]:.3f}", f"{pp[0]:.3f}", "", f"{bb.get(1, 0):.3f}"]))
EOF
}
bench_tina() {
  local p="$1" d="$work/$1"
  step "tina $p: decode"
  run_logged "$log/tina-decode-$p.txt" tina bench generate --model "$d" --precision exported --batches 1,16 \
    --new-tokens "$new_tokens" --repeats "$repeats" --out "$log/tina-decode-$p.json"
  step "tina $p: prefill 512"
  run_logged "$log/tina-prefill-$p.txt" tina bench generate --model "$d" --precision exported --batches 1 \
    --prompt-ids "$prompt_ids" --new-tokens 2 --repeats "$repeats" --out "$log/tina-prefill-$p.json"
  python3 - "$p" "$d" "$hf" "$log/tina-decode-$p.json" "$log/tina-prefill-$p.json" "$log/tina-decode-$p.txt" >>"$results" <<'EOF'
import glob, json, os, re, struct, sys
prec, d, hf, dec, pre, txt = sys.argv[1:]
desc = json.load(open(os.path.join(d, "tina-model.json")))
q = desc.get("quantization")
if not q:
    size = os.path.getsize(os.path.join(d, "model.onnx.data"))
else:
    # what the quantized graphs load: the quantized projections, plus the tensors they share with
    # model.onnx.data (embedding, norms, biases, the head unless quantized), stored as in the checkpoint (bf16)
    proj = ("q_proj.weight", "k_proj.weight", "v_proj.weight", "o_proj.weight", "gate_proj.weight", "up_proj.weight", "down_proj.weight")
    shared = 0
    for f in glob.glob(os.path.join(hf, "*.safetensors")):
        with open(f, "rb") as fh:
            n = struct.unpack("<Q", fh.read(8))[0]
            h = json.loads(fh.read(n))
        for k, v in h.items():
            if k == "__metadata__" or k.endswith(proj) or (q.get("head") and k == "lm_head.weight"):
                continue
            shared += v["data_offsets"][1] - v["data_offsets"][0]
    size = q["quantized_bytes"] + shared
dr = {r["batch"]: r for r in json.load(open(dec))}
pr = json.load(open(pre))[0]
rss = re.findall(r"peak RSS ([0-9.]+) GB", open(txt).read())
if 1 not in dr or 16 not in dr or not pr.get("prefill_s"):
    sys.exit(f"llamacpp-compare: error: no batch 1/16 or prefill result in {dec} / {pre}")
print("\t".join(["tina", prec, str(size), f"{dr[1]['tokens_per_second']:.3f}", f"{dr[16]['tokens_per_second']:.3f}",
                 f"{512 / pr['prefill_s']:.3f}", rss[-1] if rss else "", ""]))
EOF
}
pairs_of() { case "$1" in F16) echo fp32 ;; Q8_0) echo int8 w8a8 ;; Q4_K_M) echo int4 ;; esac; }
for f in F16 Q8_0 Q4_K_M; do
  [[ ",$llama_list," == *",$f,"* ]] && bench_llama "$f"
  for p in $(pairs_of "$f"); do
    [[ ",$tina_list," == *",$p,"* ]] && bench_tina "$p"
  done
done
step "done"

# ---- the table --------------------------------------------------------------------------------------------------
python3 - "$results" "$loadlog" "$config" "$threads" "$new_tokens" "$repeats" "$qhead" "$lora" "$llama_commit" "${llama_args[*]+${llama_args[*]}}" <<'EOF'
import sys
results, loadlog, config, threads, new_tokens, repeats, qhead, lora, commit, llargs = sys.argv[1:]
llargs = f" (with {llargs})" if llargs else ""
rows = [l.rstrip("\n").split("\t") for l in open(results) if l.strip()]
pair = {"fp32": "F16", "int8": "Q8_0", "w8a8": "Q8_0", "int4": "Q4_K_M"}
llama = {r[1]: r for r in rows if r[0] == "llama.cpp"}
def ratio(a, b):
    return f"{float(a) / float(b):.2f}×" if a and b and float(b) > 0 else "—"
print(f"config {config}; {threads} threads each; decode: 1 prompt token, {new_tokens} new tokens per sequence; "
      f"prefill: 512 prompt tokens; repeats {repeats}; Tina LM head quantized: {qhead}; Tina LoRA inputs: {lora}; llama.cpp {commit}{llargs}")
print()
print("| engine / format | weights | decode b1 (tok/s) | decode b16 (tok/s) | prefill 512 (tok/s) | peak RSS | Tina ÷ llama.cpp: b1 / b16 / prefill |")
print("|---|---|---|---|---|---|---|")
for r in rows:
    eng, fmt, size, b1, b16, pp, rss = r[0], r[1], r[2], r[3], r[4], r[5], r[6]
    vs = "—"
    if eng == "tina" and pair.get(fmt) in llama:
        l = llama[pair[fmt]]
        vs = f"vs {pair[fmt]}: {ratio(b1, l[3])} / {ratio(b16, l[4])} / {ratio(pp, l[5])}"
    print(f"| {eng} {fmt} | {int(size) / 1e9:.3f} GB | {float(b1):.2f} | {float(b16):.2f} | {float(pp):.1f} | "
          f"{rss + ' GB' if rss else '—'} | {vs} |")
print()
print("Load average (1, 5, 15 min) before each step:")
print()
print("```")
print(open(loadlog).read().rstrip())
print("```")
EOF
