"""Per-question latency and throughput of the embedded model (SmolLM2-135M, optionally with a LoRA adapter merged):
PyTorch fp32 vs ONNX Runtime fp32 vs ONNX Runtime int8, in one process, on the same dev items, with the same thread
count. Printed as ratios against PyTorch fp32, with label agreement and size on disk.

    python bench/inference_speed.py [--n 50] [--threads 2] [--adapter random|none|PATH] [--out DIR] [--extra 200]
                                    [--calibration 16] [--gqa_chunks 4]

Backends (all batch 1, one question at a time, as in an interactive service):
- pytorch fp32: the merged model, `model.model(ids)` and the answer tokens' rows of `lm_head` at the last position
  (the same work as the scoring graph; transformers' default attention, SDPA).
- onnx fp32 generation graph: model.onnx (KV-cache graph, eager attention, full-vocabulary logits at the last position),
  the path used before the scoring graph existed.
- onnx fp32 / int8 per_token / int8 dynamic / int8 blockwise: the scoring graph (scoring.onnx, fused chunked
  GroupQueryAttention with rotary embeddings, answer logits only) in fp32 and quantized by `quantize_onnx(method=...)`;
  per_token with its default second int8 pass in q/k/v and down_proj (`residual`), and as one pass (`residual=()`);
  both with GPTQ's weight rounding on the calibration prompts (as the main job exports; nearest rounding with `--calibration 0`).
- onnx int8 per_token + guard: what the main job writes where per_token alone misses dev labels: per_token, and items whose int8 top-two margin
  is under the guard margin re-scored by the fp32 scoring graph (`add_guard`, calibrated on the smoothing prompts);
  the share re-scored is printed.

Items are run round-robin (each item through every backend before the next item), so that load from other processes
on a shared machine hits all backends alike; ONNX Runtime's idle threads do not spin (`--spin` to let them), so they
do not take the cores from the backend that runs next. `--extra N` also checks label agreement (PyTorch vs the int8 per_token rows) on N
items of the training split (the official test split is not in ../shared/data); no timing there. The export smooths
activation outliers (`smooth_activations`) on `--calibration` prompts from the end of the training split (0: none)."""
import argparse, json, os, shutil, sys, time
from pathlib import Path
import numpy as np

def size_mb(*files): return sum(Path(f).stat().st_size for f in files if Path(f).exists()) / 1e6

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--n', type=int, default=50, help='dev items')
    ap.add_argument('--threads', type=int, default=2, help='intra-op threads for ONNX Runtime and PyTorch')
    ap.add_argument('--adapter', default='random', help="'random' (fresh LoRA r=16 with non-zero B), 'none', or an adapter folder")
    ap.add_argument('--out', default=None, help='export folder (reused if it has the current layout)')
    ap.add_argument('--extra', type=int, default=0, help='also check label agreement on this many training-split items')
    ap.add_argument('--calibration', type=int, default=16, help='training-split prompts (from its end) to smooth activations with; 0: no smoothing')
    ap.add_argument('--gqa_chunks', type=int, default=None, help='query chunks of the scoring graph (default: medqa_nb.onnx_graphs.GQA_CHUNKS)')
    ap.add_argument('--no-blockwise', action='store_true', help='skip the MatMulNBits backend')
    ap.add_argument('--spin', action='store_true', help="let ONNX Runtime's idle threads spin (default: off, so they do not take the CPU from the next backend)")
    a = ap.parse_args()
    import torch, logging
    import medqa_nb.deploy as ex, medqa_nb.onnx_graphs as graphs
    from medqa_nb.core import cpu_info
    if not a.spin:
        base_options = ex.session_options
        def quiet_options(*args, **kw):
            so = base_options(*args, **kw); so.add_session_config_entry('session.intra_op.allow_spinning', '0'); return so
        ex.session_options = quiet_options
    logging.getLogger().setLevel(logging.ERROR)
    torch.set_num_threads(a.threads)
    from transformers import AutoModelForCausalLM
    from medqa_nb.data import load_pubmedqa, train_dev_split, make_example
    from medqa_nb.core import cache_dir
    from medqa_nb.modeling import EMBEDDED, load_tokenizer, resolve_model
    from medqa_nb.onnx_graphs import quantize_onnx, random_lora_adapter, EXPORT_META, SCORING_GRAPH
    from medqa_nb.deploy import OnnxPredictor, export_model, parity
    out = Path(a.out or cache_dir()/f'bench-export-{a.adapter if a.adapter in ("random", "none") else Path(a.adapter).resolve().parent.name + "-adapter"}')
    adapter = None if a.adapter == 'none' else (out/'adapter' if a.adapter == 'random' else Path(a.adapter))
    if a.adapter == 'random' and not (adapter/'adapter_config.json').exists(): random_lora_adapter(EMBEDDED, adapter, std=0.01)
    if a.gqa_chunks: graphs.GQA_CHUNKS = a.gqa_chunks
    train, dev = train_dev_split(load_pubmedqa())
    calib = [train[i] for i in range(len(train) - a.calibration, len(train))] if a.calibration else None
    meta = out/'onnx-int8'/EXPORT_META
    old = json.loads(meta.read_text()) if meta.exists() else {}
    if old.get('quantization', {}).get('method') != 'per_token' or not (out/'onnx-int8'/SCORING_GRAPH).exists() \
       or (old.get('smoothing') or {}).get('prompts', 0) != a.calibration or old.get('gqa_chunks') != ex.GQA_CHUNKS \
       or bool(old.get('guard')) != bool(a.calibration) or old['quantization'].get('residual') != list(ex.RESIDUAL_LAYERS) \
       or (old.get('guard') or {'precision': 'fp32'}).get('precision') != 'fp32' \
       or old['quantization'].get('rounding', {}).get('method') != ('gptq' if calib else 'nearest'):
        for d in out.glob('onnx-int8-*'): shutil.rmtree(d)  # made from the old fp32 export
        t = time.time(); export_model(EMBEDDED, adapter, out, calibration_items=calib, guard=bool(calib)); print(f'export + quantize: {time.time()-t:.0f} s')
    print('smoothing:', json.loads(meta.read_text()).get('smoothing'), '| gqa chunks:', ex.GQA_CHUNKS)
    cal_tok = load_tokenizer(out/'onnx')
    gptq = dict(calibration=[make_example(r, cal_tok, 512)['prompt'] for r in calib]) if calib else {}
    variants = {'per_token, one pass': dict(method='per_token', residual=(), **gptq), 'dynamic': dict(method='dynamic'),
                **({} if a.no_blockwise else {'blockwise': dict(method='blockwise')})}
    dirs = {m: out/f"onnx-int8-{m.replace(', ', '-').replace(' ', '-')}" for m in variants}
    for m, kw in variants.items():
        if not (dirs[m]/SCORING_GRAPH).exists(): quantize_onnx(out/'onnx', dirs[m], **kw)
    src = out/'merged' if adapter is not None else resolve_model(EMBEDDED)
    model = AutoModelForCausalLM.from_pretrained(src, dtype=torch.float32).eval()
    folders = {'onnx fp32': out/'onnx', 'onnx int8 per_token': out/'onnx-int8', **{f'onnx int8 {m}': d for m, d in dirs.items()}}
    preds = {k: OnnxPredictor(d, threads=a.threads, guard=False) for k, d in folders.items()}
    guarded = OnnxPredictor(out/'onnx-int8', threads=a.threads)
    if guarded.guard: preds['onnx int8 per_token + guard'] = guarded; folders['onnx int8 per_token + guard'] = out/'onnx-int8'
    tok = preds['onnx fp32'].tok
    lab = preds['onnx fp32'].label_ids
    head = model.lm_head.weight[lab].detach()
    def ids_of(ds): return [tok(make_example(r, tok, 512)['prompt'], add_special_tokens=False)['input_ids'] for r in ds]
    items = ids_of(dev.select(range(a.n)))

    def run_torch(ids):
        with torch.inference_mode():
            h = model.model(input_ids=torch.tensor([ids])).last_hidden_state[0, -1]
            return (h @ head.T).numpy()
    gen = preds['onnx fp32']
    def run_generation_graph(ids):
        x = np.array([ids]); return gen.forward(x, np.ones_like(x))[0][0, lab]
    runners = {'pytorch fp32': run_torch, **({'onnx fp32 generation graph': run_generation_graph} if (out/'onnx'/'model.onnx').is_file() else {}),  # a label-style run's export has none
               **{k: (lambda p: lambda ids: p.score_ids([ids])[0])(p) for k, p in preds.items()}}
    for f in runners.values(): f(items[0]); f(items[1])  # warm-up (sessions created here)
    if guarded.guard: guarded.guard_scorer; guarded.rescored = 0
    times, logits = {k: [] for k in runners}, {k: [] for k in runners}
    for ids in items:
        for k, f in runners.items():
            t = time.perf_counter(); logits[k].append(f(ids)); times[k].append(time.perf_counter() - t)
    n_tok = [len(x) for x in items]
    print(f"{a.n} dev items, prompt length {np.mean(n_tok):.0f} tokens (mean, max {max(n_tok)}), batch 1, {a.threads} threads, "
          f"adapter: {a.adapter}\ncpu: {cpu_info()['text']}; torch {torch.__version__}, "
          f"onnxruntime {__import__('onnxruntime').__version__}")
    sizes = {'pytorch fp32': size_mb(Path(src)/'model.safetensors'), 'onnx fp32 generation graph': size_mb(out/'onnx'/'model.onnx'),
             **{k: size_mb(d/SCORING_GRAPH) for k, d in folders.items()}}
    if guarded.guard:
        sizes['onnx int8 per_token + guard'] += size_mb(out/'onnx-int8'/guarded.guard['graph'])
        print(f"guard: {guarded.guard}; re-scored {guarded.rescored}/{a.n} dev items")
    base = np.array(times['pytorch fp32']); ref = np.array(logits['pytorch fp32'])
    print(f"{'backend':30s} {'p50 ms':>7s} {'p95 ms':>7s} {'q/s':>6s} {'p50 x':>6s} {'q/s x':>6s} {'agree':>6s} {'maxdiff':>8s} {'size MB':>8s}")
    rows = {}
    for k in runners:
        t = np.array(times[k]); par = parity(ref, np.array(logits[k]), [0, 1, 2])
        rows[k] = dict(p50_ms=1e3*np.median(t), p95_ms=1e3*np.percentile(t, 95), qps=len(t)/t.sum(),
                       speedup_p50=np.median(base)/np.median(t), speedup_qps=base.sum()/t.sum(), **par, size_mb=sizes[k])
        r = rows[k]
        print(f"{k:30s} {r['p50_ms']:7.0f} {r['p95_ms']:7.0f} {r['qps']:6.2f} {r['speedup_p50']:6.2f} {r['speedup_qps']:6.2f} "
              f"{r['label_agreement']:6.0%} {r['max_abs_diff']:8.2g} {r['size_mb']:8.0f}")
    print('size of each export folder (all graphs):', {k: round(size_mb(*Path(d).glob('*.onnx*'))) for k, d in folders.items()}, 'MB')
    print(json.dumps({k: {kk: round(float(vv), 5) for kk, vv in v.items()} for k, v in rows.items()}))
    if a.extra:
        extra = ids_of(train.select(range(a.extra)))
        ref_x = np.array([run_torch(ids) for ids in extra])
        for k in ['onnx int8 per_token', 'onnx int8 per_token, one pass'] + (['onnx int8 per_token + guard'] if guarded.guard else []):
            q = preds[k]; q.rescored = 0
            par = parity(ref_x, np.array([q.score_ids([ids])[0] for ids in extra]), [0, 1, 2])
            print(f"{a.extra} training-split items, pytorch fp32 vs {k}: label agreement {par['label_agreement']:.1%} "
                  f"({int(round(par['label_agreement']*a.extra))}/{a.extra}), max abs diff of answer logits {par['max_abs_diff']:.3g}"
                  + (f", re-scored {q.rescored}" if q.guard else ''))

if __name__ == '__main__': main()
