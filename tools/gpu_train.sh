#!/usr/bin/env bash
# GPU runs of the training launchers (nbs/06_training.ipynb), on a 2-GPU machine prepared with ../shared/tools/gpu (the devbundle).
# 1) QLoRA on one GPU over the whole training split (the 450 training items of the 500 PQA-L CV items, balanced), then
#    base vs fine-tuned on the 50 dev items; 2) the same schedule under DeepSpeed ZeRO-3 on two GPUs (global batch 16 in
#    both: 4 x 4 x 1 GPU and 4 x 2 x 2 GPUs).
set -uo pipefail
source tools/gpu_env.sh
common="--peft_method qlora --epochs 2 --batch_size 4 --max_length 512 --report_to tensorboard --save_steps 1000"
[ -f runs/gpu1/metrics.json ] || CUDA_VISIBLE_DEVICES=0 python -m medqa_nb.train --output_dir runs/gpu1 --grad_accum 4 $common > "$OUT/gpu1.log" 2>&1; echo "gpu1 rc=$?"
CUDA_VISIBLE_DEVICES=0 python -m medqa_nb.train --output_dir runs/gpu1 --eval_only > "$OUT/gpu1_eval.log" 2>&1; echo "gpu1 eval rc=$?"
python -m deepspeed.launcher.runner --num_gpus 2 --module medqa_nb.train --deepspeed configs/deepspeed_z3.json --use_peft --output_dir runs/gpu2 \
  --grad_accum 2 $common > "$OUT/gpu2.log" 2>&1; echo "gpu2 rc=$?"
CUDA_VISIBLE_DEVICES=0 python -m medqa_nb.train --output_dir runs/gpu2 --eval_only > "$OUT/gpu2_eval.log" 2>&1; echo "gpu2 eval rc=$?"
for r in gpu1 gpu2; do cp runs/$r/metrics.json "$OUT/${r}_metrics.json"; cp runs/$r/eval/report.md "$OUT/${r}_report.md"; done 2>/dev/null
python - <<'PY'
import json
for r in ('gpu1', 'gpu2'):
    try: m = json.load(open(f'runs/{r}/metrics.json'))
    except OSError: print(r, 'no metrics'); continue
    print(r, {k: m[k] for k in ('train_loss', 'final_logged_loss', 'global_step', 'train_samples_per_second', 'peak_memory_gb', 'world_size', 'device', 'wall_s')})
PY
tail -n 14 "$OUT/gpu1_eval.log" "$OUT/gpu2_eval.log"
