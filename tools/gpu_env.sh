#!/usr/bin/env bash
# Sourced by the tools/gpu_*.sh scripts on a GPU machine prepared with ../shared/tools/gpu (the devbundle): stages the
# bundle, installs any extra wheels carried in .whl/, and exports the paths the project reads.
bash .devbundle/stage.sh | tail -n 1 || exit 1
[ -d .whl ] && python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=$HOME/devbundle/site:/tmp/site:$PWD MEDQA_DATA_DIR=$HOME/devbundle/data/pubmedqa PYTHONUNBUFFERED=1 \
       MEDQA_EMBEDDED_GGUF=$HOME/devbundle/model/SmolLM2-135M-Instruct.Q4_1.gguf MEDQA_CACHE=$HOME/mcache TOKENIZERS_PARALLELISM=false
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT" "$MEDQA_CACHE"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/gpus.txt"
