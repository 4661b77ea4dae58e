#!/usr/bin/env bash
# A study against the seeds' runs (normalize, lora, copies, loss: see tools/cv_study.py) on a GPU machine prepared with
# ../shared/tools/gpu (the devbundle): runs or resumes it in ~/STUDY within SECONDS, choosing on folds 0-4 first, then
# packs $OUT/STUDY.tgz even when the study stops at its deadline. A fold takes 40-150 s on an H200 and the last one may
# run past the deadline by up to a minute: give the command SECONDS + 90.
# Flags after the third argument replace `--select macro_f1` (e.g. `--runs RUN --folds 5,6,7,8,9,0,1,2,3,4`: one run's folds).
#   bash tools/gpu_study.sh STUDY [SECONDS] [SLOTS_PER_GPU] [cv_study.py flags]
set -uo pipefail
STUDY=$1; BUDGET=${2:-480}; SLOTS=${3:-2}; shift $(( $# < 3 ? $# : 3 ))
FLAGS=("$@"); [ ${#FLAGS[@]} -gt 0 ] || FLAGS=(--select macro_f1)
source tools/gpu_env.sh
cp -r .augcache/augment $MEDQA_CACHE/ 2>/dev/null
python tools/cv_study.py $STUDY --out $HOME/$STUDY --slots $SLOTS "${FLAGS[@]}" --deadline $BUDGET 2>&1 \
  | grep --line-buffered '^\[slot\|^choose\|^chosen\|^|' | tee -a "$OUT/$STUDY.txt"
cd $HOME && tar czf "$OUT/$STUDY.tgz" --exclude='adapter' --exclude='checkpoint-*' $STUDY && echo "packed $(du -h "$OUT/$STUDY.tgz" | cut -f1)"
