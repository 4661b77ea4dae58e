"""Bounded load test of `medqa-serve` over loopback (127.0.0.1 only).

Starts the service in a child process, runs N concurrent clients for T seconds against POST /predict (PubMedQA items as
bodies), samples GET /health while loaded, then sends oversized bodies (Content-Length and chunked, without
Content-Length) and checks that the server answers 413, stays healthy and its RSS does not keep growing.

    python bench/service_load.py --model runs/pipeline/export/onnx-int8      # an exported model
    python bench/service_load.py --stub                                       # a fake model (50 ms a prediction)
    python bench/service_load.py --stub --clients 32 --seconds 20 --json results/service_load.json

`--app module:function` picks the app factory (default `medqa_nb.deploy:make_app`); the factory is called as
`make_app(model, threads=..., max_queue=..., timeout=..., workers=...)` where it accepts those arguments.
"""
from __future__ import annotations
import argparse, asyncio, inspect, json, os, random, socket, subprocess, sys, textwrap, time
from pathlib import Path

HOST = '127.0.0.1'  # loopback only: the bench never binds or connects elsewhere

def free_port() -> int:
    with socket.socket() as s: s.bind((HOST, 0)); return s.getsockname()[1]

def rss_mb(pid:int) -> float:
    "Resident set size of a process, from /proc (Linux)."
    for line in Path(f'/proc/{pid}/status').read_text().splitlines():
        if line.startswith('VmRSS:'): return int(line.split()[1]) / 1024
    return float('nan')

SERVER = textwrap.dedent('''
    import importlib, inspect, sys, json, uvicorn
    args = json.loads(sys.argv[1])
    sys.path[:0] = args['path']
    mod, fn = args['app'].split(':')
    make_app = getattr(importlib.import_module(mod), fn)
    if args['stub']:
        from types import SimpleNamespace
        import time
        from pathlib import Path
        class Stub:
            dir, meta = Path('stub'), {'precision': 'stub'}
            def predict(self, question, abstract, explain=False, max_new_tokens=64):
                time.sleep(args['stub_delay']); return {'label': 'yes', 'probs': {'yes': 0.6, 'no': 0.3, 'maybe': 0.1}}
        model = Stub()
    else: model = args['model']
    ok = inspect.signature(make_app).parameters
    kw = {k: v for k, v in args['app_kw'].items() if k in ok}
    print('app options:', kw, file=sys.stderr, flush=True)
    uvicorn.run(make_app(model, **kw), host='127.0.0.1', port=args['port'], log_level='error')
''')

def start_server(a) -> tuple:
    port = free_port()
    cfg = dict(path=a.path, app=a.app, stub=a.stub, stub_delay=a.stub_delay, model=a.model, port=port,
               app_kw=dict(threads=a.threads, max_queue=a.max_queue, timeout=a.timeout, workers=a.workers))
    p = subprocess.Popen([sys.executable, '-c', SERVER, json.dumps(cfg)], stderr=subprocess.PIPE, text=True)
    import httpx
    t0 = time.time()
    while time.time() - t0 < 180:
        if p.poll() is not None: raise SystemExit(f"server exited: {p.stderr.read()[-2000:]}")
        try:
            if httpx.get(f'http://{HOST}:{port}/health', timeout=1).status_code == 200: return p, port, time.time() - t0
        except httpx.HTTPError: time.sleep(0.2)
    p.kill(); raise SystemExit('server did not start in 180 s')

def bodies(n:int=64) -> list[dict]:
    "Request bodies from local PubMedQA items (else synthetic ones)."
    try:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from medqa_nb.data import load_pubmedqa
        ds = load_pubmedqa()
        return [{'question': r['question'], 'abstract': ' '.join(r['contexts'])[:19_000]} for r in list(ds)[:n]]
    except Exception:
        return [{'question': f'Does treatment {i} help?', 'abstract': 'We studied it. ' * 60} for i in range(n)]

def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q / 100 * len(xs)))] if xs else float('nan')

async def load(url:str, clients:int, seconds:float, items:list, backoff:float) -> dict:
    import httpx
    lat, codes, errors, health = [], {}, [], []
    stop = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients + 4, max_keepalive_connections=clients + 4)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as c:
        async def client(i):
            rng = random.Random(i)
            while time.monotonic() < stop:
                t = time.perf_counter()
                try: r = await c.post('/predict', json=rng.choice(items))
                except httpx.HTTPError as e: errors.append(type(e).__name__); continue
                codes[r.status_code] = codes.get(r.status_code, 0) + 1
                if r.status_code == 200: lat.append(time.perf_counter() - t)
                elif r.status_code == 503: await asyncio.sleep(backoff)
        async def prober():
            while time.monotonic() < stop:
                t = time.perf_counter()
                try: ok = (await c.get('/health', timeout=10)).status_code == 200
                except httpx.HTTPError: ok = False
                health.append((time.perf_counter() - t, ok))
                await asyncio.sleep(0.25)
        t0 = time.perf_counter()
        await asyncio.gather(prober(), *(client(i) for i in range(clients)))
        wall = time.perf_counter() - t0
    hl = [h for h, _ in health]
    return dict(clients=clients, seconds=round(wall, 1), ok=len(lat), rps=round(len(lat) / wall, 2),
                p50_ms=round(pct(lat, 50) * 1e3, 1), p95_ms=round(pct(lat, 95) * 1e3, 1), status=codes,
                transport_errors=len(errors), health_probes=len(health), health_failed=sum(not ok for _, ok in health),
                health_p50_ms=round(pct(hl, 50) * 1e3, 1), health_p95_ms=round(pct(hl, 95) * 1e3, 1),
                health_max_ms=round(max(hl) * 1e3, 1) if hl else None)

def oversized(url:str, rounds:int, mb:int) -> dict:
    "Oversized bodies: with Content-Length, and chunked (a generator: no Content-Length). Each must get 413, not be read whole."
    import httpx
    out = {'content_length': {}, 'chunked': {}, 'chunked_s': []}
    def chunks():
        for _ in range(mb * 16): yield b'x' * 65536
    for _ in range(rounds):
        with httpx.Client(base_url=url, timeout=60) as c:
            try: r = c.post('/predict', content=b'{"question": "' + b'q' * (mb * 2**20) + b'"}', headers={'content-type': 'application/json'}); k = r.status_code
            except httpx.HTTPError as e: k = type(e).__name__
            out['content_length'][k] = out['content_length'].get(k, 0) + 1
            t = time.perf_counter()
            try: r = c.post('/predict', content=chunks(), headers={'content-type': 'application/json'}); k = r.status_code
            except httpx.HTTPError as e: k = type(e).__name__  # the server may close the connection mid-upload, after its 413
            out['chunked'][k] = out['chunked'].get(k, 0) + 1
            out['chunked_s'].append(time.perf_counter() - t)
    out['chunked_s'] = round(max(out['chunked_s']), 2)
    return out

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--model', help='an export folder (onnx/ or onnx-int8/)')
    p.add_argument('--stub', action='store_true', help='serve a fake model instead (no model needed)')
    p.add_argument('--stub_delay', type=float, default=0.05, help='seconds per fake prediction')
    p.add_argument('--app', default='medqa_nb.deploy:make_app', help='module:function making the FastAPI app')
    p.add_argument('--path', nargs='*', default=[], help='folders put first on the server\'s sys.path')
    p.add_argument('--clients', type=int, default=32); p.add_argument('--seconds', type=float, default=20)
    p.add_argument('--threads', type=int, default=2); p.add_argument('--workers', type=int, default=1)
    p.add_argument('--max_queue', type=int, default=8); p.add_argument('--timeout', type=float, default=30)
    p.add_argument('--backoff', type=float, default=0.1, help='client pause after a 503')
    p.add_argument('--oversized_rounds', type=int, default=10); p.add_argument('--oversized_mb', type=int, default=50)
    p.add_argument('--max_rss_growth_mb', type=float, default=100, help='fail when RSS grows more than this over the oversized rounds')
    p.add_argument('--json', help='also write the results here')
    a = p.parse_args(argv)
    if not a.stub and not a.model: p.error('give --model EXPORT_FOLDER or --stub')
    server, port, start_s = start_server(a)
    url = f'http://{HOST}:{port}'
    import httpx
    try:
        res = dict(app=a.app, model='stub' if a.stub else a.model, start_s=round(start_s, 1),
                   options=dict(workers=a.workers, threads=a.threads, max_queue=a.max_queue, timeout=a.timeout))
        res['rss_start_mb'] = round(rss_mb(server.pid), 1)
        res['load'] = asyncio.run(load(url, a.clients, a.seconds, bodies(), a.backoff))
        res['rss_after_load_mb'] = round(rss_mb(server.pid), 1)
        first = oversized(url, 2, a.oversized_mb); rss1 = rss_mb(server.pid)
        more = oversized(url, a.oversized_rounds, a.oversized_mb); rss2 = rss_mb(server.pid)
        res['oversized'] = dict(rounds=a.oversized_rounds + 2, mb=a.oversized_mb, first=first, more=more,
                                rss_after_2_mb=round(rss1, 1), rss_after_all_mb=round(rss2, 1), rss_growth_mb=round(rss2 - rss1, 1))
        t = time.perf_counter(); h = httpx.get(f'{url}/health', timeout=10)
        res['health_after'] = dict(status=h.status_code, ms=round((time.perf_counter() - t) * 1e3, 1), body=h.json())
        ok = httpx.post(f'{url}/predict', json=bodies(1)[0], timeout=60)
        res['predict_after'] = ok.status_code
    finally:
        server.terminate()
        try: server.wait(10)
        except subprocess.TimeoutExpired: server.kill()
    L, O = res['load'], res['oversized']
    print(f"{L['clients']} clients x {L['seconds']} s: {L['rps']} req/s, p50 {L['p50_ms']} ms, p95 {L['p95_ms']} ms, status {L['status']}, "
          f"transport errors {L['transport_errors']}")
    print(f"/health under load: {L['health_probes']} probes, {L['health_failed']} failed, p50 {L['health_p50_ms']} ms, "
          f"p95 {L['health_p95_ms']} ms, max {L['health_max_ms']} ms")
    print(f"oversized ({O['mb']} MB, {O['rounds']} rounds each, the last {O['rounds'] - 2} counted): Content-Length {O['more']['content_length']}, chunked {O['more']['chunked']} "
          f"(slowest {O['more']['chunked_s']} s); RSS start {res['rss_start_mb']} MB, after load {res['rss_after_load_mb']} MB, "
          f"after 2 oversized rounds {O['rss_after_2_mb']} MB, after all {O['rss_after_all_mb']} MB (growth {O['rss_growth_mb']} MB)")
    print(f"afterwards: /health {res['health_after']['status']} in {res['health_after']['ms']} ms, /predict {res['predict_after']}")
    if a.json: Path(a.json).write_text(json.dumps(res, indent=1))
    good = (res['health_after']['status'] == 200 and res['predict_after'] == 200 and L['health_failed'] == 0
            and L['ok'] > 0 and O['rss_growth_mb'] <= a.max_rss_growth_mb
            and set(O['more']['content_length']) | set(O['more']['chunked']) <= {413, 'RemoteProtocolError', 'WriteError', 'ReadError'})
    print('PASS' if good else 'FAIL')
    return 0 if good else 1

if __name__ == '__main__': sys.exit(main())
