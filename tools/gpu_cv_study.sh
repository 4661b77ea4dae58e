#!/usr/bin/env bash
# The cross-validation studies of nbs/studies/recipes.ipynb on a GPU machine prepared with ../shared/tools/gpu (the
# devbundle). Runs (or resumes) the recipe study, then the augmentation study of the best recipe, within SECONDS, and
# packs the results into $OUT/study.tgz. The augmentation variants come from the cache that `cv_study.py prepare` fills
# on a machine with the terminology stack (copied into .augcache/augment).
#   bash tools/gpu_cv_study.sh [SECONDS] [SLOTS_PER_GPU]
set -uo pipefail
T0=$(date +%s); BUDGET=${1:-540}; SLOTS=${2:-3}
source tools/gpu_env.sh
cp -r .augcache/augment $MEDQA_CACHE/ 2>/dev/null
left() { echo $(( BUDGET - ($(date +%s) - T0) )); }
python tools/cv_study.py recipes --out $HOME/study --slots $SLOTS --deadline $(( $(left) - 70 )) 2>&1 | tee "$OUT/recipes.txt"
if [ "$(left)" -gt 200 ]; then
  python tools/cv_study.py augmentation --out $HOME/study --slots $SLOTS --deadline $(( $(left) - 70 )) 2>&1 | tee "$OUT/augmentation.txt"
fi
cd $HOME && tar czf "$OUT/study.tgz" --exclude='adapter' --exclude='checkpoint-*' study; echo "packed $(du -h "$OUT/study.tgz" | cut -f1), $(( $(date +%s) - T0 )) s"
