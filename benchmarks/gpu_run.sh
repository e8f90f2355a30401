#!/usr/bin/env bash
# GPU check and timing of `wfbt run` (used with the device tool; see docs/performance.md).
# Expects wheels for polars in .whl/ and the AAPL prices as .whl/aapl.csv (no bokeh-sampledata there).
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}
python3 -c "import jax, flax, optax, polars; print('jax', jax.__version__, 'flax', flax.__version__, 'optax', optax.__version__, jax.devices())"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
ALL=(experiments/aapl_rolling.toml --set 'data.source=".whl/aapl.csv"' --set data.start=2000-03-01 --quiet)
run() {  # name, extra args...
  local name=$1; shift
  local t0=$(date +%s%N)
  python3 -m wfbt.cli run "${ALL[@]}" --out "$OUT/$name" "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  local t1=$(date +%s%N)
  python3 - "$OUT/$name/summary.json" "$name" "$rc" "$(( (t1 - t0) / 1000000 ))" <<'PY'
import json, sys
path, name, rc, wall = sys.argv[1:]
s = json.load(open(path))
sec = s["seconds"]; n = s["splits"]["trained_now"]; chunk = s["chunk_size"]
steady = (sec["training"] - sec["first_chunk"]) / max(n - chunk, 1) if n > chunk else float("nan")
print(f"{name}: rc={rc} wall={float(wall) / 1000:.1f}s splits={s['splits']['count']} trained={n} chunk={chunk} "
      f"total={sec['total']:.1f}s training={sec['training']:.1f}s first_chunk={sec['first_chunk']:.1f}s "
      f"splits/s(all)={s['splits_per_second']:.0f} steady={1/steady if steady == steady and steady > 0 else float('nan'):.0f}/s "
      f"median val mse={s['describe']['val']['mse']['50%']:.5f} device={s['device']['kind']}")
PY
}
export WFBT_CACHE_DIR=/tmp/cache-cold
run gpu_cold "$@"
run gpu_warm "$@"
[ "${GPU_SUITE:-0}" = 1 ] || exit 0
# steady state of the training program alone (3,061 splits, 10 epochs), best of 3
python3 benchmarks/profile_chunk.py --set 'data.source=".whl/aapl.csv"' --set data.start=2000-03-01 \
  --splits 3061 --epochs 10 --repeat 3 --top 0 2>&1 | grep -v -i warn | sed 's/^/steady 3061 splits: /'
# refit_every: speed / accuracy trade-off on all 3,061 splits
run gpu_refit5 --set splits.refit_every=5 "$@"
run gpu_refit20 --set splits.refit_every=20 "$@"
# rolling vs expanding, cost per training sample
python3 benchmarks/expanding.py --set 'data.source=".whl/aapl.csv"' --set data.start=2000-03-01 \
  --splits 512 --step 5 --no-append 2>&1 | grep -v -i warn
