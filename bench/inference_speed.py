"""Per-question latency and throughput of the embedded model (SmolLM2-135M, optionally with a LoRA adapter merged):
PyTorch fp32 vs ONNX Runtime fp32 vs ONNX Runtime int8 (blockwise and dynamic), in one process, on the same dev items,
with the same thread count. Printed as ratios against PyTorch fp32, with label agreement and size on disk.

    python bench/inference_speed.py [--n 50] [--threads 2] [--adapter random|none|PATH] [--out DIR]

Items are run round-robin (each item through every backend before the next item), so that load from other processes
on a shared machine hits all backends alike. Batch size 1: one question at a time, as in an interactive service."""
import argparse, json, os, sys, time
from pathlib import Path
import numpy as np

def size_mb(p): p = Path(p); return sum(f.stat().st_size for f in p.iterdir() if f.is_file())/1e6 if p.is_dir() else p.stat().st_size/1e6

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--n', type=int, default=50, help='dev items')
    ap.add_argument('--threads', type=int, default=2, help='intra-op threads for ONNX Runtime and PyTorch')
    ap.add_argument('--adapter', default='random', help="'random' (fresh LoRA r=16 with non-zero B), 'none', or an adapter folder")
    ap.add_argument('--out', default=None, help='export folder (reused if present)')
    a = ap.parse_args()
    import torch, logging
    logging.getLogger().setLevel(logging.ERROR)
    torch.set_num_threads(a.threads)
    from transformers import AutoModelForCausalLM
    from medqa_nb.data import load_pubmedqa, train_dev_split, make_example
    from medqa_nb.modeling import EMBEDDED, cache_dir, resolve_model
    from medqa_nb.export import (OnnxPredictor, export_pipeline, quantize_onnx, random_lora_adapter, parity, EXPORT_META)
    out = Path(a.out or cache_dir()/f'bench-export-{a.adapter if a.adapter in ("random", "none") else "adapter"}')
    adapter = None if a.adapter == 'none' else (out/'adapter' if a.adapter == 'random' else Path(a.adapter))
    if a.adapter == 'random' and not (adapter/'adapter_config.json').exists(): random_lora_adapter(EMBEDDED, adapter, std=0.01)
    if not (out/'onnx-int8'/EXPORT_META).exists():
        t = time.time(); export_pipeline(EMBEDDED, adapter, out); print(f'export + quantize: {time.time()-t:.0f} s')
    if not (out/'onnx-int8-dynamic'/EXPORT_META).exists(): quantize_onnx(out/'onnx', out/'onnx-int8-dynamic', method='dynamic')
    src = out/'merged' if adapter is not None else resolve_model(EMBEDDED)
    model = AutoModelForCausalLM.from_pretrained(src, dtype=torch.float32).eval()
    ort = {'onnx fp32': OnnxPredictor(out/'onnx', threads=a.threads),
           'onnx int8 blockwise': OnnxPredictor(out/'onnx-int8', threads=a.threads),
           'onnx int8 dynamic': OnnxPredictor(out/'onnx-int8-dynamic', threads=a.threads)}
    tok = ort['onnx fp32'].tok
    dev = train_dev_split(load_pubmedqa())[1].select(range(a.n))
    prompts = [make_example(r, tok, 512)['prompt'] for r in dev]
    encs = [tok([p], add_special_tokens=False, return_tensors='np') for p in prompts]
    def run_torch(e):
        with torch.inference_mode():
            return model(input_ids=torch.from_numpy(e['input_ids']), logits_to_keep=1).logits[0, -1].numpy()
    runners = {'pytorch fp32': run_torch, **{k: (lambda p: lambda e: p.forward(e['input_ids'], e['attention_mask'])[0][0])(p)
                                              for k, p in ort.items()}}
    for f in runners.values(): f(encs[0]); f(encs[1])  # warm-up
    times, logits = {k: [] for k in runners}, {k: [] for k in runners}
    for e in encs:
        for k, f in runners.items():
            t = time.perf_counter(); logits[k].append(f(e)); times[k].append(time.perf_counter() - t)
    n_tok = [e['input_ids'].shape[1] for e in encs]
    print(f"{a.n} dev items, prompt length {np.mean(n_tok):.0f} tokens (mean, max {max(n_tok)}), batch 1, {a.threads} threads, "
          f"adapter: {a.adapter}, torch {torch.__version__}, cpu: {os.cpu_count()} cores")
    sizes = {'pytorch fp32': size_mb(Path(src)/'model.safetensors'), 'onnx fp32': size_mb(out/'onnx'/'model.onnx'),
             'onnx int8 blockwise': size_mb(out/'onnx-int8'/'model.onnx'), 'onnx int8 dynamic': size_mb(out/'onnx-int8-dynamic'/'model.onnx')}
    base = np.array(times['pytorch fp32']); ref = np.array(logits['pytorch fp32'])
    lab = ort['onnx fp32'].label_ids
    print(f"{'backend':22s} {'p50 ms':>8s} {'p95 ms':>8s} {'q/s':>6s} {'p50 x':>6s} {'q/s x':>6s} {'agree':>6s} {'maxdiff':>8s} {'size MB':>8s}")
    rows = {}
    for k in runners:
        t = np.array(times[k]); par = parity(ref, np.array(logits[k]), lab)
        rows[k] = dict(p50_ms=1e3*np.median(t), p95_ms=1e3*np.percentile(t, 95), qps=len(t)/t.sum(),
                       speedup_p50=np.median(base)/np.median(t), speedup_qps=base.sum()/t.sum(), **par, size_mb=sizes[k])
        r = rows[k]
        print(f"{k:22s} {r['p50_ms']:8.0f} {r['p95_ms']:8.0f} {r['qps']:6.2f} {r['speedup_p50']:6.2f} {r['speedup_qps']:6.2f} "
              f"{r['label_agreement']:6.0%} {r['max_abs_diff']:8.2g} {r['size_mb']:8.0f}")
    print(json.dumps({k: {kk: round(float(vv), 5) for kk, vv in v.items()} for k, v in rows.items()}))

if __name__ == '__main__': main()
