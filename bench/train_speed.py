"""Training speed: the plain trl recipe vs the project's default, in one process, on one device, on the same data.

    python bench/train_speed.py [--device cuda|cpu] [--steps N] [--parts embedded,lora,7b] [--json results/train_speed.json]

Rows (each a fresh trainer; samples/s, real (non-pad) tokens/s and peak memory are measured by the bench itself: a
callback synchronizes the device at every optimizer step, and the real tokens are counted from each batch):

(a) the embedded model (SmolLM2-135M-Instruct) on the real training split of the default run (450 PQA-L items, one
    augmented copy each, balanced by oversampling: 1,488 items; `medqa_nb.train.split_for` + `sft_dataset`):
    - plain: trl `SFTTrainer(model=<folder>)`, `SFTConfig` as a user writes it: padded batches of 8, bf16 on a GPU, no
      gradient checkpointing, everything else trl's default (`--parts lora`: LoRA r=16 through `peft_config`);
    - fixed 4x4: `medqa_nb.train.build_trainer` with a fixed batch of 4 x 4 and gradient checkpointing, no Liger;
    - default: `medqa_nb.train.build_trainer(resolve_recipe(TrainConfig()))`, the settings `speed_settings` picks for
      this device; on a GPU over its whole 3-epoch schedule, with the dev accuracy of the result (50 items; a sanity
      check, not the CV);
    - on a CPU also the CPU recipes: `last_layer` (the main job's: items x epochs per second, the cache included) and
      `label_head` (items per second, the forward pass through its cut model included).
(b) a Llama-2-7B-shaped model (hidden 4096, 32 layers, MLP 11008, vocabulary 32,000) with random weights, every
    parameter initialised explicitly, its linear layers quantized to 4-bit NF4 (double quantization, bf16 compute and
    bf16 storage, as `medqa_nb.modeling.quant_config`), LoRA r=16 alpha=32 on all linear layers:
    - plain loop: `prepare_model_for_kbit_training` + peft + `torch.optim.AdamW`, bf16 autocast, batches of 8 items
      padded to 512 tokens, loss on every real token;
    - default: trl `SFTTrainer` with `medqa_nb.train.sft_config` of the QLoRA recipe as `speed_settings` picks it for a
      7B model on this device (and a half-size batch beside it).
    The token ids are the embedded tokenizer's, modulo 32,000 (random weights: only the lengths matter).

Results go to `--json` (written atomically, keyed by device); the table is printed last, with the device's name.
"""
from __future__ import annotations
import argparse, contextlib, gc, json, math, os, shutil, sys, tempfile, time, traceback, warnings
from pathlib import Path

T_START = time.time()
MODEL = 'embedded'  # `--model`: the model of part (a); a tiny folder for smoke tests
def log(*a): print(f"[{time.time()-T_START:6.1f}s]", *a, flush=True)

# ----------------------------------------------------------------------------------------------------------- device

def device_info(dev:str) -> dict:
    import torch, transformers, trl, peft
    from medqa_nb.core import cpu_info
    cpu = cpu_info()
    d = dict(device=dev, torch=torch.__version__, transformers=transformers.__version__, trl=trl.__version__, peft=peft.__version__,
             cpu=cpu['name'], cpu_cores=cpu['cores'], cpu_flags=cpu['flags'] or [], threads=torch.get_num_threads())
    for m in ('liger_kernel', 'bitsandbytes', 'triton'):
        try: d[m] = __import__(m).__version__ if hasattr(__import__(m), '__version__') else 'present'
        except Exception: d[m] = None
    if dev == 'cuda':
        p = torch.cuda.get_device_properties(0)
        d.update(gpu=torch.cuda.get_device_name(0), gpu_memory_gib=round(p.total_memory / 2**30, 1), capability=f"{p.major}.{p.minor}")
    d['name'] = d.get('gpu') or f"cpu: {cpu['text']}"
    return d

def sync(dev):
    import torch
    if dev == 'cuda': torch.cuda.synchronize()

def reset_peak(dev):
    import torch
    gc.collect()
    if dev == 'cuda': torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats()

def peak_gib(dev):
    import torch, resource
    if dev == 'cuda': return round(torch.cuda.max_memory_allocated() / 2**30, 2)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)  # process peak RSS (monotonic on CPU)

@contextlib.contextmanager
def restore_llama_module():
    "Liger patches `transformers.models.llama.modeling_llama` module-wide (RoPE, RMSNorm, MLP classes): undo it after each row."
    from transformers.models.llama import modeling_llama as ml
    saved = dict(vars(ml))
    try: yield
    finally:
        for k, v in saved.items():
            if vars(ml).get(k) is not v: setattr(ml, k, v)

# ------------------------------------------------------------------------------------------------------------- data
def embedded_data(max_length:int=512, items_file:str|None=None):
    "The default run's training items as trl prompt/completion rows (the project's functions), its dev items and the tokenizer."
    from medqa_nb.train import TrainConfig, split_for, sft_dataset
    from medqa_nb.modeling import load_tokenizer
    cfg = TrainConfig(max_length=max_length)
    tok = load_tokenizer(cfg.model_name, padding_side='right')
    tr, dev = split_for(cfg)
    try: ds = sft_dataset(tr, tok, cfg)
    except ImportError as e:  # no terminology stack and no augmentation cache: the same items, augmented elsewhere
        if not items_file: raise
        log(f'augmentation not available here ({e}); items from {items_file}')
        from datasets import Dataset
        from medqa_nb.data import make_example
        ex = [make_example(r, tok, cfg.max_length, cfg.answer_style) for r in json.loads(Path(items_file).read_text())]
        ds = Dataset.from_list([{'prompt': e['prompt'], 'completion': e['completion']} for e in ex])
    return ds, dev, tok

# ---------------------------------------------------------------------------------------------------- measurement
class Meter:
    "Counts samples and real tokens of each micro-batch (lazily, no sync) and times each optimizer step (synchronized)."
    def __init__(self, dev): self.dev, self.t, self.steps, self.cur = dev, [], [], []
    def count(self, inputs):
        import torch
        ids = inputs['input_ids']
        if 'attention_mask' in inputs and inputs['attention_mask'] is not None and inputs['attention_mask'].dim() == 2:
            self.cur.append((ids.shape[0], inputs['attention_mask'].sum(), ids.numel()))
        elif 'position_ids' in inputs:  # padding-free: one row; a sequence starts where position 0 is followed by 1
            pos = inputs['position_ids']
            starts = ((pos[..., :-1] == 0) & (pos[..., 1:] == 1)).sum()
            lone = (pos == 0).sum() - starts  # padding positions (position 0, not followed by 1)
            self.cur.append((starts, pos.numel() - lone, pos.numel()))
        else: self.cur.append((ids.shape[0], ids.numel(), ids.numel()))
    def begin(self): sync(self.dev); self.t0 = time.perf_counter()
    def step(self):
        sync(self.dev); self.t.append(time.perf_counter()); self.steps.append(self.cur); self.cur = []
    def summary(self, warm:int=2) -> dict:
        f = lambda x: float(x.item()) if hasattr(x, 'item') else float(x)
        per = [(sum(f(a) for a, _, _ in s), sum(f(b) for _, b, _ in s), sum(f(c) for _, _, c in s)) for s in self.steps]
        n = len(per)
        if n == 0: return {}
        tot = [sum(p[i] for p in per) for i in range(3)]
        wall = self.t[-1] - self.t0
        r = dict(steps=n, samples=int(tot[0]), real_tokens=int(tot[1]), padded_tokens=int(tot[2]), wall_s=round(wall, 2),
                 samples_per_s=round(tot[0] / wall, 2), real_tokens_per_s=round(tot[1] / wall, 1),
                 pad_share=round(1 - tot[1] / max(tot[2], 1), 3), first_step_s=round(self.t[0] - self.t0, 2))
        w = min(warm, n - 1) if n > 1 else 0
        if w > 0:
            s = [sum(p[i] for p in per[w:]) for i in range(2)]
            dt = self.t[-1] - self.t[w - 1]
            r.update(steady_samples_per_s=round(s[0] / dt, 2), steady_real_tokens_per_s=round(s[1] / dt, 1),
                     steady_step_s=round(dt / (n - w), 4))
        return r

def metered_trainer(meter, **kw):
    "An `SFTTrainer` whose micro-batches are counted and whose optimizer steps are timed by `meter`."
    from trl import SFTTrainer
    from transformers import TrainerCallback
    class _CB(TrainerCallback):
        def on_train_begin(self, *a, **k): meter.begin()
        def on_step_end(self, *a, **k): meter.step()
    class MeteredSFTTrainer(SFTTrainer):
        def training_step(self, model, inputs, *a, **k):
            meter.count(inputs); return super().training_step(model, inputs, *a, **k)
    return MeteredSFTTrainer(callbacks=[_CB()], **kw)

# --------------------------------------------------------------------------------------------------------- recipes
def base_args(dev, out, **kw):
    from trl import SFTConfig
    d = dict(output_dir=out, save_strategy='no', report_to=[], disable_tqdm=True, seed=42, data_seed=42,
             completion_only_loss=True, use_cpu=dev == 'cpu')
    d.update(kw)
    if dev == 'cpu': d['dataloader_pin_memory'] = False
    return SFTConfig(**d)

def lora_cfg():
    from medqa_nb.modeling import lora_config
    return lora_config(16, 32, 0.05)

def run_row(name, dev, ds, tok, *, model, args_kw, peft=None, warm=2, dev_items=None, notes=''):
    "Train one row; returns its measurements."
    from medqa_nb.modeling import resolve_model
    out = tempfile.mkdtemp(prefix='ts_')
    meter = Meter(dev)
    reset_peak(dev)
    t0 = time.time()
    with restore_llama_module(), warnings.catch_warnings():
        warnings.simplefilter('ignore')
        if model == 'path': model = resolve_model(MODEL)  # trl loads it (plain recipe)
        elif callable(model): model = model()
        args = base_args(dev, out, **args_kw)
        tr = metered_trainer(meter, model=model, args=args, train_dataset=ds, processing_class=tok, peft_config=peft)
        t_init = time.time() - t0
        res = tr.train()
        r = meter.summary(warm)
        r.update(name=name, init_s=round(t_init, 1), peak_gib=peak_gib(dev), train_loss=round(res.training_loss, 4),
                 global_step=res.global_step, notes=notes,
                 settings={k: (v if isinstance(v, (int, float, str, bool, type(None))) else str(v)) for k, v in args_kw.items()})
        losses = [h['loss'] for h in tr.state.log_history if 'loss' in h]
        r['logged_losses'] = [round(x, 4) for x in losses]
        if dev_items is not None:
            r['dev'] = dev_accuracy(tr.model, dev_items)
    del tr; shutil.rmtree(out, ignore_errors=True); reset_peak(dev)
    return r

def dev_accuracy(model, dev_items):
    from medqa_nb.evaluate import evaluate_model
    from medqa_nb.modeling import load_tokenizer
    model.eval()
    r = evaluate_model(model, load_tokenizer(MODEL), dev_items, 'bench', 8, 512, n_boot=0)
    return {k: r['metrics'][k] for k in ('n', 'accuracy', 'macro_f1', 'pred_counts') if k in r['metrics']}

def project_row(name, dev, ds, tok, dev_items=None, warm=1, **flags):
    "A row trained by `medqa_nb.train.build_trainer` itself, on `resolve_recipe(TrainConfig(**flags))` for this device."
    import medqa_nb.train as T, trl
    from transformers import TrainerCallback
    cfg = T.resolve_recipe(T.TrainConfig(model_name=MODEL, save_steps=0, report_to='none', logging_steps=10,
                                         output_dir=tempfile.mkdtemp(prefix='ts_'), **flags))
    meter = Meter(dev); reset_peak(dev)
    class _CB(TrainerCallback):
        def on_train_begin(self, *a, **k): meter.begin()
        def on_step_end(self, *a, **k): meter.step()
    orig = trl.SFTTrainer
    class _Metered(orig):
        def __init__(self, *a, **k): super().__init__(*a, callbacks=[_CB()], **k)
        def training_step(self, model, inputs, *a, **k):
            meter.count(inputs); return super().training_step(model, inputs, *a, **k)
    t0 = time.time()
    with restore_llama_module(), warnings.catch_warnings():
        warnings.simplefilter('ignore')
        trl.SFTTrainer = _Metered
        try: tr = T.build_trainer(cfg, ds, tok)
        finally: trl.SFTTrainer = orig
        t_init = time.time() - t0
        res = tr.train()
        r = meter.summary(warm)
        r.update(name=name, init_s=round(t_init, 1), peak_gib=peak_gib(dev), train_loss=round(res.training_loss, 4),
                 global_step=res.global_step, notes='medqa_nb.train.build_trainer',
                 settings={k: getattr(cfg, k) for k in ('batch_size', 'grad_accum', 'gradient_checkpointing', 'liger', 'learning_rate',
                                                        'max_length', 'epochs', 'max_steps', 'use_peft', 'peft_method')})
        if dev_items is not None: r['dev'] = dev_accuracy(tr.model, dev_items)
    shutil.rmtree(cfg.output_dir, ignore_errors=True); del tr; reset_peak(dev)
    return r

def last_layer_row(name, dev, items, tok, max_length, epochs=2):
    "The `last_layer` recipe (the main job's CPU recipe) on `items`: items x epochs per second, the activation cache included."
    import medqa_nb.train as T
    cfg = T.resolve_recipe(T.TrainConfig(model_name=MODEL, recipe='last_layer', max_length=max_length, epochs=epochs, augment=''))
    out = Path(tempfile.mkdtemp(prefix='tsl_')); reset_peak(dev)
    t0 = time.time(); m = T.train_last_layer(cfg, items, tok, out); wall = time.time() - t0
    shutil.rmtree(out, ignore_errors=True)
    n = len(items) * epochs
    return dict(name=name, steps=m['global_step'], samples=n, wall_s=round(wall, 2), samples_per_s=round(n / wall, 2),
                cache_s=m['cache_s'], peak_gib=peak_gib(dev), train_loss=m['train_loss'],
                notes=f'{len(items)} items x {epochs} epochs; the frozen layers run once per item (cache), the last layer every epoch',
                settings=dict(batch_size=cfg.batch_size, learning_rate=cfg.learning_rate, max_length=max_length, epochs=epochs))

def label_head_row(name, dev, items, tok, max_length):
    "The `label_head` recipe (the other CPU recipe) on `items`: items per second, the forward pass over them included."
    import medqa_nb.train as T
    cfg = T.resolve_recipe(T.TrainConfig(model_name=MODEL, recipe='label_head', max_length=max_length, augment=''))
    out = Path(tempfile.mkdtemp(prefix='tsh_')); reset_peak(dev)
    t0 = time.time(); m = T.train_label_head(cfg, items, tok, out); wall = time.time() - t0
    shutil.rmtree(out, ignore_errors=True)
    return dict(name=name, steps=m['global_step'], samples=len(items), wall_s=round(wall, 2), samples_per_s=round(len(items) / wall, 2),
                cache_s=m['cache_s'], peak_gib=peak_gib(dev), train_loss=m['train_loss'],
                notes=f'{len(items)} items, one forward pass each through the cut model (their last states), then L-BFGS on the three label rows',
                settings=dict(head_l2=cfg.head_l2, head_depth=cfg.head_depth, class_power=cfg.class_power, max_length=max_length))

# --------------------------------------------------------------------------------------------------- 7B-shape QLoRA
LLAMA2_7B = dict(vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
                 num_key_value_heads=32, max_position_embeddings=4096, rms_norm_eps=1e-5, tie_word_embeddings=False)

def build_qlora_base(shape:dict=LLAMA2_7B, device='cuda', seed=0):
    "A Llama model of `shape` on `device`, every parameter initialised explicitly, linear layers in 4-bit NF4 (bf16 storage)."
    import torch, bitsandbytes as bnb
    from transformers import LlamaConfig, LlamaForCausalLM
    cfg = LlamaConfig(**shape, bos_token_id=1, eos_token_id=2, pad_token_id=0)
    torch.manual_seed(seed)
    with torch.device('meta'): model = LlamaForCausalLM(cfg)
    model.to(torch.bfloat16).to_empty(device=device)  # uninitialised memory: everything is written below
    with torch.no_grad():
        for n, p in model.named_parameters():
            if 'norm' in n: p.fill_(1.0)
            else: p.normal_(0.0, 0.02)
    model.model.rotary_emb = type(model.model.rotary_emb)(model.config).to(device)  # fp32 inv_freq, computed
    n4 = 0
    for layer in model.model.layers:
        for parent in (layer.self_attn, layer.mlp):
            for cname, lin in list(parent.named_children()):
                if not isinstance(lin, torch.nn.Linear): continue
                q = bnb.nn.Linear4bit(lin.in_features, lin.out_features, bias=False, compute_dtype=torch.bfloat16,
                                      compress_statistics=True, quant_type='nf4', quant_storage=torch.bfloat16, device='meta')
                w = bnb.nn.Params4bit(lin.weight.data, requires_grad=False, compress_statistics=True, quant_type='nf4',
                                      quant_storage=torch.bfloat16, module=q)
                q.weight = w._quantize(device)
                setattr(parent, cname, q); del lin, w; n4 += 1
    if device == 'cuda': torch.cuda.empty_cache()
    model.is_loaded_in_4bit = True; model.config.use_cache = False
    # 4-bit weights are packed bytes (bf16 storage): check them dequantized
    bad = [n for n, t in list(model.named_parameters()) + list(model.named_buffers())
           if t.is_floating_point() and not isinstance(t, bnb.nn.Params4bit) and not torch.isfinite(t).all()]
    l0 = model.model.layers[0].mlp.down_proj
    bad += [] if torch.isfinite(bnb.functional.dequantize_4bit(l0.weight.data, l0.weight.quant_state)).all() else ['layers.0.mlp.down_proj (dequantized)']
    assert not bad, f'non-finite tensors: {bad[:5]}'
    log(f"QLoRA base: {n4} 4-bit linear layers" + (f", {torch.cuda.memory_allocated()/2**30:.2f} GiB on the GPU" if device == 'cuda' else ''))
    return model

def tokenized_7b(ds, tok, vocab=32000, max_length=512):
    "Pre-tokenized prompt/completion rows (input_ids, completion_mask), ids modulo the 7B vocabulary."
    from datasets import Dataset
    rows = []
    eos = tok.eos_token or ''
    for e in ds:
        p = tok(e['prompt'], add_special_tokens=False)['input_ids']; c = tok(e['completion'] + eos, add_special_tokens=False)['input_ids']
        ids = ([1] + [i % vocab for i in p + c])[:max_length]
        rows.append({'input_ids': ids, 'completion_mask': ([0] * (1 + len(p)) + [1] * len(c))[:max_length]})
    return Dataset.from_list(rows)

def plain_qlora_loop(model, tds, steps, batch=8, seq=512, lr=2e-4, dev='cuda'):
    "The plain peft + bitsandbytes loop: prepare_model_for_kbit_training, LoRA, AdamW, bf16 autocast, 8 x 512 padded."
    import torch
    from peft import prepare_model_for_kbit_training, get_peft_model
    model = prepare_model_for_kbit_training(model)  # fp32 norms/embeddings/head, reentrant checkpointing on
    pm = get_peft_model(model, lora_cfg())
    opt = torch.optim.AdamW([p for p in pm.parameters() if p.requires_grad], lr=lr)
    pm.train()
    rows = list(tds)
    meter = Meter(dev); reset_peak(dev)
    meter.begin()
    for s in range(steps):
        b = rows[(s * batch) % len(rows):][:batch]
        ids = torch.zeros(len(b), seq, dtype=torch.long); am = torch.zeros(len(b), seq, dtype=torch.long)
        for i, r in enumerate(b): ids[i, :len(r['input_ids'])] = torch.tensor(r['input_ids']); am[i, :len(r['input_ids'])] = 1
        labels = ids.masked_fill(am == 0, -100)
        ids, am, labels = ids.to(dev), am.to(dev), labels.to(dev)
        meter.cur.append((len(b), am.sum(), am.numel()))
        with torch.autocast(dev, dtype=torch.bfloat16):
            loss = pm(input_ids=ids, attention_mask=am, labels=labels).loss
        loss.backward(); opt.step(); opt.zero_grad(set_to_none=True)
        meter.step()
    r = meter.summary(2); r.update(name='plain loop', peak_gib=peak_gib(dev), train_loss=round(float(loss), 4),
                                   settings=dict(batch=batch, seq=seq, gradient_checkpointing='reentrant (prepare_model_for_kbit_training)',
                                                 lr=lr, optim='torch AdamW'), notes='peft+bitsandbytes, full-sequence loss')
    del opt
    base = pm.unload()  # the LoRA layers out again
    import torch as _t
    with _t.no_grad():  # undo prepare_model_for_kbit_training's fp32 upcast and its hooks
        for n, p in base.named_parameters():
            if p.dtype == _t.float32: p.data = p.data.to(_t.bfloat16)
    base.gradient_checkpointing_disable()
    try: base.disable_input_require_grads()
    except Exception: pass
    for p in base.parameters(): p.requires_grad_(False)
    reset_peak(dev)
    return r, base

def default_qlora_args(out, steps, dev='cuda', **flags):
    "The project's `SFTConfig` for QLoRA on a 7B-shaped model on this device (`speed_settings`, `sft_config`)."
    import dataclasses, torch
    from transformers import LlamaConfig
    import medqa_nb.train as T
    cfg = dataclasses.replace(T.TrainConfig(recipe='qlora', max_length=512, output_dir=out, max_steps=steps, save_steps=0,
                                            report_to='none', logging_steps=10, **flags), use_peft=True, peft_method='qlora', epochs=1.0)
    cfg = dataclasses.replace(cfg, **T.speed_settings(cfg, LlamaConfig(**LLAMA2_7B), 6.7e9, **T._hardware()))
    args = T.sft_config(cfg, torch.bfloat16)
    args.disable_tqdm = True
    return args, cfg

def qlora_sft_row(name, base, tds, tok, steps, dev='cuda', **flags):
    "The project's QLoRA settings through trl's SFTTrainer on the same 4-bit model (pre-tokenized rows)."
    from peft import get_peft_model
    pm = get_peft_model(base, lora_cfg())
    meter = Meter(dev); reset_peak(dev)
    out = tempfile.mkdtemp(prefix='ts7_')
    t0 = time.time()
    with restore_llama_module(), warnings.catch_warnings():
        warnings.simplefilter('ignore')
        args, cfg = default_qlora_args(out, steps, dev, **flags)
        tr = metered_trainer(meter, model=pm, args=args, train_dataset=tds, processing_class=tok)
        t_init = time.time() - t0
        res = tr.train()
    r = meter.summary(2)
    r.update(name=name, init_s=round(t_init, 1), peak_gib=peak_gib(dev), train_loss=round(res.training_loss, 4),
             settings={k: getattr(cfg, k) for k in ('batch_size', 'grad_accum', 'gradient_checkpointing', 'liger', 'learning_rate')})
    del tr
    base = pm.unload()
    shutil.rmtree(out, ignore_errors=True); reset_peak(dev)
    return r, base

# ------------------------------------------------------------------------------------------------------------ table
def ratio(a, b): return round(a / b, 2) if a and b else None

def table(res) -> str:
    lines = [f"device: {res['device']['name']}   torch {res['device']['torch']}, transformers {res['device']['transformers']}, "
             f"trl {res['device']['trl']}, liger {res['device'].get('liger_kernel')}, bitsandbytes {res['device'].get('bitsandbytes')}"]
    hdr = "| part | row | steps | samples | samples/s | steady samples/s | real tok/s | pad share | peak GiB | vs plain (samples/s) | vs plain (real tok/s) |"
    lines += [hdr, '|' + '---|' * 11]
    for part, rows in res['parts'].items():
        if not isinstance(rows, list): continue
        plain = next((r for r in rows if r.get('name', '').endswith('plain') or 'plain' in r.get('name', '')), None)
        for r in rows:
            if 'error' in r: lines.append(f"| {part} | {r['name']} | failed: {r['error'][:90]} |" + ' |' * 8); continue
            if 'samples' not in r: continue
            tps = f"{r['real_tokens_per_s']:.0f}" if 'real_tokens_per_s' in r else ''
            lines.append(f"| {part} | {r['name']} | {r['steps']} | {r['samples']} | {r['samples_per_s']} | {r.get('steady_samples_per_s', '')} | "
                         f"{tps} | {r.get('pad_share', '')} | {r['peak_gib']} | "
                         f"{ratio(r['samples_per_s'], plain and plain.get('samples_per_s')) or ''} | "
                         f"{ratio(r.get('real_tokens_per_s'), plain and plain.get('real_tokens_per_s')) or ''} |")
    return '\n'.join(lines)

def write_json(path, obj, key):
    "Write `obj` under `key` ('cuda' or 'cpu') of the results file, keeping the other device's results; atomically."
    p = Path(path); p.parent.mkdir(parents=True, exist_ok=True)
    try: old = json.loads(p.read_text()) if p.is_file() else {}
    except json.JSONDecodeError: old = {}
    old = old if isinstance(old, dict) and set(old) <= {'cuda', 'cpu'} else {}
    old[key] = obj
    tmp = p.with_name(f'.{p.name}.{os.getpid()}.tmp')
    tmp.write_text(json.dumps(old, indent=1, default=str)); os.replace(tmp, p)

# ------------------------------------------------------------------------------------------------------------- main
TINY_LLAMA = dict(vocab_size=32000, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=4, max_position_embeddings=1024, rms_norm_eps=1e-5, tie_word_embeddings=False)

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--device', default=None, help="'cuda' or 'cpu' (default: cuda when available)")
    ap.add_argument('--steps', type=int, default=None, help='optimizer steps of a plain row (default: 30 on GPU, 2 on CPU)')
    ap.add_argument('--parts', default=None, help="comma-separated, run in this order: embedded, lora, 7b (default: all on GPU; embedded on CPU)")
    ap.add_argument('--json', default='results/train_speed.json', help='results file (atomic write)')
    ap.add_argument('--budget_s', type=float, default=540, help='skip rows that would start after this many seconds')
    ap.add_argument('--items', default=None, help='pre-augmented training items (JSON) for machines without the terminology stack')
    ap.add_argument('--limit', type=int, default=0, help='use only the first N training rows (smoke tests)')
    ap.add_argument('--model', default='embedded', help="part (a)'s model (default: the embedded SmolLM2; a small folder for smoke tests)")
    ap.add_argument('--tiny7b', action='store_true', help='part 7b with a 2-layer model of hidden size 64 (smoke test of the code path)')
    a = ap.parse_args(argv)
    global MODEL; MODEL = a.model
    import torch, logging
    logging.getLogger('transformers').setLevel(logging.ERROR)
    os.environ.setdefault('TOKENIZERS_PARALLELISM', 'false')
    dev = a.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    gpu = dev == 'cuda'
    steps = a.steps or (30 if gpu else 2)
    parts = (a.parts or ('embedded,lora,7b' if gpu else 'embedded')).split(',')
    info = device_info(dev)
    log('device:', info['name'])
    res = dict(device=info, argv=sys.argv[1:], parts={}, started=time.strftime('%Y-%m-%d %H:%M:%S'))
    def save(): res['elapsed_s'] = round(time.time() - T_START, 1); write_json(a.json, res, dev)
    def over(): return time.time() - T_START > a.budget_s

    def attempt(part, name, fn):
        rows = res['parts'].setdefault(part, [])
        if over(): log(f'skip {part}/{name}: over budget'); rows.append(dict(name=name, skipped='budget')); save(); return None
        log(f'--- {part}: {name}')
        try:
            r = fn(); rows.append(r)
            log({k: r.get(k) for k in ('samples_per_s', 'steady_samples_per_s', 'real_tokens_per_s', 'pad_share', 'peak_gib', 'train_loss',
                                       'init_s', 'global_step', 'settings', 'dev') if k in r})
        except Exception as e:
            traceback.print_exc(); rows.append(dict(name=name, error=f'{type(e).__name__}: {e}')); r = None
            reset_peak(dev)
        save(); return r

    max_len = 512 if gpu else 384  # CPU: shorter items, so that a CPU row takes minutes, not hours; every CPU row uses the same rows
    ds, dev_items, tok = embedded_data(max_len, a.items)
    if a.limit: ds = ds.select(range(min(a.limit, len(ds))))
    log(f'training rows: {len(ds)} (max_length {max_len})')
    prec = dict(bf16=True) if gpu else {}
    plain_kw = dict(per_device_train_batch_size=8, gradient_checkpointing=False, max_steps=steps, max_length=max_len, **prec)
    n_like = lambda b: max(2, steps * 8 // b)  # optimizer steps of `b` items that see about as many samples as the plain row

    for part in parts:
        if part == 'embedded':
            P = 'embedded full FT'
            attempt(P, 'plain', lambda: run_row('plain', dev, ds, tok, model='path', args_kw=plain_kw,
                notes='trl SFTTrainer(model=folder), SFTConfig(per_device_train_batch_size=8, gradient_checkpointing=False)'))
            attempt(P, 'fixed 4x4, checkpointing', lambda: project_row('fixed 4x4, checkpointing', dev, ds, tok, max_length=max_len,
                batch_size=4, grad_accum=4, gradient_checkpointing=True, liger=False, max_steps=n_like(16) if not gpu else max(3, steps // 4)))
            if gpu:  # the default over its whole schedule, with the dev accuracy of what it trained
                attempt(P, 'default (whole schedule)', lambda: project_row('default (whole schedule)', dev, ds, tok, dev_items=dev_items, max_length=max_len))
            else:
                attempt(P, 'default', lambda: project_row('default', dev, ds, tok, max_length=max_len, max_steps=max(1, steps // 2)))
                from medqa_nb.train import split_for, TrainConfig
                items = split_for(TrainConfig())[0][:a.limit or 64]
                attempt(P, 'last_layer (CPU main job)', lambda: last_layer_row('last_layer (CPU main job)', dev, items, tok, 256))
                attempt(P, 'label_head', lambda: label_head_row('label_head', dev, items, tok, 256))
        elif part == 'lora':
            P = 'embedded LoRA'
            attempt(P, 'plain', lambda: run_row('plain', dev, ds, tok, model='path', peft=lora_cfg(), args_kw=plain_kw,
                notes='trl SFTTrainer(model=folder, peft_config=LoRA r16), batch 8'))
            attempt(P, 'default', lambda: project_row('default', dev, ds, tok, max_length=max_len, peft_method='lora', epochs=1.0))
        elif part == '7b':
            P = '7B-shape QLoRA' if not a.tiny7b else 'tiny-shape QLoRA (smoke test)'
            if not (gpu or a.tiny7b): continue
            if over(): res['parts'].setdefault(P, []).append(dict(name='all', skipped='budget')); continue
            try:
                base = build_qlora_base(TINY_LLAMA if a.tiny7b else LLAMA2_7B, dev)
                tds = tokenized_7b(ds, tok)
                n7 = max(8, steps // 3) if gpu else 2
                log(f'--- {P}: plain loop')
                r, base = plain_qlora_loop(base, tds, n7, dev=dev); res['parts'].setdefault(P, []).append(r); log(r); save()
                for nm, flags in [('default', {}), ('token budget 8192', dict(batch_tokens=8192))]:
                    if over(): res['parts'][P].append(dict(name=nm, skipped='budget')); continue
                    log(f'--- {P}: {nm}')
                    try:
                        r, base = qlora_sft_row(nm, base, tds, tok, max(4, n7 // 2), dev=dev, **flags)
                        res['parts'][P].append(r); log({k: r.get(k) for k in ('samples_per_s', 'real_tokens_per_s', 'steady_real_tokens_per_s', 'peak_gib', 'pad_share', 'settings')})
                    except Exception as e:
                        traceback.print_exc(); res['parts'][P].append(dict(name=nm, error=f'{type(e).__name__}: {e}')); reset_peak(dev)
                    save()
                del base; reset_peak(dev)
            except Exception as e:
                traceback.print_exc(); res['parts'].setdefault(P, []).append(dict(name='build/plain', error=f'{type(e).__name__}: {e}')); save()
    res['table'] = table(res); save()
    print('\n' + res['table'], flush=True)
    return res

if __name__ == '__main__': main()
