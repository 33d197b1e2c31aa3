#!/usr/bin/env bash
# Everything a lent GPU machine should check, in one device call (bench/gpu/README.md):
#   1. the worker's own test suite under the device's Python, torch and transformers/peft (on CPU: the tests are
#      written for exact CPU arithmetic; what this finds is API drift against torch 2.x and real transformers/peft,
#      which this project's CPU machines cannot install), at most UNITTEST_S seconds;
#   2. the GPU benchmark (trainers/bench_gpu.py): DPO naive vs optimised, the HH-RLHF reward model and generation
#      tokens/s with and without the KV cache (about 20 s of it); it stops itself at BENCH_DEADLINE_S (260 s) and
#      always writes its JSON. About 5.5 minutes in all, so a 350 s device call leaves room for a rerun in a
#      15-minute budget.
# Writes to $OUT: environment.txt, unittest.log, bench_gpu.json, run-device.log. Extra benchmark arguments go in
# BENCH_ARGS (e.g. BENCH_ARGS="--smoke --device cpu" to try this script on a CPU machine).
set -u
cd "$(dirname "$0")/../.."
OUT=${OUT:?set OUT to the folder that comes back}
PYTHON=${PYTHON:-python3}
UNITTEST_S=${UNITTEST_S:-60}
BENCH_DEADLINE_S=${BENCH_DEADLINE_S:-260}
HH=.bench-data/hh-rlhf-harmless-base-test.jsonl.gz
mkdir -p "$OUT"
exec > >(tee "$OUT/run-device.log") 2>&1

started=$(date +%s)
{
  "$PYTHON" - <<'PY'
import importlib.metadata as md, platform, sys
import torch
print("python", sys.version.split()[0], platform.platform())
print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
if torch.cuda.is_available():
    print("device", torch.cuda.get_device_name(0), "bf16", torch.cuda.is_bf16_supported())
for name in ("transformers", "peft", "accelerate", "safetensors"):
    try:
        print(name, md.version(name))
    except md.PackageNotFoundError:
        print(name, "missing")
PY
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true
} > "$OUT/environment.txt" 2>&1
cat "$OUT/environment.txt"

echo "== worker tests (CPU, at most ${UNITTEST_S}s)"
CUDA_VISIBLE_DEVICES="" timeout "$UNITTEST_S" "$PYTHON" -m unittest discover -s trainers/tests -t . > "$OUT/unittest.log" 2>&1
echo "unittest exit $? ($(tail -n 3 "$OUT/unittest.log" | tr '\n' ' '))"

echo "== GPU benchmark"
hh_args=()
[ -f "$HH" ] && hh_args=(--hh "$HH")
# shellcheck disable=SC2086 # BENCH_ARGS is a list of arguments
"$PYTHON" trainers/bench_gpu.py "${hh_args[@]}" --deadline-s "$BENCH_DEADLINE_S" --out "$OUT/bench_gpu.json" ${BENCH_ARGS:-}
echo "bench exit $? after $(( $(date +%s) - started ))s in all"

# 3. One short loop iteration end to end on the GPU (generate → label with the fake judge → DPO → held-out samples →
#    comparisons), when this machine can run the CLI: Node 20+ and this checkout's node_modules (which the device
#    call's 64 MiB carry cannot hold, so it is usually absent; the same loop runs on CPU in CI:
#    test/loop/loop-learns.test.ts). At most LOOP_S seconds; writes loop-report.json.
LOOP_S=${LOOP_S:-90}
LOOP_ARGS=${LOOP_ARGS:---device cuda --gpus 1}
echo "== one loop iteration (at most ${LOOP_S}s)"
if command -v node >/dev/null 2>&1 && [ -d node_modules/@langchain/langgraph ]; then
  loop_dir=$(mktemp -d)
  node -e 'for (let i = 0; i < 40; i++) console.log(JSON.stringify({ id: `p${i}`, prompt: `Prompt ${i}: answer briefly.` }))' > "$loop_dir/prompts.jsonl"
  # shellcheck disable=SC2086 # LOOP_ARGS is a list of arguments
  TRIBUNAL_PYTHON="$(command -v "$PYTHON")" timeout "$LOOP_S" node bin/tribunal.js loop --prompts "$loop_dir/prompts.jsonl" --policy tiny --iterations 1 \
    --model 'fake:judge?prefer=e' --out "$loop_dir/loop" --n 8 --max-tokens 32 --epochs 3 ${LOOP_ARGS} \
    > "$OUT/loop.log" 2>&1
  echo "loop exit $?"
  cp "$loop_dir/loop/report.json" "$OUT/loop-report.json" 2>/dev/null || true
else
  echo "skipped: no node or no node_modules here (the loop's CPU run is in CI)" | tee "$OUT/loop.log"
fi
echo "all done after $(( $(date +%s) - started ))s"
