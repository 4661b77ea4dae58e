"""The CPU recipe's study (nbs/06_training.ipynb): the label head's settings (prompt length, L2 pull, class-weight power)
chosen on PQA-L's official folds 0-4, reported on folds 5-9 and on all ten, beside the zero-shot model at each length.

The final states of the 500 items are computed once per prompt length with the embedded model (the frozen part of
`train_label_head`); each fold's fit (`fit_label_head`) then takes about a second, and its labels are the argmax of
states x fitted rows, which is what the saved model computes. So each row is what
`medqa-cv --recipe label_head --max_length L --head_l2 X --class_power P --augment ''` gives, at a fraction of its cost;
`--check K` runs that command's fold K for the chosen setting and records both.

The rule: the largest mean macro-F1 on folds 0-4 among the settings whose mean accuracy there is at least the
zero-shot model's at the same length (the main job's goal: better macro-F1 without losing accuracy).

`--last_layer` screens the main job's recipe the same way: epochs x class-weight power on folds 0-4 from the 500 items'
last-layer inputs computed once (`last_layer_inputs`, about 3.5 minutes at 256 tokens), each fold's fit as in
`train_last_layer`; the chosen setting then runs on folds 5-9 (`last_layer_grid` in the record).

    HF_HUB_OFFLINE=1 python tools/cpu_recipe_study.py [--lengths 256,384,512] [--out results/cpu_recipe_cv.json] [--check 0 [--check_only]]
    HF_HUB_OFFLINE=1 python tools/cpu_recipe_study.py --last_layer [--epochs 1,2,4,8,16 --powers 0,0.75]   # the last_layer grid, added to --out
    HF_HUB_OFFLINE=1 python tools/cpu_recipe_study.py --last_layer --epochs 3,4,5,6 --powers 0.25,0.5,0.75  # the second, finer grid (06_training)
"""
import argparse, itertools, json, os, shlex, subprocess, sys, tempfile, time
from pathlib import Path
from types import SimpleNamespace as NS
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

L2S, POWERS = (0.001, 0.01, 0.03, 0.1, 0.3, 1.0), (0., 0.5, 0.75, 1.)
LAYERS, LAYER_L2S = range(10, 30, 2), (0.003, 0.01, 0.03, 0.1)  # the truncated head: decoder layers kept (of 30), its L2 pulls
LL_EPOCHS, LL_POWERS = (1, 2, 4, 8, 16), (0., 0.75)  # the last_layer recipe (the main job's): epochs x class-weight power, lr 1e-3, batches of 16

def metrics(gold, pred):
    from medqa_nb.evaluate import pubmedqa_metrics
    from medqa_nb.core import LABELS
    m = pubmedqa_metrics([LABELS[g] for g in gold], [LABELS[p] for p in pred], None, 0)
    return dict(accuracy=m['accuracy'], macro_f1=m['macro_f1'], pred_counts=m['pred_counts'], maybe_f1=m['per_class']['maybe']['f1'])

def command(L, l2=None, p=None, depth=None):
    if l2 is None: return f"medqa-cv --eval_only --max_length {L} --augment ''"
    return (f"medqa-cv --recipe label_head --max_length {L} --head_l2 {l2:g} --class_power {p:g} --augment ''"
            + (f" --head_depth {depth:g}" if depth else ''))

def setup():
    "The 500 items, their official fold and label indices, the embedded model's tokenizer and fp32 model."
    import torch
    from transformers import AutoModelForCausalLM
    from medqa_nb.core import LABELS
    from medqa_nb.data import load_pubmedqa, cv_folds
    from medqa_nb.modeling import resolve_model, load_tokenizer, EMBEDDED
    torch.set_num_threads(os.cpu_count() or 1)
    ds = load_pubmedqa(); items = list(ds)
    fold_of = {pm: k for k, (_, dev) in enumerate(cv_folds(ds)) for pm in dev['pmid']}
    fold = torch.tensor([fold_of[it['pmid']] for it in items]); y = torch.tensor([LABELS.index(it['final_decision']) for it in items])
    src = resolve_model(EMBEDDED); tok = load_tokenizer(src)
    return items, fold, y, tok, AutoModelForCausalLM.from_pretrained(src, dtype=torch.float32).eval()

def fit_fold(S, W0, fold, y, k, l2, p=0.):
    "Fold k's metrics: the label rows fit (from `W0`) to the other folds' states `S`, applied to fold k's."
    import torch
    from medqa_nb.train import fit_label_head
    rows = NS(lm_head=NS(weight=torch.nn.Parameter(W0.clone())))  # the three label rows alone, ids 0, 1, 2
    tr, te = fold != k, fold == k
    fit_label_head(rows, S[tr], y[tr].tolist(), [0, 1, 2], l2, p)
    return metrics(y[te].tolist(), (S[te] @ rows.lm_head.weight.detach().T).argmax(1).tolist())

def layer_states(model, tok, prompts, batch_size=8):
    """Each prompt's last-position state after every decoder layer, through the final norm, [prompts, layers + 1, hidden]:
    entry k is what `last_token_states` gives for the model cut to its first k layers (`truncate_layers`)."""
    import torch
    from medqa_nb.train import left_padded
    out = [None] * len(prompts)
    with torch.inference_mode():
        for idx, x, m, pos, _ in left_padded(tok, prompts, batch_size):
            hs = model.model(input_ids=x, attention_mask=m, position_ids=pos, output_hidden_states=True).hidden_states
            h = torch.stack([model.model.norm(h[:, -1]) for h in hs[:-1]] + [hs[-1][:, -1]], 1)  # the last one is normed already
            for r, i in enumerate(idx): out[i] = h[r].float()
    return torch.stack(out)

def layer_study(lengths, runs, states_dir):
    """The truncated label head's settings (`LAYERS` x `LAYER_L2S`, no class weights) on folds 0-4, from each length's
    per-layer states (cached in `states_dir`); added to `runs` beside the full-depth rows."""
    import torch
    from medqa_nb.data import make_example
    from medqa_nb.evaluate import label_token_ids
    items, fold, y, tok, base = setup()
    states_s = {}
    for L in lengths:
        prompts = [make_example(it, tok, L)['prompt'] for it in items]
        ids = [i[0] for i in label_token_ids(tok, prompts[0])]
        f = Path(states_dir)/f'layer_states_{L}.pt'
        if f.is_file(): S = torch.load(f)
        else:
            t = time.time(); S = layer_states(base, tok, prompts); states_s[L] = round(time.time() - t, 1)
            f.parent.mkdir(parents=True, exist_ok=True); torch.save(S, f)
        W0 = base.lm_head.weight[ids].detach().clone()
        for k, l2 in itertools.product(LAYERS, LAYER_L2S):
            folds = {j: fit_fold(S[:, k], W0, fold, y, j, l2) for j in range(5)}
            runs[n := f'label-head-{L}-k{k}-l2{l2:g}-cp0'] = dict(command=command(L, l2, 0., round(k / base.config.num_hidden_layers, 4)), folds=folds)
            print(f"{n}: acc {mean(runs[n], range(5), 'accuracy'):.3f} F1 {mean(runs[n], range(5), 'macro_f1'):.3f}", flush=True)
    return runs, states_s, (fold, y, tok, base, items)

def finish(name, runs, states_dir, ctx):
    "The chosen truncated-head setting on folds 5-9 too (the screen ran folds 0-4 only)."
    import torch
    fold, y, tok, base, items = ctx
    _, _, L, k, l2, _ = name.split('-'); L, k, l2 = int(L), int(k[1:]), float(l2[2:])
    S = torch.load(Path(states_dir)/f'layer_states_{L}.pt')
    from medqa_nb.data import make_example
    from medqa_nb.evaluate import label_token_ids
    ids = [i[0] for i in label_token_ids(tok, make_example(items[0], tok, L)['prompt'])]
    W0 = base.lm_head.weight[ids].detach().clone()
    for j in range(5, 10): runs[name]['folds'][j] = fit_fold(S[:, k], W0, fold, y, j, l2)

def last_layer_study(runs, states_dir, L=256, folds=range(5), settings=None):
    """The `last_layer` recipe's epochs and class weights (`LL_EPOCHS` x `LL_POWERS`) on `folds`, from the 500 items'
    last-layer inputs computed once (cached in `states_dir`); each fold fits the last layer, final norm and label rows
    from the pretrained ones (`fit_last_layer`, as `train_last_layer` does) and scores its fold (`last_layer_logits`).
    Returns {name: run}, the states' seconds (None when read from the cache) and a fold's fit's mean seconds."""
    import copy, torch
    from medqa_nb.data import make_example
    from medqa_nb.evaluate import label_token_ids
    from medqa_nb.train import last_layer_inputs, fit_last_layer, last_layer_logits
    items, fold, y, tok, base = setup()
    prompts = [make_example(it, tok, L)['prompt'] for it in items]
    ids = [i[0] for i in label_token_ids(tok, prompts[0])]
    f, states_s = Path(states_dir)/f'last_layer_inputs_{L}.pt', None
    if f.is_file(): hs = torch.load(f)
    else:
        t = time.time(); hs = last_layer_inputs(base, tok, prompts); states_s = round(time.time() - t, 1)
        f.parent.mkdir(parents=True, exist_ok=True); torch.save(hs, f)
    layer, norm = base.model.layers[-1], base.model.norm
    saved = copy.deepcopy(layer.state_dict()), copy.deepcopy(norm.state_dict()), base.lm_head.weight[ids].detach().clone()
    out, fit_s = {}, []
    for e, p in settings or itertools.product(LL_EPOCHS, LL_POWERS):
        n = f'last-layer-{L}-e{e}-cp{p:g}'; r = out.setdefault(n, dict(command=f"medqa-cv --recipe last_layer --max_length {L} --epochs {e} --class_power {p:g} --augment ''", folds={}))
        for k in folds:
            tr = [i for i in range(len(items)) if fold[i] != k]; te = [i for i in range(len(items)) if fold[i] == k]
            t = time.time()
            fit_last_layer(base, [hs[i] for i in tr], y[tr].tolist(), ids, e, 1e-3, 16, p, 42)
            with torch.no_grad(): pred = torch.cat([last_layer_logits(base, [hs[i] for i in te[j:j+16]], ids).argmax(1) for j in range(0, len(te), 16)])
            fit_s.append(time.time() - t)
            r['folds'][k] = metrics(y[te].tolist(), pred.tolist())
            layer.load_state_dict(saved[0]); norm.load_state_dict(saved[1])
            with torch.no_grad(): base.lm_head.weight[ids] = saved[2]
        print(f"{n}: folds {list(folds)} acc {mean(r, folds, 'accuracy'):.3f} F1 {mean(r, folds, 'macro_f1'):.3f}", flush=True)
    return out, states_s, round(sum(fit_s) / max(len(fit_s), 1), 1)

def study(lengths):
    import torch
    from medqa_nb.data import make_example
    from medqa_nb.evaluate import label_token_ids
    from medqa_nb.train import last_token_states
    items, fold, y, tok, base = setup()
    runs, states_s = {}, {}
    for L in lengths:
        prompts = [make_example(it, tok, L)['prompt'] for it in items]
        ids = [i[0] for i in label_token_ids(tok, prompts[0])]
        t = time.time(); S = last_token_states(base, tok, prompts); states_s[L] = round(time.time() - t, 1)
        print(f"{L} tokens: states of {len(items)} prompts in {states_s[L]} s", flush=True)
        W0 = base.lm_head.weight[ids].detach().clone()
        def score(rows, k): te = fold == k; return metrics(y[te].tolist(), (S[te] @ rows.T).argmax(1).tolist())
        runs[f'zero-shot-{L}'] = dict(command=command(L), folds={k: score(W0, k) for k in range(10)})
        for l2, p in itertools.product(L2S, POWERS):
            folds = {k: fit_fold(S, W0, fold, y, k, l2, p) for k in range(10)}
            runs[f'label-head-{L}-l2{l2:g}-cp{p:g}'] = dict(command=command(L, l2, p), folds=folds)
        print(f"{L} tokens: {len(L2S) * len(POWERS)} settings x 10 folds fitted", flush=True)
    return runs, states_s

def mean(run, ks, m): return sum(run['folds'].get(k, run['folds'].get(str(k)))[m] for k in ks) / len(ks)

def choose(runs, prefix='label-head-'):
    "The rule above, among the runs named `prefix`...; returns the chosen name."
    ok = {}
    for n, r in runs.items():
        if not n.startswith(prefix): continue
        L = n.split('-')[2]; zs = runs.get(f'zero-shot-{L}')
        if zs is None: continue
        if mean(r, range(5), 'accuracy') >= mean(zs, range(5), 'accuracy'): ok[n] = mean(r, range(5), 'macro_f1')
    return max(ok, key=ok.get) if ok else None

def check_fold(name, run, k):
    "The chosen setting's fold k through `medqa-cv` (the recipe as users run it): its metrics beside the study's."
    with tempfile.TemporaryDirectory() as d:
        cmd = [sys.executable, '-c', 'from medqa_nb.pipeline import cv_main; cv_main()', *shlex.split(run['command'])[1:],
               '--fold', str(k), '--output_dir', d, '--report_to', 'none']
        t = time.time(); subprocess.run(cmd, check=True, capture_output=True)
        got = json.loads((Path(d)/f'fold{k}'/'cv_fold.json').read_text())['metrics']
    return dict(fold=k, command=run['command'] + f' --fold {k}', medqa_cv={m: got[m] for m in ('accuracy', 'macro_f1', 'pred_counts')},
                study={m: run['folds'].get(k, run['folds'].get(str(k)))[m] for m in ('accuracy', 'macro_f1', 'pred_counts')}, wall_s=round(time.time() - t, 1))

def cpu_text():
    from medqa_nb.core import cpu_info
    return f"cpu ({cpu_info()['text']})"

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--lengths', default='256,384,512'); ap.add_argument('--out', default='results/cpu_recipe_cv.json')
    ap.add_argument('--check', type=int, default=None, help='also run the chosen setting on this fold through medqa-cv')
    ap.add_argument('--check_only', action='store_true', help="run the check on the record in --out, without the study")
    ap.add_argument('--layers', action='store_true', help='screen the truncated head (decoder layers kept x L2 pull) on folds 0-4, added to --out')
    ap.add_argument('--states', default=os.path.expanduser('~/.cache/medqa_nb/layer_states'), help='--layers: cache of the per-layer states')
    ap.add_argument('--last_layer', action='store_true', help="the last_layer recipe's epochs x class weights on folds 0-4 (the chosen one on 5-9 too), added to --out")
    ap.add_argument('--epochs', default=','.join(map(str, LL_EPOCHS)), help='--last_layer: epochs to screen (settings already in --out are kept)')
    ap.add_argument('--powers', default=','.join(f'{p:g}' for p in LL_POWERS), help='--last_layer: class-weight powers to screen')
    a = ap.parse_args()
    from medqa_nb.core import atomic_write
    out = Path(a.out); old = json.loads(out.read_text()) if out.is_file() else {}
    if a.last_layer:  # the main job's recipe: screened on folds 0-4 by the same rule, against the zero-shot model at 256 tokens
        grid = old.get('last_layer_grid', {}); ll = grid.get('runs', {})
        todo = [(e, p) for e in map(int, a.epochs.split(',')) for p in map(float, a.powers.split(','))
                if f'last-layer-256-e{e}-cp{p:g}' not in ll]  # settings screened before are kept
        new, states_s, fit_s = last_layer_study(old['runs'], a.states, settings=todo) if todo else ({}, None, None)
        ll.update(new)
        best = choose({**ll, 'zero-shot-256': old['runs']['zero-shot-256']}, 'last-layer-')
        if best and len(ll[best]['folds']) < 10:
            e, p = (float(x[1:] if x[0] == 'e' else x[2:]) for x in best.split('-')[3:5])
            ll[best]['folds'].update(last_layer_study(old['runs'], a.states, folds=range(5, 10), settings=[(int(e), p)])[0][best]['folds'])
        for n in ['zero-shot-256', old['chosen'], *([best] if best else [])]:
            r = {**old['runs'], **ll}[n]; ks = [s for s in (('0-4', range(5)), ('5-9', range(5, 10))) if all(k in r['folds'] or str(k) in r['folds'] for k in s[1])]
            print(f"{n}: " + '  '.join(f"{s} acc {mean(r, k, 'accuracy'):.3f} F1 {mean(r, k, 'macro_f1'):.3f}" for s, k in ks))
        settings = sorted({(int(n.split('-')[3][1:]), float(n.split('-')[4][2:])) for n in ll})
        old['last_layer_grid'] = dict(chosen=best, by='macro-F1 on folds 0-4 among the last_layer settings whose accuracy there is >= the zero-shot model at 256 tokens', folds=list(range(5)), runs=ll,
                                      epochs=sorted({e for e, _ in settings}), class_powers=sorted({p for _, p in settings}), learning_rate=1e-3, batch_size=16,
                                      states_s=grid.get('states_s') or states_s, fit_s_mean=grid.get('fit_s_mean') or fit_s,
                                      device=cpu_text())
        atomic_write(out, json.dumps(old, indent=1)); print(f'wrote {out}'); return
    if a.layers:  # the truncated head: screened on folds 0-4 beside the record's full-depth rows, the choice made again
        runs = old['runs']; runs, states_s, ctx = layer_study([int(x) for x in a.lengths.split(',')], runs, a.states)
        best = choose(runs)
        if '-k' in best and len(runs[best]['folds']) < 10: finish(best, runs, a.states, ctx)
        for n in [n for n in runs if n.startswith('zero-shot')] + [old['chosen'], best]:
            r = runs[n]; print(f"{n}: " + '  '.join(f"{s} acc {mean(r, ks, 'accuracy'):.3f} F1 {mean(r, ks, 'macro_f1'):.3f}"
                                                     for s, ks in (('0-4', range(5)), ('5-9', range(5, 10)), ('0-9', range(10)))))
        old.update(chosen=best, runs=runs, layer_states_s={**old.get('layer_states_s', {}), **states_s}, layers=list(LAYERS), layer_l2s=list(LAYER_L2S))
        old.pop('check', None)
        if a.check is not None: old['check'] = check_fold(best, runs[best], a.check); print(old['check'])
        atomic_write(out, json.dumps(old, indent=1)); print(f'wrote {out}'); return
    if a.check_only:
        old['check'] = check_fold(old['chosen'], old['runs'][old['chosen']], a.check); print(old['check'])
        atomic_write(out, json.dumps(old, indent=1)); print(f'wrote {out}'); return
    runs, states_s = study([int(x) for x in a.lengths.split(',')])
    best = choose(runs)
    for n in [n for n in runs if n.startswith('zero-shot')] + [best]:
        r = runs[n]; print(f"{n}: " + '  '.join(f"{s} acc {mean(r, ks, 'accuracy'):.3f} F1 {mean(r, ks, 'macro_f1'):.3f}"
                                                 for s, ks in (('0-4', range(5)), ('5-9', range(5, 10)), ('0-9', range(10)))))
    last = {n: r for n, r in old.get('runs', {}).items() if n.startswith('last-layer')} or old.get('last_layer_runs', {})
    rec = dict(chosen=best, by='macro-F1 on folds 0-4, accuracy there >= the zero-shot model at the same length', folds=list(range(5)),
               runs=runs, last_layer_runs=last, states_s=states_s,
               device=cpu_text())
    if a.check is not None: rec['check'] = check_fold(best, runs[best], a.check); print(rec['check'])
    atomic_write(out, json.dumps(rec, indent=1)); print(f'wrote {out}')

if __name__ == '__main__': main()
