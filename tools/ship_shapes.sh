#!/usr/bin/env bash
# The shipped shapes checkpoints from the last state of tools/train_shapes_place.sh, run18
# (issue 8):
#   1. models/yopo-shapes-dense: the state exported in the llava-hf layout (bf16), with its test
#      evaluation and the loss log of the whole chain (tools/train_tiny_llava.py --steps-* 0);
#   2. its head mask: `yopo calibrate` on 100 validation POPE questions, 3 heads per layer;
#   3. models/yopo-shapes-yopo12: 120 stage-2 steps with models/yopo-shapes-yopo12/plan.json's
#      YOPO exact semantics active in the training forward (prune-aware fine-tuning).
# Writes everything under $SHIP; compare it with models/ and copy it there by hand, then rerun
# tools/make_shapes_fixture.py and tools/run_shapes_results.sh.
#
#   tools/ship_shapes.sh            # ~15 minutes on 2 cores with OpenBLAS
#
# Environment: WORK (tools/train_shapes_place.sh's, default /tmp/yopo_shapes_place; it needs
# run17..LAST there), LAST (the state to ship: run17 or run18, default run18), SHIP
# (default /tmp/yopo_shapes_ship), BUILD (default build), OB (as in tools/train_shapes_place.sh).
# The loss log of the chain up to run16 comes from git history (RUN16_COMMIT in tools/recipe_step.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${WORK:-/tmp/yopo_shapes_place}
SHIP=${SHIP:-/tmp/yopo_shapes_ship}
BUILD=${BUILD:-build}
LAST=${LAST:-run18}
TOK=../shared/assets/tokenizer/llama2-tokenizer.model
[ -n "${OB:-}" ] && export LD_LIBRARY_PATH="$OB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
mkdir -p "$SHIP"
source tools/recipe_step.sh  # recipe_file
[ -x "$BUILD/yopo" ] || scripts/build.sh "$BUILD"
MIX='{"exist": 0.2, "exist_color": 0.1, "exist_shape": 0.05, "position": 0.2, "count": 0.1, "size": 0.1, "nearest": 0.1, "color": 0.075, "shape": 0.075}'
NONE=(--skip-checks --steps-vision 0 --steps-text 0 --steps-caption 0)
# the loss log: run16's as shipped (RUN16_COMMIT: the whole chain up to run16), then run17..LAST's
recipe_file training/loss.csv "$RUN16_COMMIT" >"$SHIP/run16_loss.csv"
logs=(--prior-log "$SHIP/run16_loss.csv")
for n in run17 run18; do
  logs+=(--prior-log "$WORK/$n/training/loss.csv")
  [ "$n" = "$LAST" ] && break
done

echo "== dense ($(date -u +%H:%M:%S))"
/usr/bin/python3 tools/train_tiny_llava.py "${NONE[@]}" --resume "$WORK/$LAST.pt" --steps-qa 0 \
  "${logs[@]}" --out "$SHIP/yopo-shapes-dense" >"$SHIP/dense.log" 2>&1
echo "== head mask ($(date -u +%H:%M:%S))"
# (the validation split in data/synth/val, as before, so that headmask.json names a path in
# this repository; it is not committed)
[ -f data/synth/val/pope_questions.jsonl ] ||
  /usr/bin/python3 tools/synth_shapes.py --splits val --n-val 100 >/dev/null
"$BUILD/yopo" calibrate -m "$SHIP/yopo-shapes-dense" --tokenizer "$TOK" \
  --questions data/synth/val/pope_questions.jsonl --images data/synth/val/images --task pope \
  --samples 100 --target-heads 3 --out "$SHIP/yopo-shapes-dense/headmask" \
  >"$SHIP/calibrate.log" 2>&1
echo "== prune-aware fine-tuning ($(date -u +%H:%M:%S))"
/usr/bin/python3 tools/train_tiny_llava.py "${NONE[@]}" --resume "$WORK/$LAST.pt" \
  --steps-qa 120 --lr-qa 5e-4 --warmup-qa 10 --eval-every 0 \
  --prune-plan models/yopo-shapes-yopo12/plan.json --independent-turns --stepping-stones 0.3 \
  --text-share 0.4 --text-weights "$MIX" --stream-start 200000 --text-start 300000 \
  --out "$SHIP/yopo-shapes-yopo12" >"$SHIP/yopo12.log" 2>&1
echo "== written $SHIP ($(date -u +%H:%M:%S))"
