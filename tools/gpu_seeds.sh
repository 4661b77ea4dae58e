#!/usr/bin/env bash
# The seeds study of nbs/06_training.ipynb on a GPU machine prepared with ../shared/tools/gpu (the devbundle): the
# default recipe with three seeds on the ten folds (fold models kept), then each finished fold's ensemble (averaged
# probabilities) and soup (averaged weights). Resumes in ~/seeds while the machine stays up; packs $OUT/seeds.tgz.
# Seeds 1 and 2 augment with their own draws: `python tools/cv_study.py prepare --seeds 42,1,2` here first, copied into
# .augcache/augment.
#   bash tools/gpu_seeds.sh [SECONDS] [SLOTS_PER_GPU] [FOLDS, comma-separated: all ten by default]
set -uo pipefail
T0=$(date +%s); BUDGET=${1:-540}; SLOTS=${2:-2}; FOLDS=${3:-0,1,2,3,4,5,6,7,8,9}
source tools/gpu_env.sh
cp -r .augcache/augment $MEDQA_CACHE/ 2>/dev/null
left() { echo $(( BUDGET - ($(date +%s) - T0) )); }
if [ "$(left)" -gt 200 ]; then
  python tools/cv_study.py seeds --out $HOME/seeds --slots $SLOTS --folds $FOLDS --extra=--keep_fold_models --deadline $(( $(left) - 100 )) 2>&1 | tee -a "$OUT/seeds.txt"
fi
python tools/cv_study.py combine --out $HOME/seeds --folds $FOLDS 2>&1 | grep -v Warning | tee -a "$OUT/seeds.txt"
cd $HOME && tar czf "$OUT/seeds.tgz" --exclude='adapter' --exclude='checkpoint-*' seeds; echo "packed $(du -h "$OUT/seeds.tgz" | cut -f1), $(( $(date +%s) - T0 )) s"
