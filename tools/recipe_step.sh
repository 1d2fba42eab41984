# Sourced by tools/train_shapes_recipe.sh, tools/train_shapes_place.sh and tools/ship_shapes.sh
# (bash).
# step NAME ARGS...: one tools/train_tiny_llava.py invocation with STEP_ARGS (an array the caller
# sets) and ARGS, writing its f32 state dict to $WORK/NAME.pt, its log directory to $WORK/NAME
# and its output to $WORK/NAME.log; skipped when $WORK/NAME.pt exists, or when ONLY (a
# space-separated list of step names) is set and does not name it.
step() {
  local name=$1
  shift
  if [ -f "$WORK/$name.pt" ]; then
    echo "== $name: $WORK/$name.pt exists, skipped"
    return
  fi
  if [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $name "* ]]; then
    echo "== $name: not in ONLY, skipped"
    return
  fi
  echo "== $name ($(date -u +%H:%M:%S))"
  /usr/bin/python3 tools/train_tiny_llava.py "${STEP_ARGS[@]}" "$@" \
    --out "$WORK/$name" --state-out "$WORK/$name.pt" > "$WORK/$name.log" 2>&1
}

# The commit whose models/yopo-shapes-dense is tools/train_shapes_recipe.sh's checkpoint (the
# 2026-11-29 one, which tools/train_shapes_place.sh continued and its last state replaced).
RECIPE_COMMIT=d5438f7
# The commit that shipped tools/train_shapes_place.sh's run16 (run17 starts from it, and
# tools/ship_shapes.sh takes the chain's loss log up to run16 from it).
RUN16_COMMIT=7da2dbf
# recipe_file PATH [COMMIT]: that checkpoint's file PATH (relative to models/yopo-shapes-dense),
# or the one shipped at COMMIT, to stdout.
recipe_file() {
  git show "${2:-$RECIPE_COMMIT}:models/yopo-shapes-dense/$1"
}
