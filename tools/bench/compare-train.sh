#!/bin/bash
cd /work/main
echo "== ours stories15M-sized Qwen2 8x256 r32"; ./tina bench train --model /tmp/s15-qwen2 --batch 8 --seq 256 --steps 5 2>&1 | tail -1
echo "== torch stories15M-sized Qwen2 8x256 r32"; (cd tools/bench && /usr/bin/python3 torch_lora_grpo_step.py --model /tmp/s15-qwen2 --batch 8 --seq 256 --rank 32 --alpha 128 --steps 5 2>/dev/null | tail -1)
echo "== ours stories15M 8x256 r32"; ./tina bench train --model ../shared/models/stories15M --batch 8 --seq 256 --steps 5 2>&1 | tail -1
echo "== torch stories15M 8x256 r32"; (cd tools/bench && /usr/bin/python3 torch_lora_grpo_step.py --model /work/shared/models/stories15M --batch 8 --seq 256 --rank 32 --alpha 128 --steps 5 2>/dev/null | tail -1)
echo "== ours 1.5B 1x256 r32"; ./tina bench train --model /tmp/big/e32 --batch 1 --seq 256 --steps 3 2>&1 | tail -1
echo "== ours 1.5B 1x256 r32 low-memory"; ./tina bench train --model /tmp/big/e32 --batch 1 --seq 256 --steps 3 --low-memory 2>&1 | tail -1
echo "== torch 1.5B 1x256 r32"; (cd tools/bench && /usr/bin/python3 torch_lora_grpo_step.py --model /tmp/scale/r1-1.5b-bf16 --batch 1 --seq 256 --rank 32 --alpha 128 --steps 3 2>/dev/null | tail -1)
echo done
