"""How far each int8 variant of the scoring graph moves the answers, and how much faster it is than ONNX fp32, in one process.

    python bench/int8_variants.py [--export DIR] [--n 50] [--threads 2]

`--export` is an export folder as `bench/inference_speed.py` writes it (default: the one for the random adapter):
`onnx/` (fp32), `onnx-int8/` (`per_token`, the default two passes in q/k/v and down_proj), `onnx-int8-per_token-one-pass/`
and `onnx-int8-blockwise/` (per_token with GPTQ's weight rounding where the export was calibrated). The script also
writes, into a temporary folder, `per_token` with weights rounded to nearest (two passes, and one), and with the q/k/v and
down_proj `MatMul`s kept in fp32. On the first `--n` dev items, batch 1, round-robin: p50 latency and its ratio to ONNX fp32,
the share of fp32's labels kept, and the change of the margin between fp32's top label and each other label
(`margin_error`: a label flips only where it exceeds fp32's own margin), mean and largest."""
import argparse, json, tempfile, time
from pathlib import Path
import numpy as np

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--export', default=None, help='an export folder from bench/inference_speed.py')
    ap.add_argument('--n', type=int, default=50, help='dev items')
    ap.add_argument('--threads', type=int, default=2)
    a = ap.parse_args()
    import onnx, onnxruntime as ort
    from medqa_nb.data import load_pubmedqa, train_dev_split, make_example
    from medqa_nb.onnx_graphs import quantize_per_token, EXPORT_META, RESIDUAL_LAYERS, SCORING_GRAPH
    from medqa_nb.deploy import margin_error
    from medqa_nb.core import cache_dir
    from medqa_nb.modeling import load_tokenizer
    out = Path(a.export or cache_dir()/'bench-export-random')
    graphs = {'onnx fp32': out/'onnx'/SCORING_GRAPH, 'per_token, one pass': out/'onnx-int8-per_token-one-pass'/SCORING_GRAPH,
              'per_token (two passes in q/k/v, down)': out/'onnx-int8'/SCORING_GRAPH, 'blockwise': out/'onnx-int8-blockwise'/SCORING_GRAPH}
    missing = [str(p) for p in graphs.values() if not p.is_file()]
    if missing: raise SystemExit(f"missing: {missing}; run bench/inference_speed.py first (or pass --export)")
    tok = load_tokenizer(out/'onnx')
    _, dev = train_dev_split(load_pubmedqa())
    items = [tok(make_example(r, tok, 512)['prompt'], add_special_tokens=False)['input_ids'] for r in dev.select(range(a.n))]
    so = ort.SessionOptions(); so.intra_op_num_threads, so.inter_op_num_threads = a.threads, 1
    so.add_session_config_entry('session.intra_op.allow_spinning', '0')
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = onnx.load(graphs['onnx fp32'])
        keep = [n.name for n in fp32.graph.node if n.op_type == 'MatMul' and any(k in n.name for k in RESIDUAL_LAYERS)]
        onnx.save(quantize_per_token(fp32, exclude=keep, residual=()), f'{tmp}/fp32-layers.onnx')
        graphs['per_token, q/k/v and down in fp32'] = Path(f'{tmp}/fp32-layers.onnx')
        onnx.save(quantize_per_token(onnx.load(graphs['onnx fp32'])), f'{tmp}/nearest.onnx')
        graphs['per_token, two passes, nearest rounding'] = Path(f'{tmp}/nearest.onnx')
        onnx.save(quantize_per_token(onnx.load(graphs['onnx fp32']), residual=()), f'{tmp}/nearest-one.onnx')
        graphs['per_token, one pass, nearest rounding'] = Path(f'{tmp}/nearest-one.onnx')
        sess = {k: ort.InferenceSession(str(p), so, providers=['CPUExecutionProvider']) for k, p in graphs.items()}
        feed = lambda ids: {'input_ids': np.array([ids], np.int64), 'lengths': np.array([len(ids)], np.int64)}
        for s in sess.values(): s.run(None, feed(items[0]))  # warm-up
        logits, times = {k: [] for k in sess}, {k: [] for k in sess}
        for ids in items:
            for k, s in sess.items():
                t = time.perf_counter(); logits[k].append(s.run(None, feed(ids))[0][0]); times[k].append(time.perf_counter() - t)
    ref, base = np.array(logits['onnx fp32']), np.median(times['onnx fp32'])
    rounding = json.loads((out/'onnx-int8'/EXPORT_META).read_text())['quantization'].get('rounding', {'method': 'nearest'})
    print(f"{a.n} dev items, batch 1, {a.threads} threads; export: {out}; per_token rounding: {rounding}")
    print(f"{'graph':44s} {'p50 ms':>7s} {'x fp32':>7s} {'labels':>7s} {'margin change mean':>19s} {'max':>6s}")
    for k in sess:
        y, me = np.array(logits[k]), margin_error(ref, np.array(logits[k]))
        print(f"{k:44s} {1e3*np.median(times[k]):7.1f} {base/np.median(times[k]):7.2f} {np.mean(y.argmax(1) == ref.argmax(1)):7.0%} "
              f"{me.mean():19.2f} {me.max():6.2f}")

if __name__ == '__main__': main()
