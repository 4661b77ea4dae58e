"""Terminology speed on this CPU: knowledge-base build vs cached load, and normalize throughput on the PubMedQA abstracts.
Run from the repository root: python bench/terminology_speed.py [--rebuild] [--n 500]"""
import argparse, os, tempfile, time, warnings
warnings.filterwarnings('ignore')
from medqa_nb.data import load_pubmedqa
import medqa_nb.terminology as term

p = argparse.ArgumentParser(); p.add_argument('--rebuild', action='store_true', help='also time a first build into a fresh cache')
p.add_argument('--n', type=int, default=500); a = p.parse_args()
if a.rebuild:
    t = time.time(); kb = term.load_kb(path=os.path.join(tempfile.mkdtemp(), 'kb.json.gz')); build = time.time() - t
    print(f"first KB build: {build:.1f} s ({len(kb)} concepts)")
t = time.time(); kb = term.load_kb(); load = time.time() - t
print(f"cached KB load: {load:.2f} s" + (f"  (build/load = {build/load:.0f}x)" if a.rebuild else ''))
t = time.time(); T = term.Terminology(kb=kb); print(f"Terminology init (matcher from cache, inventory, scispacy): {time.time() - t:.1f} s")
ds = load_pubmedqa(); items = [ds[i] for i in range(min(a.n, len(ds)))]
texts = [' '.join([r['question'], *r['contexts']]) for r in items]
t = time.time(); [T.concepts(x) for x in texts]; base = time.time() - t
print(f"baseline, concept matching only: {len(texts)/base:.1f} abstracts/s")
t = time.time(); [T.normalize_item(r) for r in items]; full = time.time() - t
print(f"normalize_item (abbreviations + concepts + rewrite): {len(items)/full:.1f} abstracts/s  ({full/base:.1f}x the baseline's time)")
