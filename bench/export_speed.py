"""Where the main job's export stage spends its time: the export block of `medqa_nb.pipeline.pipeline` (merge,
ONNX export, int8 quantization with GPTQ, the int8-vs-fp32 label check on the dev split, one sample prediction, the
speed measurement), run on a trained run folder, with the time of each sub-step (inclusive; nested steps are
indented by call order, not by nesting).

    HF_HUB_OFFLINE=1 python bench/export_speed.py RUN_DIR [--out DIR] [--max_length 256] [--reference onnx] [--json results/export_speed.json]

RUN_DIR is a `medqa-train` output folder (its adapter/ is exported), e.g. from
`medqa-train --recipe last_layer --max_length 256 --batch_size 16 --augment '' --save_steps 0 --output_dir RUN_DIR`.
As the main job on a CPU, the int8 check compares with the fine-tuned model's fp32 labels from the evaluation step (run
here first, not timed); `--reference onnx` has the fp32 export score them instead."""
import argparse, collections, dataclasses, functools, json, os, sys, time
from pathlib import Path

TIMES, CALLS = collections.defaultdict(float), collections.Counter()

def timed(name, f):
    @functools.wraps(f)
    def g(*a, **kw):
        t = time.perf_counter()
        try: return f(*a, **kw)
        finally: TIMES[name] += time.perf_counter() - t; CALLS[name] += 1
    return g

def patch(mod, attr, name=None):
    f = getattr(mod, attr, None)
    if f is not None and not hasattr(f, '__wrapped__'): setattr(mod, attr, timed(name or attr, f))

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('run_dir'); ap.add_argument('--out', default=None, help='export folder (default RUN_DIR/export)')
    ap.add_argument('--max_length', type=int, default=256)
    ap.add_argument('--reference', choices=('evaluation', 'onnx'), default='evaluation', help="the check's fp32 labels")
    ap.add_argument('--json', default=None, help='also write the figures here (atomically), with the CPU and its flags')
    a = ap.parse_args()
    import onnx, torch, transformers
    import medqa_nb.onnx_graphs as G, medqa_nb.deploy as D, medqa_nb.pipeline as P
    from medqa_nb.train import TrainConfig, split_for, model_source
    from medqa_nb.modeling import EMBEDDED, resolve_model
    export = D.export_model
    for name in ('merge_adapter', 'export_onnx', 'export_scoring_graph', 'smooth_activations', 'quantize_onnx', '_gptq_for',
                 'activation_ranges', 'gptq_linears', 'input_hessians', 'gptq_weights', 'gptq_round', 'quantize_per_token', 'add_guard', '_kept_labels', 'label_agreement'):
        f = getattr(G, name, None) or getattr(D, name, None)
        if f is None: continue
        w = timed(name, f)
        for m in (G, D, P):
            if getattr(m, name, None) is f: setattr(m, name, w)
    for cls, meth in ((D.OnnxPredictor, 'label_logits'), (D.OnnxPredictor, '_session'), (D.OnnxPredictor, 'predict_batch')):
        setattr(cls, meth, timed(f'OnnxPredictor.{meth}', getattr(cls, meth)))
    torch.onnx.export = timed('torch.onnx.export', torch.onnx.export)
    onnx.load, onnx.save = timed('onnx.load', onnx.load), timed('onnx.save', onnx.save)
    transformers.PreTrainedModel.save_pretrained = timed('save_pretrained', transformers.PreTrainedModel.save_pretrained)
    D.torch_last_logits = timed('torch_last_logits', D.torch_last_logits)
    P.split_for = timed('split_for', split_for)
    cfg = TrainConfig(output_dir=a.run_dir, max_length=a.max_length)
    out = Path(a.out or Path(a.run_dir)/'export')
    base, adapter = model_source(a.run_dir, cfg.model_name)
    ref = {}
    if a.reference == 'evaluation':  # the main job's evaluation step, not timed: the fine-tuned model scored in fp32
        from medqa_nb.evaluate import load_for_eval, evaluate_model
        model, tok = load_for_eval(base, adapter)
        dev = split_for(cfg)[1]
        r = evaluate_model(model, tok, dev, 'fine-tuned', cfg.eval_batch_size, cfg.max_length, n_boot=0); del model
        ref = dict(reference_labels=[r['preds'][str(it['pmid'])] for it in dev])
    TIMES.clear(); CALLS.clear()
    t0 = time.perf_counter()
    run_cfg = Path(a.run_dir)/'config.json'
    recipe = json.loads(run_cfg.read_text()).get('recipe') if run_cfg.is_file() else None
    quant = P.int8_options(dataclasses.replace(cfg, recipe=recipe) if recipe else cfg)
    # the export block of medqa_nb.pipeline.pipeline
    train_items, dev_items = P.split_for(cfg)
    paths = timed('export', export)(resolve_model(base), adapter, out, metrics=None, max_length=cfg.max_length,
                                   calibration_items=train_items[-16:], check_items=dev_items, **ref, **quant)
    pred = D.OnnxPredictor(paths['onnx_int8']).predict_batch([dev_items[0]])[0]
    q = json.loads((paths['onnx_int8']/G.EXPORT_META).read_text())
    speed = q.get('speed')
    total = time.perf_counter() - t0
    print(f"export stage: {total:.1f} s  (torch threads {torch.get_num_threads()})")
    for k in TIMES: print(f"  {k:28s} {TIMES[k]:7.1f} s  x{CALLS[k]}")
    print('method', q['quantization']['method'], 'check', q.get('check'), 'guard', bool(q.get('guard')))
    print('speed', speed, 'sample', pred['label'])
    if a.json:
        import subprocess
        from medqa_nb.core import atomic_write, cpu_info
        cpu = cpu_info(); name, flags = cpu['name'], cpu['flags']
        commit = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True, cwd=Path(__file__).parent).stdout.strip()
        atomic_write(a.json, json.dumps(dict(cpu=name, cores=os.cpu_count(), flags=flags, threads=torch.get_num_threads(), commit=commit,
                                             total_s=round(total, 1), steps={k: dict(s=round(v, 1), calls=CALLS[k]) for k, v in TIMES.items()},
                                             method=q['quantization']['method'], check=q.get('check'), guard=q.get('guard'), speed=speed,
                                             graphs=sorted(f.name for f in paths['onnx_int8'].glob('*.onnx'))), indent=1))

if __name__ == '__main__': main()
