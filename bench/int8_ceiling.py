"""How much faster can int8 make the scoring graph on this CPU? An Amdahl bound from measurements, in one process.

    python bench/int8_ceiling.py [--export DIR] [--tokens 400] [--threads 2]

1. Profiles the fp32 scoring graph (`scoring.onnx` of an export folder, default: the one `bench/inference_speed.py`
   writes) on one prompt of `--tokens` tokens: the share of time in the weight `MatMul`s, and the rest (attention,
   norms, rotary, residual adds).
2. Times the weight matrices of one layer, grouped by the activation they read (q/k/v, o, gate/up, down), fp32
   `MatMul` against the int8 rewrites: `per_token` (`quantize_per_token`: per-token activation scales, shared by the
   group; per-channel weights; one pass), the same with a second int8 pass for the activations' rounding error (`two
   passes`, what the export does in q/k/v and down_proj), the group's weights concatenated into one matrix product and
   split after (`per_token merged`), and one scale per tensor (`DynamicQuantizeLinear` + `MatMulIntegerToFloat`, as
   `quantize_dynamic` writes it).
3. Prints the speed-up of the matrix products alone and the whole-graph bound `1 / (matmul share / speed-up + rest)`,
   and the bound with free matrix products, all against ONNX fp32 (multiply by ONNX fp32's own speed-up over PyTorch,
   from `bench/inference_speed.py`, for the ratio against PyTorch).
4. Times the same matrix products in PyTorch fp32 (`torch.nn.functional.linear`, the baseline's kernel), to show how
   much of the speed-up over PyTorch comes from ONNX Runtime's fp32 kernels alone on this CPU."""
import argparse, collections, json, os, tempfile, time
from pathlib import Path
import numpy as np

def options(threads, profile=None):
    import onnxruntime as ort
    so = ort.SessionOptions(); so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
    so.add_session_config_entry('session.intra_op.allow_spinning', '0')
    if profile: so.enable_profiling, so.profile_file_prefix = True, profile
    return so

def median_ms(f, n):
    for _ in range(3): f()
    ts = []
    for _ in range(n): t = time.perf_counter(); f(); ts.append(time.perf_counter() - t)
    return 1e3 * float(np.median(ts))

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--export', default=None, help='an export folder with scoring.onnx (fp32)')
    ap.add_argument('--tokens', type=int, default=400)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--n', type=int, default=100, help='timed runs per matrix shape')
    a = ap.parse_args()
    import onnx, onnxruntime as ort
    from onnx import TensorProto as TP, helper as h, numpy_helper as nh
    from medqa_nb.onnx_graphs import quantize_per_token, SCORING_GRAPH
    from medqa_nb.core import cache_dir, cpu_info
    src = Path(a.export or cache_dir()/'bench-export-random'/'onnx')
    if not (src/SCORING_GRAPH).is_file(): raise SystemExit(f"{src}: no {SCORING_GRAPH}; run bench/inference_speed.py first (or pass --export)")
    model = onnx.load(src/SCORING_GRAPH)
    inits = {i.name: i.dims for i in model.graph.initializer}
    by_input = collections.defaultdict(list)  # weight MatMuls that read the same activation (q/k/v; gate/up) share its quantization
    for n in model.graph.node:
        w = inits.get(n.input[1]) if n.op_type == 'MatMul' and len(n.input) == 2 else None
        if w is not None and len(w) == 2 and w[1] >= 16: by_input[n.input[0]].append(tuple(w))
    groups = collections.Counter((ws[0][0], tuple(w[1] for w in ws)) for ws in by_input.values())
    # 1. the fp32 graph's profile
    ids = np.random.default_rng(0).integers(100, 20000, (1, a.tokens)).astype(np.int64)
    with tempfile.TemporaryDirectory() as tmp:
        s = ort.InferenceSession(str(src/SCORING_GRAPH), options(a.threads, f'{tmp}/p'), providers=['CPUExecutionProvider'])
        feed = {'input_ids': ids, 'lengths': np.array([a.tokens])}
        for _ in range(4): s.run(None, feed)
        ev = json.load(open(s.end_profiling()))
    by_op = collections.Counter()
    for e in ev:
        if e.get('cat') == 'Node' and e['name'].endswith('_kernel_time'): by_op[e['args']['op_name']] += e['dur']
    total = sum(by_op.values()); mm_share = by_op['MatMul'] / total
    print(f"fp32 scoring graph, {a.tokens} tokens, {a.threads} threads: weight MatMuls {mm_share:.1%} of kernel time, "
          f"GroupQueryAttention {by_op['GroupQueryAttention']/total:.1%}, the rest {1 - mm_share - by_op['GroupQueryAttention']/total:.1%}")
    # 2. one-node graphs per weight shape
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, a.tokens, 1)).astype(np.float32)
    def model_of(nodes, K, outs, inits):
        g = h.make_graph(nodes, 'g', [h.make_tensor_value_info('x', TP.FLOAT, [1, None, K])],
                         [h.make_tensor_value_info(o, TP.FLOAT, None) for o in outs], inits)
        m = h.make_model(g, opset_imports=[h.make_opsetid('', 17), h.make_opsetid('com.microsoft', 1)]); m.ir_version = 8; return m
    def separate(K, Ws):  # one MatMul per weight, as exported
        return model_of([h.make_node('MatMul', ['x', f'W{i}'], [f'y{i}'], name=f'mm{i}') for i in range(len(Ws))], K,
                        [f'y{i}' for i in range(len(Ws))], [nh.from_array(W, f'W{i}') for i, W in enumerate(Ws)])
    def merged(K, Ws):  # one MatMul over the concatenated weights, then Split
        nodes = [h.make_node('MatMul', ['x', 'W'], ['y'], name='mm')]
        if len(Ws) > 1: nodes.append(h.make_node('Split', ['y', 'sizes'], [f'y{i}' for i in range(len(Ws))], axis=-1))
        return model_of(nodes, K, [f'y{i}' for i in range(len(Ws))] if len(Ws) > 1 else ['y'],
                        [nh.from_array(np.concatenate(Ws, 1), 'W'), nh.from_array(np.array([W.shape[1] for W in Ws], np.int64), 'sizes')])
    def per_tensor(K, Ws):
        nodes = [h.make_node('DynamicQuantizeLinear', ['x'], ['xq', 'xs', 'xz'])]; inits = []
        for i, W in enumerate(Ws):
            ws = (np.abs(W).max(0) / 127).astype(np.float32)
            inits += [nh.from_array(np.round(W / ws).astype(np.int8), f'Wq{i}'), nh.from_array(ws, f'ws{i}')]
            nodes.append(h.make_node('MatMulIntegerToFloat', ['xq', f'Wq{i}', 'xs', f'ws{i}', 'xz'], [f'y{i}'], domain='com.microsoft'))
        return model_of(nodes, K, [f'y{i}' for i in range(len(Ws))], inits)
    import torch
    torch.set_num_threads(a.threads)
    def torch_fp32(K, Ws):  # a stand-in with the session's run(); weights [out, in] as nn.Linear keeps them
        ts = [torch.from_numpy(W.T.copy()) for W in Ws]
        class Run:
            def run(self, _, feed):
                with torch.inference_mode(): x = torch.from_numpy(feed['x']); return [torch.nn.functional.linear(x, w) for w in ts]
        return Run()
    variants = {'fp32': separate, 'per_token': lambda K, Ws: quantize_per_token(separate(K, Ws)),  # one pass: no name is a residual layer
                'two passes': lambda K, Ws: quantize_per_token(separate(K, Ws), residual=('mm',)),
                'per_token merged': lambda K, Ws: quantize_per_token(merged(K, Ws)), 'per_tensor': per_tensor}
    times = collections.defaultdict(float)
    print(f"{'input K -> outputs N':>24s} {'count':>5s} {'fp32 ms':>8s} " + ' '.join(f'{k:>16s}' for k in variants if k != 'fp32')
          + f" {'pytorch fp32 ms':>16s}")
    for (K, Ns), c in sorted(groups.items()):
        Ws = [(rng.standard_normal((K, N)) * 0.05).astype(np.float32) for N in Ns]
        xk = np.repeat(x, K, -1) * rng.standard_normal(K).astype(np.float32)
        row = {}
        for name, make in {**variants, 'pytorch fp32': torch_fp32}.items():
            s = make(K, Ws) if name == 'pytorch fp32' else \
                ort.InferenceSession(make(K, Ws).SerializeToString(), options(a.threads), providers=['CPUExecutionProvider'])
            row[name] = median_ms(lambda: s.run(None, {'x': xk}), a.n); times[name] += c * row[name]
        print(f"{K:>6d} -> {'+'.join(map(str, Ns)):<14s} {c:5d} {row['fp32']:8.3f} " + ' '.join(f"{row['fp32']/row[k]:15.2f}x" for k in variants if k != 'fp32')
              + f" {row['pytorch fp32']:16.3f}")
    print(f"all weight matrices: fp32 {times['fp32']:.0f} ms; " + ', '.join(f"{k} {times['fp32']/times[k]:.2f}x" for k in variants if k != 'fp32')
          + f"; pytorch fp32 {times['pytorch fp32']:.0f} ms ({times['pytorch fp32']/times['fp32']:.2f}x ONNX Runtime's fp32 time)")
    # 3. Amdahl
    rest = 1 - mm_share
    for name in [k for k in variants if k != 'fp32']:  # per_token, two passes, merged, per_tensor
        r = times['fp32'] / times[name]
        print(f"bound for the whole graph with {name} matrix products: {1/(mm_share/r + rest):.2f}x ONNX fp32")
    print(f"bound with free matrix products (everything else as in fp32): {1/rest:.2f}x ONNX fp32")
    print(f"cpu: {cpu_info()['text']}; onnxruntime {ort.__version__}")

if __name__ == '__main__': main()
