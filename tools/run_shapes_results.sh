#!/usr/bin/env bash
# Reproduces docs/results/ (issue 8, item 5): accuracy (POPE accuracy/F1, GQA-style accuracy)
# against executed visual FLOPs on the synthetic shapes test split, for the shipped dense model
# under dense / YOPO training-free (exact and fast) / FastV / PyramidDrop / SparseVLM, and for the
# prune-aware fine-tuned checkpoint under its own plan.
#
#   tools/run_shapes_results.sh            # builds yopo in build/ if needed; writes docs/results/
#
# Environment: BUILD (default build), THREADS (default 2), OUT (default docs/results),
# LIMIT_IMAGES (default 100: the questions of the first 100 of the 200 test images, 600 POPE +
# 565 GQA-style, what docs/results holds; 200 = the whole split). Answers files are resumable:
# rerunning continues where a run stopped. Needs ../shared/assets/tokenizer/llama2-tokenizer.model
# and /usr/bin/python3 with numpy and Pillow (to regenerate the test images, which are not
# committed).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
THREADS=${THREADS:-2}
OUT=${OUT:-docs/results}
LIMIT_IMAGES=${LIMIT_IMAGES:-100}
TOK=${TOK:-../shared/assets/tokenizer/llama2-tokenizer.model}
Y=$BUILD/yopo
DENSE=models/yopo-shapes-dense
FT=models/yopo-shapes-yopo12
TEST=data/synth/test

[ -x "$Y" ] || scripts/build.sh "$BUILD"
if [ ! -f "$TEST/images/test_000199.png" ]; then
  /usr/bin/python3 tools/synth_shapes.py --splits test
fi
/usr/bin/python3 tools/synth_shapes.py --check  # the images are the committed pixel hashes'

# Questions (and annotations) of the first LIMIT_IMAGES test images, in data/synth (not
# committed; the sweep tables name this path).
mkdir -p "$OUT"
SEL=data/synth/test_first$LIMIT_IMAGES
mkdir -p "$SEL"
/usr/bin/python3 - "$TEST" "$SEL" "$LIMIT_IMAGES" <<'EOF'
import json, sys
test, sel, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
keep = {f"test_{i:06d}.png" for i in range(n)}
for task in ("pope", "gqa"):
    qs = [json.loads(l) for l in open(f"{test}/{task}_questions.jsonl")]
    qs = [q for q in qs if q["image"] in keep]
    ids = {str(q["question_id"]) for q in qs}
    open(f"{sel}/{task}_questions.jsonl", "w").write("".join(json.dumps(q) + "\n" for q in qs))
    if task == "pope":
        ann = [json.loads(l) for l in open(f"{test}/pope_annotations.jsonl")]
        open(f"{sel}/pope_annotations.jsonl", "w").write(
            "".join(json.dumps(a) + "\n" for a in ann if str(a["question_id"]) in ids))
    else:
        ann = json.load(open(f"{test}/gqa_annotations.json"))
        json.dump({k: v for k, v in ann.items() if k in ids}, open(f"{sel}/gqa_annotations.json", "w"))
EOF

# Plans. The model has 4 layers, so the budgets are reached as follows (yopo flops, paper
# convention, share of the dense visual FLOPs):
#   yopo-25 / yopo-12 with the head mask calibrated on the dense model ($DENSE/headmask.json,
#     `yopo calibrate` on 100 validation POPE questions): the mask keeps every head in layers 0-1
#     (as calibration always does), so L_keep alone sets the budget (2026-12-01 checkpoint, mask
#     4/4/1/3): yopo-12 -> L_keep 1 (10.7%), yopo-25 -> L_keep 3 (27.9%, layer 2 with one head;
#     the 2026-11-30 checkpoints' mask 4/4/0/4 gave the same at 26.5%, the 2026-11-29 one's
#     4/4/3/1 L_keep 2, 21.4%);
#     window w=5, FFN ratio 2 in every layer;
#   the token-pruning baselines cannot go below ~25% here (layer 0 always sees every visual
#     token and is a quarter of the model), so each is run at its most aggressive setting
#     (~30%) and FastV also at ~38%.
DENSE_PLANS="dense;yopo-25@exact;yopo-25@fast;yopo-12@exact;yopo-12@fast"
DENSE_PLANS+=";fastv:K=1,R=0.9;fastv:K=1,R=0.75;pdrop:layers=1/2/3,lambda=0.25"
DENSE_PLANS+=";sparsevlm:layers=0/1/2,keep=64/32/16"
FT_PLANS="$FT/plan.json@exact;$FT/plan.json@fast;dense"

# yopo eval refuses to resume answers of other weights or another head mask (it would stop this
# script); so that a rerun after retraining or recalibrating just works, each sweep directory
# records what it was run with and is emptied when that changed.
fresh() {  # fresh DIR FILE...: empty DIR unless its inputs.sha256 matches FILE...
  local want
  want=$(sha256sum "${@:2}")
  if [ -d "$1" ] && [ "$(cat "$1/inputs.sha256" 2>/dev/null)" != "$want" ]; then
    echo "$1: the checkpoint or head mask changed since its answers were written; starting over"
    rm -rf "$1"
  fi
  mkdir -p "$1"
  echo "$want" >"$1/inputs.sha256"
}

for task in pope gqa; do
  fresh "$OUT/$task-dense" $DENSE/model.safetensors $DENSE/headmask.json
  [ -f $FT/model.safetensors ] && fresh "$OUT/$task-yopo12ft" $FT/model.safetensors $FT/plan.json
  ann=$SEL/pope_annotations.jsonl
  [ $task = gqa ] && ann=$SEL/gqa_annotations.json
  "$Y" eval --task $task -m $DENSE --tokenizer "$TOK" --questions "$SEL/${task}_questions.jsonl" \
    --images $TEST/images --sweep "$DENSE_PLANS" --head-mask $DENSE/headmask.json \
    --out-dir "$OUT/$task-dense" --annotations "$ann" --max-new-tokens 8 -t "$THREADS"
  if [ -f $FT/model.safetensors ]; then
    "$Y" eval --task $task -m $FT --tokenizer "$TOK" --questions "$SEL/${task}_questions.jsonl" \
      --images $TEST/images --sweep "$FT_PLANS" --out-dir "$OUT/$task-yopo12ft" \
      --annotations "$ann" --max-new-tokens 8 -t "$THREADS"
  fi
done
# GQA-style accuracy per question type and plan (answers normalized as the PyTorch evaluation
# does: synth_shapes.normalize_answer), which the headline mixes.
/usr/bin/python3 - "$OUT" "$SEL/gqa_annotations.json" <<'EOF'
import glob, json, os, sys
sys.path.insert(0, "tools")
from synth_shapes import normalize_answer as norm
out, ann = sys.argv[1], json.load(open(sys.argv[2]))
cats = ["color", "shape", "count", "size", "position", "nearest"]
md = ["| checkpoint | plan | " + " | ".join(cats) + " |", "|---" * (len(cats) + 2) + "|"]
n = {}
for model in ("dense", "yopo12ft"):
    for f in sorted(glob.glob(f"{out}/gqa-{model}/*.jsonl")):
        acc = {}
        for line in open(f):
            r = json.loads(line)
            a = ann[r["question_id"]]
            c = acc.setdefault(a["type"], [0, 0])
            c[0] += norm(r["text"]) == norm(a["answer"])
            c[1] += 1
        n = {c: acc[c][1] for c in cats if c in acc}
        md.append(f"| {model} | {os.path.basename(f)[:-6]} | " + " | ".join(
            f"{100 * acc[c][0] / acc[c][1]:.1f}" if c in acc else "" for c in cats) + " |")
md.append("")
md.append("Questions per type: " + ", ".join(f"{c} {k}" for c, k in n.items()) + ".")
open(f"{out}/shapes_results_by_type.md", "w").write("\n".join(md) + "\n")
EOF
# One table and one plot over both tasks and both checkpoints.
/usr/bin/python3 - "$OUT" <<'EOF'
import csv, math, sys
out = sys.argv[1]
def rows(path):
    try:
        return list(csv.DictReader(open(path)))
    except FileNotFoundError:
        return []
table = {}
for model in ("dense", "yopo12ft"):
    for task in ("pope", "gqa"):
        for r in rows(f"{out}/{task}-{model}/sweep.csv"):
            key = (model, r["plan"], r["semantics"])
            e = table.setdefault(key, {"spec": r["spec"]})
            e[f"{task}_acc"] = float(r["accuracy"])
            if task == "pope":
                e["pope_f1"] = float(r["f1"])
            e[f"{task}_exec_vis"] = float(r["executed_visual_flops"])
            e[f"{task}_exec_pct"] = 100 * float(r["executed_fraction"])
            pf = r["paper_fraction"]
            e["paper_pct"] = 100 * float(pf) if pf not in ("", "nan") else float("nan")
def f(x, d=1):
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{d}f}"
md = ["| checkpoint | plan | semantics | paper visual FLOPs % | executed visual MFLOPs "
      "(POPE q) | executed % | POPE acc | POPE F1 | GQA-style acc |",
      "|---|---|---|---|---|---|---|---|---|"]
lines = ["checkpoint,plan,spec,semantics,paper_visual_pct,executed_visual_flops_pope,"
         "executed_visual_pct_pope,pope_accuracy,pope_f1,gqa_accuracy"]
for (model, plan, sem), e in table.items():
    ck = "yopo-shapes-dense" if model == "dense" else "yopo-shapes-yopo12 (prune-aware)"
    md.append(f"| {ck} | {plan} | {sem} | {f(e.get('paper_pct'))} | "
              f"{f(e.get('pope_exec_vis', float('nan')) / 1e6, 0)} | {f(e.get('pope_exec_pct'))} | "
              f"{f(e.get('pope_acc'))} | {f(e.get('pope_f1'))} | {f(e.get('gqa_acc'))} |")
    lines.append(",".join(str(x) for x in (ck, plan, e["spec"], sem, e.get("paper_pct"),
                 e.get("pope_exec_vis"), e.get("pope_exec_pct"), e.get("pope_acc"),
                 e.get("pope_f1"), e.get("gqa_acc"))))
open(f"{out}/shapes_results.md", "w").write("\n".join(md) + "\n")
open(f"{out}/shapes_results.csv", "w").write("\n".join(lines) + "\n")
# SVG: two panels (POPE accuracy, GQA-style accuracy) against executed visual FLOPs (% of dense).
W, H, P = 420, 320, 50
colors = {"dense": "#000000", "yopo": "#1f77b4", "fastv": "#d62728", "pdrop": "#2ca02c",
          "sparsevlm": "#9467bd", "ft": "#ff7f0e"}
def color(model, plan):
    if model != "dense":
        return colors["ft"]
    for k in ("fastv", "pdrop", "sparsevlm", "yopo"):
        if plan.startswith(k):
            return colors[k]
    return colors["dense"]
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * W + 20}" height="{H + 60}" '
       'font-family="sans-serif" font-size="10">', '<rect width="100%" height="100%" fill="white"/>']
for k, (task, label) in enumerate((("pope", "POPE accuracy (%)"), ("gqa", "GQA-style accuracy (%)"))):
    x0 = 10 + k * W
    pts = [(e.get(f"{task}_exec_pct"), e.get(f"{task}_acc"), model, plan, sem)
           for (model, plan, sem), e in table.items() if e.get(f"{task}_acc") is not None]
    if not pts:
        continue
    ys = [p[1] for p in pts]
    lo, hi = max(0.0, math.floor(min(ys) / 10) * 10), min(100.0, math.ceil(max(ys) / 10) * 10)
    hi = hi if hi > lo else lo + 10
    def px(x, y):
        return x0 + P + (W - P - 20) * x / 105, 20 + (H - P) * (1 - (y - lo) / (hi - lo))
    svg.append(f'<rect x="{x0 + P}" y="20" width="{W - P - 20}" height="{H - P}" fill="none" stroke="#888"/>')
    for t in range(0, 101, 25):
        xx, yy = px(t, lo)
        svg.append(f'<text x="{xx:.1f}" y="{yy + 14:.1f}" text-anchor="middle">{t}</text>')
    for j in range(5):
        yv = lo + (hi - lo) * j / 4
        xx, yy = px(0, yv)
        svg.append(f'<text x="{xx - 4:.1f}" y="{yy + 3:.1f}" text-anchor="end">{yv:.0f}</text>')
    svg.append(f'<text x="{x0 + P + (W - P) / 2:.0f}" y="{H + 5}" text-anchor="middle">'
               'executed visual FLOPs (% of dense, same semantics)</text>')
    svg.append(f'<text x="{x0 + P + (W - P) / 2:.0f}" y="14" text-anchor="middle" '
               f'font-weight="bold">{label}</text>')
    for x, y, model, plan, sem in pts:
        xx, yy = px(x, y)
        c = color(model, plan)
        svg.append(f'<circle cx="{xx:.1f}" cy="{yy:.1f}" r="3.5" fill="{c}"/>')
        name = ("FT " if model != "dense" else "") + plan.split("/")[-1] + (
            "" if plan == "dense" else f" ({sem})")
        svg.append(f'<text x="{xx + 5:.1f}" y="{yy - 4:.1f}" fill="{c}">{name}</text>')
svg.append(f'<text x="10" y="{H + 45}">black: dense; blue: YOPO training-free; orange: YOPO after '
           'prune-aware fine-tuning (FT); red: FastV; green: PyramidDrop; purple: SparseVLM</text>')
svg.append("</svg>")
open(f"{out}/shapes_results.svg", "w").write("\n".join(svg) + "\n")
print(open(f"{out}/shapes_results.md").read())
EOF
