#!/usr/bin/env bash
# The cross-validation studies of nbs/02_augmentation.ipynb on a GPU machine prepared with ../shared/tools/gpu (the
# devbundle). Runs (or resumes) the recipe study, then the augmentation study of the best recipe, within SECONDS, and
# packs the results into $OUT/study.tgz. The augmentation variants come from the cache that `cv_study.py prepare` fills
# on a machine with the terminology stack (copied into .augcache/augment).
#   bash tools/gpu_cv_study.sh [SECONDS] [SLOTS_PER_GPU]
set -uo pipefail
T0=$(date +%s); BUDGET=${1:-540}; SLOTS=${2:-3}
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
bash .devbundle/stage.sh | tail -n 1 || exit 1
[ -d .whl ] && python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=$HOME/devbundle/site:/tmp/site:$PWD MEDQA_DATA_DIR=$HOME/devbundle/data/pubmedqa PYTHONUNBUFFERED=1 \
       MEDQA_EMBEDDED_GGUF=$HOME/devbundle/model/SmolLM2-135M-Instruct.Q4_1.gguf MEDQA_CACHE=$HOME/mcache TOKENIZERS_PARALLELISM=false
mkdir -p $HOME/mcache && cp -r .augcache/augment $HOME/mcache/ 2>/dev/null
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/gpus.txt"
left() { echo $(( BUDGET - ($(date +%s) - T0) )); }
python tools/cv_study.py recipes --out $HOME/study --slots $SLOTS --deadline $(( $(left) - 70 )) 2>&1 | tee "$OUT/recipes.txt"
if [ "$(left)" -gt 200 ]; then
  python tools/cv_study.py augmentation --out $HOME/study --slots $SLOTS --deadline $(( $(left) - 70 )) 2>&1 | tee "$OUT/augmentation.txt"
fi
cd $HOME && tar czf "$OUT/study.tgz" --exclude='adapter' --exclude='checkpoint-*' study; echo "packed $(du -h "$OUT/study.tgz" | cut -f1), $(( $(date +%s) - T0 )) s"
