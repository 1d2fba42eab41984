#!/usr/bin/env bash
# Installs, builds and runs yopo's main job: our own trained LLaVA-1.5-style model
# (models/yopo-shapes-dense, trained on generated shapes, see its README) answers questions about
# a generated image and a real photo, dense and pruned with YOPO, printing the answers, the
# prefill time and the FLOPs executed. It needs the LLaMA-2 tokenizer from ../shared/assets;
# without it, the trained stories260K LLaMA (also from ../shared) or a committed tiny model writes
# a story instead.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh build >/dev/null
ASSETS=${YOPO_ASSETS:-../shared/assets}
TOK=$ASSETS/tokenizer/llama2-tokenizer.model
MODEL=models/yopo-shapes-dense
PLANS=(dense yopo-12@exact yopo-12@fast)

ask() {  # image question
  local image=$1 question=$2 dense_flops=""
  echo "image: $image"
  echo "question: $question"
  for p in "${PLANS[@]}"; do
    local plan=${p%@*} sem=exact
    [[ $p == *@* ]] && sem=${p#*@}
    local out err
    err=$(mktemp)
    out=$(build/yopo run -m "$MODEL" --tokenizer "$TOK" --image "$image" --temp 0 -n 16 \
      --prune "$plan" --prune-semantics "$sem" \
      -p "$question"$'\n'"Answer the question using a single word or phrase." 2>"$err")
    local ms flops
    ms=$(sed -n 's/^prompt: .*rows (.* visual), \([0-9.]*\) ms.*/\1/p' "$err")
    flops=$(sed -n 's/^flops: \([0-9.]*\) GFLOP executed.*/\1/p' "$err")
    rm -f "$err"
    [ -z "$dense_flops" ] && dense_flops=$flops
    printf '  %-14s answer: %-12s prefill %7s ms  %6s GFLOP executed (%s of dense)\n' \
      "$plan ($sem)" "$(echo "$out" | tr -d '\n')" "$ms" "$flops" \
      "$(awk -v a="$flops" -v b="$dense_flops" 'BEGIN { printf "%.0f%%", 100 * a / b }')"
  done
}

if [ -d "$MODEL" ] && [ -f "$TOK" ]; then
  ask data/examples/shapes.png "What shape is the purple object?"
  ask data/examples/shapes.png "Is there a blue triangle in the image?"
  ask data/examples/shapes.png "Is the purple circle to the left of the blue triangle?"
  ask data/examples/shapes.png "Which object is closest to the purple circle?"
  PHOTO=$ASSETS/images/chelsea.png
  [ -f "$PHOTO" ] && ask "$PHOTO" "How many shapes are there?"
  echo "(yopo-12: window r=2, half the heads, visual FFN cut; layers with visual work scaled to"
  echo " this 4-layer model, see models/yopo-shapes-dense/README.md; the photo is out of the"
  echo " model's training distribution: it only knows coloured shapes; on 4 layers yopo-12 keeps"
  echo " visual reads in layer 0 only, and this model compares positions with layers 1-3 and"
  echo " fetches the nearest object in layer 3, see docs/results)"
  exit 0
fi
MODEL=$ASSETS/models/stories260K.gguf
if [ ! -f "$MODEL" ]; then
  MODEL=tests/fixtures/tiny_llama/gqa_untied/model-f32.gguf
  echo "(../shared/assets is absent: running the committed tiny random-weight model)" >&2
fi
echo "$ build/yopo run -m $MODEL -p 'Once upon a time' -n 64 --temp 0" >&2
build/yopo run -m "$MODEL" -p "Once upon a time" -n 64 --temp 0 --echo
echo
