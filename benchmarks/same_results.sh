#!/usr/bin/env bash
# Are the results of this checkout byte-identical to those of another commit?
#
#   bash benchmarks/same_results.sh BASE_COMMIT [--reference]
#
# Runs the same configs with the code of BASE_COMMIT (a temporary git worktree) and with this
# checkout, then compares every CSV byte for byte. The configs: experiments/quick.toml; gaussian_nll
# with expanding windows; refit_every 3 with zscore scaling and the threshold strategy; 24 splits
# of aapl_features.toml; 12 splits of a gru. --reference adds the 988-split reference run (minutes).
set -euo pipefail
base=${1:?usage: same_results.sh BASE_COMMIT [--reference]}
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
git -C "$here" worktree add --detach "$work/code" "$base" >/dev/null
trap 'git -C "$here" worktree remove --force "$work/code"; rm -rf "$work"' EXIT
wfbt="$here/.venv/bin/wfbt"
runs=(
  "quick|experiments/quick.toml"
  "nll_expanding|experiments/quick.toml --set train.loss=\"gaussian_nll\" --set splits.mode=\"expanding\" --set splits.step=5 --max-splits 40 --set train.epochs=3"
  "refit|experiments/quick.toml --set splits.refit_every=3 --set scaling.method=\"zscore\" --set splits.step=4 --max-splits 30 --set strategy.name=\"threshold\" --set strategy.band_pct=0.2"
  "features|experiments/aapl_features.toml --max-splits 24 --set splits.step=20 --set train.epochs=2"
  "gru|experiments/quick.toml --set model.name=\"gru\" --max-splits 12 --set train.epochs=2"
)
if [ "${2:-}" = "--reference" ]; then runs+=("reference|experiments/aapl_rolling.toml"); fi
status=0
for run in "${runs[@]}"; do
  name=${run%%|*}; args=${run#*|}
  for side in base here; do
    code=$here; [ $side = base ] && code=$work/code
    (cd "$code" && eval PYTHONPATH="$code" "$wfbt" run $args --out "$work/$side/$name" --quiet >/dev/null)
  done
  for table in splits predictions test_predictions curves equity pnl_splits importance; do
    [ -f "$work/base/$name/$table.csv" ] || continue
    if cmp -s "$work/base/$name/$table.csv" "$work/here/$name/$table.csv"; then
      echo "$name/$table.csv same"
    else
      echo "$name/$table.csv DIFFERS"; status=1
    fi
  done
done
exit $status
