"""per_token int8 with its default second pass (q/k/v, down_proj: `RESIDUAL_LAYERS`) against a second pass in every
projection (`ALL_LAYERS`), on a run's fp32 export: the largest and median top-two margin error against fp32 on the
16 calibration prompts (what the guard's margin is set from: 2x the largest), the dev items' labels kept without a
guard and the share the guard would re-score, and the per-question latency of both, run round-robin in one process
(each item through both graphs before the next), as ratios.

    HF_HUB_OFFLINE=1 python bench/int8_residual.py RUN_DIR [--items 20] [--rounds 3] [--json results/int8_residual.json]

RUN_DIR is a main-job run folder with its fp32 export in RUN_DIR/export/onnx (`medqa-pipeline` writes it). Both int8
graphs round their weights with GPTQ on the calibration prompts (`quantize_onnx(calibration=...)`), with this CPU's
`int8_weight_max`."""
import argparse, json, os, sys, tempfile, time
from pathlib import Path
import numpy as np

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('run_dir'); ap.add_argument('--items', type=int, default=20); ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--max_length', type=int, default=256); ap.add_argument('--json', default=None)
    a = ap.parse_args()
    from medqa_nb.core import cpu_info
    from medqa_nb.data import make_example
    from medqa_nb.train import TrainConfig, split_for
    from medqa_nb.deploy import OnnxPredictor, top_two_margin, margin_error
    from medqa_nb.onnx_graphs import quantize_onnx, int8_weight_max, RESIDUAL_LAYERS, ALL_LAYERS
    src = Path(a.run_dir)/'export'/'onnx'
    tr, dev = split_for(TrainConfig(max_length=a.max_length))
    fp32 = OnnxPredictor(src); tok = fp32.tok
    ids = lambda items: [tok(make_example(it, tok, a.max_length)['prompt'], add_special_tokens=False)['input_ids'] for it in items]
    cal, dv = tr[-16:], ids(dev)
    c_ids, cal_prompts = ids(cal), [make_example(it, tok, a.max_length)['prompt'] for it in cal]
    c32, d32 = fp32.score_ids(c_ids), fp32.score_ids(dv)
    tmp, rec = Path(tempfile.mkdtemp()), {}
    preds = {}
    for name, res in (('RESIDUAL_LAYERS', RESIDUAL_LAYERS), ('ALL_LAYERS', ALL_LAYERS)):
        p = OnnxPredictor(quantize_onnx(src, tmp/name, method='per_token', calibration=cal_prompts, residual=res), guard=False)
        c8, d8 = p.score_ids(c_ids), p.score_ids(dv)
        ce, de = margin_error(c32, c8), margin_error(d32, d8)
        margin = 2 * float(ce.max())
        rec[name] = dict(residual=list(res), calibration_margin_error=dict(max=round(float(ce.max()), 4), median=round(float(np.median(ce)), 4)),
                         dev_margin_error=dict(max=round(float(de.max()), 4), median=round(float(np.median(de)), 4)),
                         dev_agreement_unguarded=float((d8.argmax(1) == d32.argmax(1)).mean()),
                         guard_margin=round(margin, 4), dev_near_ties=float((top_two_margin(d8) < margin).mean()))
        preds[name] = p
        print(name, rec[name], flush=True)
    ms = {n: [] for n in preds}
    for p in preds.values(): p.score_ids(dv[:1])  # warm-up
    for _ in range(a.rounds):
        for x in dv[:a.items]:
            for n, p in preds.items(): t = time.perf_counter(); p.score_ids([x]); ms[n].append((time.perf_counter() - t) * 1000)
    for n in preds: rec[n]['p50_ms'] = round(float(np.median(ms[n])), 1)
    ratio = rec['ALL_LAYERS']['p50_ms'] / rec['RESIDUAL_LAYERS']['p50_ms']
    cpu = cpu_info(); name, flags = cpu['name'], cpu['flags']
    print(f"{cpu['text']}, weight_max {int8_weight_max()}: ALL_LAYERS / RESIDUAL_LAYERS latency {ratio:.2f}x "
          f"({rec['ALL_LAYERS']['p50_ms']} vs {rec['RESIDUAL_LAYERS']['p50_ms']} ms, {a.items} items x {a.rounds} rounds)")
    if a.json:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        import subprocess
        from medqa_nb.core import atomic_write
        commit = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True, cwd=Path(__file__).parent).stdout.strip()
        atomic_write(a.json, json.dumps(dict(cpu=name, cores=os.cpu_count(), flags=flags, weight_max=int8_weight_max(), commit=commit,
                                             run=str(a.run_dir), dev_items=len(dv), calibration_prompts=len(c_ids), timed_items=a.items,
                                             rounds=a.rounds, variants=rec, latency_ratio=round(ratio, 3)), indent=1))
        print('wrote', a.json)

if __name__ == '__main__': main()
