"""The measured studies of nbs/studies/recipes.ipynb and nbs/06_training.ipynb: 10-fold cross-validation of training recipes and of augmentation
operations, spread over the GPUs of one machine (several runs per GPU: the embedded model is small).

    python tools/cv_study.py recipes      [--out runs/study] [--slots 3] [--deadline 540]
    python tools/cv_study.py augmentation [--out runs/study] [--base auto|RECIPE]
    python tools/cv_study.py speed        [--out runs/study]   # the default's schedule (speed_settings): lr and epochs
    python tools/cv_study.py cpu          [--out runs/study]   # the CPU recipe (last layer): class weights
    python tools/cv_study.py seeds        [--out runs/study]   # the default with three seeds, then their ensemble and soup
    python tools/cv_study.py depth        [--out runs/study] --select macro_f1   # the default on a cut model (--head_depth)
    python tools/cv_study.py normalize    [--out runs/study]   # the default with --normalize_terms, against the seeds' runs
    python tools/cv_study.py lora         [--out runs/study]   # LoRA r=16 instead of full fine-tuning, against the seeds' runs
    python tools/cv_study.py copies       [--out runs/study]   # two augmented variants per item (--augment_copies 2), against the seeds' runs
    python tools/cv_study.py loss         [--out runs/study] --select macro_f1   # the label loss (--loss label), against the seeds' runs
    python tools/cv_study.py loss-seed    [--out runs/study]   # the chosen label loss with seed 1, against the seeds' runs
    python tools/cv_study.py prepare      # CPU: augment the 500 items once per operation, into the augmentation cache
    python tools/cv_study.py prepare --normalize   # CPU: normalize the 500 items, then augment the normalized ones ('all')
    python tools/cv_study.py summary      [--out runs/study]   # tables (with the rare-disease slice where spaCy is installed)
    python tools/cv_study.py priors       [--out runs/study]   # the same runs with calibrated label priors, cross-fitted

Every (run, fold) pair is one `medqa_nb.pipeline.cv_fold` call, the same thing as
`medqa-cv --fold K --output_dir runs/study/RUN <RUN's flags>`; a finished fold is never run again, so a study that hits
the deadline resumes where it stopped. Each worker process owns one GPU slot and claims folds through files."""
import argparse, dataclasses, json, os, shlex, subprocess, sys, time
from pathlib import Path

COMMON = ['--max_length', '512', '--eval_batch_size', '32', '--logging_steps', '10', '--save_steps', '0', '--report_to', 'none']
# trl's loss, named by the runs that trained with it (full fine-tuning defaults to the label loss), so that each command reproduces its record.
LM = ['--loss', 'lm']
# The recipe study's one GPU schedule: global batch 16 on one GPU, bf16, no gradient checkpointing.
S16 = ['--batch_size', '16', '--grad_accum', '1', '--no-gradient_checkpointing'] + LM
RECIPES = {
    'zero-shot': ['--eval_only'],
    'qlora-2e-4-2ep': S16 + ['--peft_method', 'qlora', '--learning_rate', '2e-4', '--epochs', '2'],  # the plain recipe
    'qlora-1e-3-4ep': S16 + ['--peft_method', 'qlora', '--learning_rate', '1e-3', '--epochs', '4'],
    'lora-1e-3-4ep': S16 + ['--peft_method', 'lora', '--learning_rate', '1e-3', '--epochs', '4'],
    'full-2e-5-3ep': S16 + ['--no-use_peft', '--learning_rate', '2e-5', '--epochs', '3'],
    'full-5e-5-3ep': S16 + ['--no-use_peft', '--learning_rate', '5e-5', '--epochs', '3'],
    'full-1e-4-3ep': S16 + ['--no-use_peft', '--learning_rate', '1e-4', '--epochs', '3'],
    'full-5e-5-6ep': S16 + ['--no-use_peft', '--learning_rate', '5e-5', '--epochs', '6'],
    'full-5e-5-3ep-explain': S16 + ['--no-use_peft', '--learning_rate', '5e-5', '--epochs', '3', '--answer_style', 'explain'],
    'full-5e-5-3ep-unbalanced': S16 + ['--no-use_peft', '--learning_rate', '5e-5', '--epochs', '3', '--balance', 'none'],
}
# The default's schedule as `speed_settings` picks it (token-budget batches): learning rate and epochs, chosen on folds 0-4.
SPEED = {'auto-3ep': LM, 'auto-lr3e-4-3ep': LM + ['--learning_rate', '3e-4'], 'auto-6ep': LM + ['--epochs', '6'], 'auto-10ep': LM + ['--epochs', '10']}
# The CPU recipe (the last layer on cached activations, 256 tokens): class weights, chosen on folds 0-4.
CPU = {'zero-shot-256': ['--eval_only', '--max_length', '256'],
       **{f'last-layer-cp{p:g}': ['--recipe', 'last_layer', '--max_length', '256', '--class_power', str(p)] for p in (0.75, 0.5, 0)}}
# The default with three seeds (training order and augmentation draws), fold models kept: their averaged probabilities
# ('ensemble') and their averaged weights ('soup', one model) are scored by `cv_study.py combine`.
SEEDS = {'auto': LM, 'auto-seed1': LM + ['--seed', '1'], 'auto-seed2': LM + ['--seed', '2']}
# The default on a cut model (`--head_depth`: the first 22 or 15 of 30 decoder layers), chosen on folds 0-4 against the seeds' runs.
DEPTH = {'auto-depth0.7333': LM + ['--head_depth', '0.7333'], 'auto-depth0.5': LM + ['--head_depth', '0.5']}
# The default on normalized records (`--normalize_terms`: abbreviations spelled out, concepts linked), against the seeds' runs.
NORMALIZE = {'auto-norm': LM + ['--normalize_terms']}
# LoRA (r=16, alpha 32) on the full-precision model instead of full fine-tuning: the adapter recipe's lr 1e-3 and 4 epochs, against the seeds' runs.
LORA = {'lora-r16': ['--recipe', 'qlora', '--peft_method', 'lora']}
# Two augmented variants of each training item instead of one (augmentation is the lever that moved the CV), against the seeds' runs.
COPIES = {'auto-copies2': LM + ['--augment_copies', '2']}
# The label loss (`--loss label`: cross-entropy over the three labels at the answer's position): plain, logit-adjusted for the
# training labels' shares instead of oversampling (tau 1), label-smoothed; chosen on folds 0-4 against the seeds' runs.
LOSS = {'auto-label': ['--loss', 'label'], 'auto-label-la1': ['--loss', 'label', '--balance', 'none', '--logit_adjust', '1'],
        'auto-label-ls0.1': ['--loss', 'label', '--label_smoothing', '0.1']}
# The chosen label loss again with another seed (training order and augmentation draws), against the seeds' runs.
LOSS_SEED = {'auto-label-seed1': ['--loss', 'label', '--seed', '1']}
VS_SEEDS = {'normalize': NORMALIZE, 'lora': LORA, 'copies': COPIES, 'loss': LOSS, 'loss-seed': LOSS_SEED}  # studies: chosen against the seeds' runs on folds 0-4, then held or not on folds 5-9
RUNS = {**RECIPES, **SPEED, **CPU, **SEEDS, **DEPTH, **NORMALIZE, **LORA, **COPIES, **LOSS, **LOSS_SEED}
AUG_OPS = ('synonym', 'mask', 'abbrev', 'all')

def run_args(name):
    "The flags of a run, from its name: a recipe, or a recipe + '+aug-OP' (without one, --augment '' : no augmentation)."
    base, _, op = name.partition('+aug-')
    return COMMON + RUNS[base] + ['--augment', op]

def command(name, out):
    "The equivalent console command of one run (all folds)."
    return shlex.join(['medqa-cv', '--output_dir', f'{out}/{name}', *run_args(name)])

def best_recipe(out):
    "The trained recipe with the highest mean macro-F1 over the folds."
    scores = {}
    for n in RECIPES:
        p = Path(out)/n/'cv.json'
        if n != 'zero-shot' and p.is_file(): scores[n] = json.loads(p.read_text())['macro_f1']['mean']
    if not scores: raise SystemExit(f"{out}: no finished recipe study (run `cv_study.py recipes` first)")
    return max(scores, key=scores.get)

def runs_for(study, out, base='auto'):
    if study == 'recipes': return list(RECIPES)
    if study == 'speed': return [f'{n}+aug-all' for n in SPEED]
    if study == 'cpu': return list(CPU)
    if study == 'seeds': return [f'{n}+aug-all' for n in SEEDS]
    if study == 'depth': return [f'{n}+aug-all' for n in DEPTH]
    if study in VS_SEEDS: return [f'{n}+aug-all' for n in VS_SEEDS[study]]
    b = best_recipe(out) if base == 'auto' else base
    return [f'{b}+aug-{op}' for op in AUG_OPS]

def worker(a):
    "Run folds of the study's runs until none is left or the deadline nears."
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import gc, torch
    from medqa_nb.core import parse_config
    from medqa_nb.train import TrainConfig
    from medqa_nb.pipeline import cv_fold, CV_DEFAULTS
    runs, t_end, folds = a.runs.split(','), float(a.t_end), [int(k) for k in a.folds.split(',')]
    jobs = ([(n, k) for n in runs for k in folds] if a.run_major else  # the chosen run's folds first
            [(n, k) for k in folds for n in runs])                       # fold-major: every run advances together
    longest = 45  # seconds a fold takes at most, as seen so far: no fold starts that would end after the deadline
    for n, k in jobs:
        d = Path(a.out)/n; d.mkdir(parents=True, exist_ok=True)
        if (d/f'fold{k}'/'cv_fold.json').is_file(): continue
        if time.time() > t_end - longest: print(f'[slot {a.slot}] deadline: stopping', flush=True); break
        try: os.close(os.open(d/f'fold{k}.claim', os.O_CREAT | os.O_EXCL))
        except FileExistsError: continue
        t = time.time()
        try:
            r = cv_fold(parse_config(TrainConfig, ['--output_dir', str(d)] + run_args(n) + a.extra.split(), 'medqa-cv', **CV_DEFAULTS), k)
            print(f"[slot {a.slot}] {n} fold{k}: acc {r['metrics']['accuracy']:.2f} F1 {r['metrics']['macro_f1']:.3f} "
                  f"pred {r['metrics']['pred_counts']} {time.time()-t:.0f} s", flush=True)
        except Exception as e:  # release the fold to the other slots and stop: this slot would fail the rest too (out of memory)
            import traceback; traceback.print_exc()
            (d/f'fold{k}.error').write_text(repr(e)); (d/f'fold{k}.claim').unlink(missing_ok=True)
            print(f'[slot {a.slot}] {n} fold{k}: FAILED {e!r}; this slot stops', flush=True); break
        longest = max(longest, time.time() - t)
        gc.collect(); torch.cuda.empty_cache()

def report(out, study, export):
    "A selection study's record: each run's per-fold metrics, the choice made on folds 0-4, and the chosen run's summary."
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from medqa_nb.pipeline import cv_summary, _rare_slice
    from medqa_nb.core import atomic_write
    chosen = json.loads((Path(out)/f'chosen_{study}.json').read_text())
    runs = {}
    for n in chosen['runs']:
        fs = {k: json.loads(p.read_text())['metrics'] for k in range(10) if (p := Path(out)/n/f'fold{k}'/'cv_fold.json').is_file()}
        runs[n] = {'command': command(n, 'runs/study'), 'folds': {k: {m: f[m] for m in ('accuracy', 'macro_f1', 'pred_counts')}
                                                                  | {'maybe_f1': f['per_class']['maybe']['f1']} for k, f in fs.items()}}
    rec = dict(chosen, runs=runs, summary=cv_summary(Path(out)/chosen['chosen'], _rare_slice()))
    atomic_write(export, json.dumps(rec, indent=1)); print(f'wrote {export}')
    return rec

def choose(out, names, folds=range(5), key='macro_f1'):
    "The run with the best mean `key` ('macro_f1', or 'acc+f1' for accuracy + macro-F1) over `folds`; each run's means printed."
    def score(n):
        fs = [json.loads((Path(out)/n/f'fold{k}'/'cv_fold.json').read_text())['metrics'] for k in folds]
        acc, f1 = sum(f['accuracy'] for f in fs) / len(fs), sum(f['macro_f1'] for f in fs) / len(fs)
        print(f"choose on folds {list(folds)}: {n}: accuracy {acc:.3f}, macro-F1 {f1:.3f}", flush=True)
        return f1 if key == 'macro_f1' else acc + f1
    done = [n for n in names if all((Path(out)/n/f'fold{k}'/'cv_fold.json').is_file() for k in folds)]
    return max(done, key=score) if done else None

def table(out, names, export=None):
    "Summarise the finished runs; with `export`, also write their summaries (no per-item predictions) to one JSON file."
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from medqa_nb.pipeline import cv_summary, CV_HEADER, cv_row, _rare_slice
    sl, rows, summ = _rare_slice(), [], {}
    for n in names:
        d = Path(out)/n
        if all((d/f'fold{k}'/'cv_fold.json').is_file() for k in range(10)):
            summ[n] = cv_summary(d, sl); rows.append(cv_row(n, summ[n]))
            summ[n]['command'] = command(n, 'runs/study')
        else: rows.append(f"| {n} | {sum((d/f'fold{k}'/'cv_fold.json').is_file() for k in range(10))}/10 folds | | | | | |")
    print(CV_HEADER + '\n' + '\n'.join(rows))
    if export:
        from medqa_nb.core import atomic_write
        atomic_write(export, json.dumps(summ, indent=1)); print(f'wrote {export}')


def priors(out, names):
    """Calibrated label priors, cross-fitted: for each fold, per-label log-biases that maximise macro-F1 on the other nine
    folds' held-out probabilities (a grid over [-2, 2]), applied to this fold. Prints mean accuracy and macro-F1."""
    import numpy as np
    from sklearn.metrics import f1_score
    labels, grid = ['yes', 'no', 'maybe'], np.arange(-2, 2.01, 0.1)
    for n in names:
        d = Path(out)/n
        if not all((d/f'fold{k}'/'cv_fold.json').is_file() for k in range(10)): continue
        folds = [json.loads((d/f'fold{k}'/'cv_fold.json').read_text()) for k in range(10)]
        lp = [np.log(np.array([f['probs'][pm] for pm in f['preds']]) + 1e-9) for f in folds]
        gold = [np.array([labels.index(f['gold'][pm]) for pm in f['preds']]) for f in folds]
        acc, f1 = [], []
        for k in range(10):
            x, g = np.concatenate([lp[j] for j in range(10) if j != k]), np.concatenate([gold[j] for j in range(10) if j != k])
            b = max(((0, b1, b2) for b1 in grid for b2 in grid), key=lambda b: f1_score(g, (x + b).argmax(1), average='macro'))
            pred = (lp[k] + np.array(b)).argmax(1)
            acc.append((pred == gold[k]).mean()); f1.append(f1_score(gold[k], pred, average='macro'))
        print(f"| {n} | {np.mean(acc):.3f} ± {np.std(acc, ddof=1):.3f} | {np.mean(f1):.3f} ± {np.std(f1, ddof=1):.3f} |", flush=True)

def combine(out, names, folds):
    """The seed runs combined, per fold that all of them finished: 'ensemble' averages their probabilities, 'soup' averages their weights (one model)
    and scores it as `cv_fold` does; both written as `<out>/<name>/fold<k>/cv_fold.json`. The fold models are then removed."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import numpy as np, shutil, torch
    from medqa_nb.core import atomic_write, LABELS
    from medqa_nb.evaluate import pubmedqa_metrics, load_for_eval, evaluate_model
    from medqa_nb.pipeline import CV_DEFAULTS
    from medqa_nb.core import parse_config
    from medqa_nb.train import TrainConfig, split_for, model_source
    for k in folds:
        if not all((Path(out)/n/f'fold{k}'/'cv_fold.json').is_file() for n in names) or (Path(out)/'soup'/f'fold{k}'/'cv_fold.json').is_file(): continue
        fs = [json.loads((Path(out)/n/f'fold{k}'/'cv_fold.json').read_text()) for n in names]
        pm = list(fs[0]['preds'])
        pr = np.mean([[f['probs'][p] for p in pm] for f in fs], 0)
        gold = [fs[0]['gold'][p] for p in pm]; pred = [LABELS[i] for i in pr.argmax(1)]
        m = pubmedqa_metrics(gold, pred, pr.tolist(), 0)
        res = dict(fold=k, metrics={x: m[x] for x in ('n', 'accuracy', 'macro_f1', 'per_class', 'pred_counts')},
                   preds=dict(zip(pm, pred)), gold=dict(zip(pm, gold)), probs={p: [round(float(x), 5) for x in r] for p, r in zip(pm, pr)})
        d = Path(out)/'ensemble'/f'fold{k}'; d.mkdir(parents=True, exist_ok=True); atomic_write(d/'cv_fold.json', json.dumps(res, indent=1))
        srcs = [Path(out)/n/f'fold{k}' for n in names]
        if all((s_/'adapter').is_dir() for s_ in srcs):
            cfg = parse_config(TrainConfig, ['--output_dir', str(srcs[0])] + run_args(names[0]), 'medqa-cv', **CV_DEFAULTS)
            (model, tok), *rest = [load_for_eval(*model_source(s_, cfg.model_name)) for s_ in srcs]
            sds = [model.state_dict()] + [m_.state_dict() for m_, _ in rest]
            with torch.no_grad():  # the soup: the first model's weights become the mean of all of them
                for n_, p_ in sds[0].items():
                    if p_.is_floating_point(): p_.copy_(sum(sd[n_].float() for sd in sds) / len(sds))
            del rest, sds
            _, test_items = split_for(dataclasses.replace(cfg, fold=k))
            r = evaluate_model(model, tok, test_items, f'fold{k}', cfg.eval_batch_size, cfg.max_length, n_boot=0)
            res = dict(fold=k, metrics={x: r['metrics'][x] for x in ('n', 'accuracy', 'macro_f1', 'per_class', 'pred_counts')},
                       preds=r['preds'], gold=r['gold'], probs={p: [round(float(x), 5) for x in row] for p, row in zip(r['preds'], r['probs'])})
            d = Path(out)/'soup'/f'fold{k}'; d.mkdir(parents=True, exist_ok=True); atomic_write(d/'cv_fold.json', json.dumps(res, indent=1))
            del model; torch.cuda.empty_cache()
            for s_ in srcs: shutil.rmtree(s_/'adapter', ignore_errors=True)
        for n in ('ensemble', 'soup'):
            p = Path(out)/n/f'fold{k}'/'cv_fold.json'
            if p.is_file():
                mm = json.loads(p.read_text())['metrics']; print(f"{n} fold{k}: acc {mm['accuracy']:.2f} F1 {mm['macro_f1']:.3f} pred {mm['pred_counts']}", flush=True)

def seeds_report(out, export):
    """The seeds study's record: each seed run's, the ensemble's and the soup's per-fold metrics (the folds finished), and
    the choice on folds 0-4 by macro-F1 among one model (the seed runs' mean: what `medqa-train` gives), the ensemble and
    the soup, once every entry has those folds."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from medqa_nb.core import atomic_write
    names = runs_for('seeds', out) + ['ensemble', 'soup']
    runs = {}
    for n in names:
        fs = {k: json.loads(p.read_text())['metrics'] for k in range(10) if (p := Path(out)/n/f'fold{k}'/'cv_fold.json').is_file()}
        runs[n] = {'command': command(n, 'runs/study') if n in runs_for('seeds', out) else f'cv_study.py combine ({n})',
                   'folds': {k: {m: f[m] for m in ('accuracy', 'macro_f1', 'pred_counts')} | {'maybe_f1': f['per_class']['maybe']['f1']}
                             for k, f in fs.items()}}
    seeds = runs_for('seeds', out)
    f1 = lambda n: sum(runs[n]['folds'][k]['macro_f1'] for k in range(5)) / 5
    score = {'one model': sum(map(f1, seeds)) / len(seeds), 'ensemble': f1('ensemble'), 'soup': f1('soup')} \
        if all(k in runs[n]['folds'] for n in names for k in range(5)) else {}
    rec = dict(chosen=max(score, key=score.get) if score else None, by='macro_f1', folds=list(range(5)), scores=score, runs=runs)
    atomic_write(export, json.dumps(rec, indent=1)); print(f'wrote {export}: chosen on folds 0-4: {rec["chosen"]}')
    return rec

def vs_seeds_report(out, export, study, ref='results/seeds_cv.json'):
    """A study's record against the seeds' runs ('normalize', 'lora', 'copies', 'loss', 'loss-seed'): each run's per-fold metrics (the folds
    finished, per-class F1 included); the choice on folds 0-4 by macro-F1 among the runs and one model (the seeds study's
    committed runs, `ref`: their mean); the best run's paired differences with 'auto' (seed 42) and one model on the same
    folds, whether it held against one model on folds 5-9, and its summary once all ten folds are finished."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from medqa_nb.core import atomic_write
    from medqa_nb.pipeline import cv_summary, _rare_slice
    names, seeds, ms = runs_for(study, out), runs_for('seeds', out), ('accuracy', 'macro_f1', 'maybe_f1')
    runs = {}
    for n in names:
        fs = {k: json.loads(p.read_text()) for k in range(10) if (p := Path(out)/n/f'fold{k}'/'cv_fold.json').is_file()}
        runs[n] = {k: {m: f['metrics'][m] for m in ('accuracy', 'macro_f1', 'pred_counts')} | {'maybe_f1': f['metrics']['per_class']['maybe']['f1'],
                   'per_class_f1': {l: c['f1'] for l, c in f['metrics']['per_class'].items()}}
                   | {m: f.get('train', {}).get(m) for m in ('train_samples_per_second', 'peak_memory_gb', 'device')} for k, f in fs.items()}
    sd = json.loads((Path(__file__).resolve().parents[1]/ref).read_text())['runs']
    mean = lambda xs: sum(xs) / len(xs)
    base = {'auto (seed 42)': {k: sd[seeds[0]]['folds'][str(k)] for k in range(10)},
            'one model': {k: {m: mean([sd[s]['folds'][str(k)][m] for s in seeds]) for m in ms} for k in range(10)}}
    score = {n: mean([f[k]['macro_f1'] for k in range(5)]) for n, f in runs.items() if all(k in f for k in range(5))}
    best = max(score, key=score.get) if score else names[0]  # the study's run that goes on to folds 5-9
    if score: score['one model'] = mean([base['one model'][k]['macro_f1'] for k in range(5)])
    folds = runs[best]
    paired = {b: {'folds': sorted(folds)} | {m: {'mean_diff': round(mean([folds[k][m] - v[k][m] for k in folds]), 4) if folds else None,
                                                 'per_fold': {k: round(folds[k][m] - v[k][m], 4) for k in folds}} for m in ms}
              for b, v in base.items()}
    hold = [k for k in range(5, 10) if k in folds]  # the estimate: the best run against one model on folds 5-9
    diff = {m: round(mean([folds[k][m] - base['one model'][k][m] for k in hold]), 4) for m in ms} if len(hold) == 5 else None
    chosen = max(score, key=score.get) if score else None
    rec = dict(chosen=chosen, by='macro_f1', folds=list(range(5)), scores=score, reference=ref, best=best,
               holdout=dict(folds=hold, vs='one model', mean_diff=diff, held=diff['macro_f1'] >= 0 if diff and chosen == best else None),
               runs={n: {'command': command(n, 'runs/study'), 'folds': f} for n, f in runs.items()}, paired=paired,
               summary=cv_summary(Path(out)/best, _rare_slice()) if len(folds) == 10 else None)
    atomic_write(export, json.dumps(rec, indent=1))
    for b, v in paired.items():
        print(f"{best} - {b}, folds {v['folds']}: " + ', '.join(f"{m} {v[m]['mean_diff']:+.3f}" for m in ms if v[m]['mean_diff'] is not None))
    print(f'wrote {export}: chosen on folds 0-4: {rec["chosen"]} ({", ".join(f"{k} {x:.3f}" for k, x in score.items())}); '
          f'folds 5-9, {best} against one model: {diff}, held: {rec["holdout"]["held"]}')
    return rec

def prepare(seeds='42', normalize=False):
    """Augment all 500 CV items once per operation (the training folds are subsets), filling the augmentation cache; other seeds: 'all' only.
    With `normalize`: normalize the 500 items instead (the normalization cache), then augment the normalized ones ('all')."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from medqa_nb.data import load_pubmedqa
    from medqa_nb.train import TrainConfig
    from medqa_nb.augmentation import augment_items, augment_cache_path
    c, items = TrainConfig(), list(load_pubmedqa())
    if normalize:
        from medqa_nb.terminology import normalize_items, normalize_cache_path
        t = time.time(); norm = normalize_items(items)
        print(f"normalize: {sum((n['question'], n['contexts']) != (r['question'], r['contexts']) for n, r in zip(norm, items))} of "
              f"{len(items)} items changed, {time.time()-t:.0f} s -> {normalize_cache_path()}", flush=True)
        items = norm
    for seed in map(int, seeds.split(',')):
        for op in (AUG_OPS if seed == c.seed and not normalize else ('all',)):
            t = time.time(); aug = augment_items(items, op, c.augment_p, c.augment_copies, seed)
            print(f"{op} (seed {seed}{', normalized' if normalize else ''}): {sum(bool(x['aug_ops']) for x in aug)} of {len(items)} variants changed, {time.time()-t:.0f} s -> "
                  f"{augment_cache_path(op, c.augment_p, seed)}", flush=True)

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('study', choices=['recipes', 'augmentation', 'speed', 'cpu', 'seeds', 'depth', 'normalize', 'lora', 'copies', 'loss', 'loss-seed', 'combine', 'prepare', 'summary', 'priors', 'commands'])
    ap.add_argument('--out', default='runs/study')
    ap.add_argument('--base', default='auto', help="augmentation: the recipe to augment ('auto': the best by macro-F1)")
    ap.add_argument('--slots', type=int, default=3, help='runs at a time per GPU')
    ap.add_argument('--deadline', type=float, default=540, help='seconds; no fold starts that would end after it (judged by the longest fold so far, 45 s before the first)')
    ap.add_argument('--extra', default='', help='flags added to every run (a smoke test: a tiny model, --max_steps 1)')
    ap.add_argument('--export', default=None, help='summary: also write the summaries to this JSON file')
    ap.add_argument('--seeds', default='42', help='prepare: augmentation seeds, comma-separated (the seeds study needs 42,1,2)')
    ap.add_argument('--normalize', action='store_true', help='prepare: normalize the items (--normalize_terms), then augment those')
    ap.add_argument('--slot', type=int, default=-1, help=argparse.SUPPRESS)
    ap.add_argument('--runs', default='', help="the study's runs to run (comma-separated), all of them by default")
    ap.add_argument('--t_end', default='', help=argparse.SUPPRESS)
    ap.add_argument('--folds', default=','.join(map(str, range(10))), help='the folds to run (comma-separated), all ten by default')
    ap.add_argument('--run_major', action='store_true', help=argparse.SUPPRESS)
    ap.add_argument('--select', default=None, choices=['macro_f1', 'acc+f1'],
                    help='choose on folds 0-4 first (by this score), then run the chosen run on folds 5-9 before the others')
    a = ap.parse_args()
    if a.slot >= 0: return worker(a)
    if a.study == 'prepare': return prepare(a.seeds, a.normalize)
    if a.study == 'combine': return combine(a.out, runs_for('seeds', a.out), [int(k) for k in a.folds.split(',')])
    if a.study == 'priors':
        return priors(a.out, list(RUNS) + sorted(n for n in os.listdir(a.out) if '+aug-' in n))
    if a.study == 'seeds' and a.export: return seeds_report(a.out, a.export)
    if a.study in VS_SEEDS and a.export: return vs_seeds_report(a.out, a.export, a.study)
    if a.study in ('speed', 'cpu', 'depth') and a.export: return report(a.out, a.study, a.export)
    if a.study == 'summary':
        names = list(RUNS) + [n for n in sorted(os.listdir(a.out)) if '+aug-' in n] if Path(a.out).is_dir() else []
        return table(a.out, names, a.export)
    runs = a.runs.split(',') if a.runs else runs_for(a.study, a.out, a.base) if a.study != 'commands' else list(RECIPES) + [
        n for n in (sorted(os.listdir(a.out)) if Path(a.out).is_dir() else []) if '+aug-' in n]
    if a.study == 'commands':
        for n in runs: print(command(n, a.out))
        return
    import torch
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from medqa_nb.modeling import resolve_model
    resolve_model('embedded')  # convert the GGUF once, before the workers start
    t_end = time.time() + a.deadline
    for c in Path(a.out).glob('*/fold*.claim'): c.unlink()  # claims of an earlier, stopped study
    n_gpu = max(torch.cuda.device_count(), 1)
    Path(a.out).mkdir(parents=True, exist_ok=True)
    def launch(runs, folds, run_major=False):
        procs = []
        for s in range(n_gpu * a.slots):
            env = {**os.environ, 'CUDA_VISIBLE_DEVICES': str(s % n_gpu), 'PYTHONUNBUFFERED': '1'}
            procs.append(subprocess.Popen([sys.executable, __file__, a.study, '--out', a.out, '--slot', str(s), f'--extra={a.extra}',
                                           '--runs', ','.join(runs), '--t_end', str(t_end), '--folds', ','.join(map(str, folds))]
                                          + (['--run_major'] if run_major else []), env=env,
                                          stdout=open(Path(a.out)/f'slot{s}.log', 'a'), stderr=subprocess.STDOUT))
            time.sleep(2)  # stagger the model loads
        for p in procs:
            try: p.wait(timeout=max(t_end + 60 - time.time(), 1))
            except subprocess.TimeoutExpired: p.kill()
        return len(procs)
    print(f"{a.study}: {len(runs)} runs x 10 folds on {n_gpu} GPU(s) ({torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu'}), "
          f"{n_gpu * a.slots} slots", flush=True)
    if a.select:  # choose on folds 0-4 only, then report folds 5-9 of the choice first
        nproc = launch(runs, range(5))
        cands = [n for n in runs if not n.startswith('zero-shot')]
        best = choose(a.out, cands, range(5), a.select)
        print(f"chosen on folds 0-4 by {a.select}: {best}", flush=True)
        (Path(a.out)/f'chosen_{a.study}.json').write_text(json.dumps(dict(chosen=best, by=a.select, folds=list(range(5)), runs=runs)))
        if best: launch([best] + [n for n in runs if n != best], range(5, 10), run_major=True)
    else: nproc = launch(runs, [int(k) for k in a.folds.split(',')])
    for s in range(nproc):
        print(''.join(l for l in open(Path(a.out)/f'slot{s}.log') if l.startswith('[slot') or 'Error' in l), end='')
    table(a.out, runs)
    for n in runs: print(command(n, a.out))

if __name__ == '__main__': main()
