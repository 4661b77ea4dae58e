"""Label-scoring throughput: batched (left-padded, sorted by length) against one item at a time, same model, same items.

    python bench/scoring_speed.py [--n 32] [--batch_size 8] [--max_length 512] [--device cpu|cuda] [--model embedded]

Prints items/s for both and their ratio, and checks that both give the same labels. The two are run alternately
`--repeat` times and the fastest run of each counts, so that other load on a shared machine biases neither. Runs on the CPU, and on the GPU too
when one is available (unless --device is given)."""
import argparse, os, time
import numpy as np, torch
from medqa_nb.data import load_pubmedqa, train_dev_split
from medqa_nb.evaluate import label_probs, load_for_eval

def bench(device, args, items):
    model, tok = load_for_eval(args.model, dtype=None, device=device)
    label_probs(model, tok, items[:2], batch_size=2, max_length=args.max_length)  # warm-up
    res = {}
    for _ in range(args.repeat):
        for bs in (1, args.batch_size):
            if device.startswith('cuda'): torch.cuda.synchronize()
            t = time.perf_counter()
            p = label_probs(model, tok, items, batch_size=bs, max_length=args.max_length)
            if device.startswith('cuda'): torch.cuda.synchronize()
            dt = time.perf_counter() - t
            if bs not in res or dt < res[bs][0]: res[bs] = (dt, p)
    (t1, p1), (tb, pb) = res[1], res[args.batch_size]
    print(f"{device} ({model.dtype}, {torch.get_num_threads()} threads): {len(items)} dev items, max_length {args.max_length}, "
          f"best of {args.repeat}, load average {os.getloadavg()[0]:.1f}")
    print(f"  one at a time : {len(items)/t1:7.2f} items/s ({t1:.1f} s)")
    print(f"  batch of {args.batch_size:<4} : {len(items)/tb:7.2f} items/s ({tb:.1f} s)")
    print(f"  ratio batched / one-at-a-time: {t1/tb:.2f}x")
    print(f"  same labels: {(p1.argmax(1) == pb.argmax(1)).all()}, max |p_batched - p_single| = {np.abs(p1 - pb).max():.2e}")

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--model', default='embedded'); ap.add_argument('--n', type=int, default=32)
    ap.add_argument('--batch_size', type=int, default=8); ap.add_argument('--max_length', type=int, default=512)
    ap.add_argument('--device', default=None)
    ap.add_argument('--repeat', type=int, default=3)
    args = ap.parse_args()
    items = list(train_dev_split(load_pubmedqa())[1])[:args.n]
    devices = [args.device] if args.device else ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])
    for d in devices: bench(d, args, items)
