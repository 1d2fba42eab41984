#!/usr/bin/env bash
# Installs, builds and runs yopo's main job on a default model:
# the trained stories260K LLaMA from ../shared/assets when present, else a committed tiny model.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh build >/dev/null
MODEL=../shared/assets/models/stories260K.gguf
if [ ! -f "$MODEL" ]; then
  MODEL=tests/fixtures/tiny_llama/gqa_untied/model-f32.gguf
  echo "(../shared/assets is absent: running the committed tiny random-weight model)" >&2
fi
echo "$ build/yopo run -m $MODEL -p 'Once upon a time' -n 64 --temp 0" >&2
build/yopo run -m "$MODEL" -p "Once upon a time" -n 64 --temp 0 --echo
echo
