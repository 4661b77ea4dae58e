"""Check the built documentation site (`_docs/`, from tools/build_docs.py) in headless Chromium.

    python tools/test_docs_browser.py [--site _docs] [--shots _docs/_screenshots]

Serves the site on 127.0.0.1 (a free port, loopback only), opens every page with Playwright driving Debian's
chromium (/usr/bin/chromium, or $CHROMIUM), and checks that:
- every notebook in nbs/ (as nbdev finds them) has a page, whose <h1> and <title> carry the notebook's title, and the
  API reference page;
- every link in the navigation and in the pages' content to the site itself resolves (HTTP 200, and the #anchor exists);
- the images on each page load (the plots saved in the notebooks; the pipeline figure on the home page);
- each notebook that exports code shows `show_doc` entries; the API reference rows link to an element on their page;
- the search finds an exported function;
- no console errors or page errors. Requests to other hosts are blocked (the test never leaves the machine); an
  external image that therefore fails to load (e.g. the Colab badge) is listed, not counted as an error.
Screenshots of the home page and a notebook page go to --shots. The whole test stops after --timeout seconds.
Exits 1 with a list of the problems found.
"""
from __future__ import annotations
import argparse, functools, json, os, re, signal, sys, threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urldefrag, urlparse

root = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
import build_docs

CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                  '--disable-background-networking', '--disable-component-update', '--disable-sync']

class Handler(SimpleHTTPRequestHandler):
    not_found = []
    def log_message(self, *a): pass
    def send_error(self, code, *a, **kw):
        if code == 404: Handler.not_found.append(self.path)
        super().send_error(code, *a, **kw)

def serve(site:Path):
    srv = ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(Handler, directory=str(site)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f'http://127.0.0.1:{srv.server_address[1]}/'

def expected_pages(site:Path) -> list[dict]:
    "Every notebook that nbdev finds in nbs/, with its title and URL as nbdev names them, then the API page."
    res = [{'nb': i['nb'].relative_to(root).as_posix(), 'title': i['title'],
            'url': i['page'].with_suffix('.html').as_posix()} for i in build_docs.notebooks()]
    return res + [{'nb': None, 'title': 'API reference', 'url': 'api.html'}]

def run(site:Path, shots:Path, chromium:str) -> tuple[list[str], list[str]]:
    from playwright.sync_api import sync_playwright
    problems, notes = [], []
    pages = expected_pages(site)
    srv, base = serve(site)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS, headless=True)
            ctx = browser.new_context(viewport={'width': 1280, 'height': 900}, service_workers='block')
            blocked = []
            def route(r):
                host = urlparse(r.request.url).hostname
                if r.request.url.startswith(('data:', 'blob:')) or host == '127.0.0.1': return r.continue_()
                blocked.append(r.request.url); return r.abort()
            ctx.route('**/*', route)
            page = ctx.new_page()
            page.set_default_timeout(20_000)
            console = []
            page.on('console', lambda m: console.append(m) if m.type == 'error' else None)
            page.on('pageerror', lambda e: problems.append(f'{page.url}: page error: {e}'))
            links, anchors_needed = {}, {}
            for p in pages:
                console.clear(); n404 = len(Handler.not_found)
                url = base + p['url']
                resp = page.goto(url, wait_until='load')
                if resp is None or resp.status != 200:
                    problems.append(f"{p['url']} ({p['nb']}): HTTP {resp and resp.status}"); continue
                h1 = page.locator('article h1').first.inner_text().strip().rstrip('¶').strip()
                if h1 != p['title']: problems.append(f"{p['url']}: <h1> is {h1!r}, expected {p['title']!r}")
                if p['title'] not in page.title(): problems.append(f"{p['url']}: <title> {page.title()!r} lacks {p['title']!r}")
                if page.locator('.md-nav--primary').get_by_text(p['title'] if p['url'] != 'index.html' else 'Home',
                                                                exact=True).count() == 0:
                    problems.append(f"{p['url']}: not in the navigation")
                imgs = page.evaluate("""() => [...document.images].map(i => ({src: i.currentSrc || i.src,
                                         ok: i.complete && i.naturalWidth > 0}))""")
                for im in imgs:
                    if im['src'].startswith(base):
                        if not im['ok']: problems.append(f"{p['url']}: image did not load: {im['src']}")
                    elif not im['ok']: notes.append(f"{p['url']}: external image not loaded (offline test): {im['src']}")
                p['n_images'] = sum(im['ok'] and im['src'].startswith(base) for im in imgs)
                p['n_docs'] = page.locator('.nb-doc').count()
                for href in page.eval_on_selector_all('a[href]', 'els => els.map(e => e.href)'):
                    u, frag = urldefrag(href)
                    if not u.startswith(base): continue
                    links.setdefault(u, set()).add(p['url'])
                    if frag: anchors_needed.setdefault(u, set()).add((frag, p['url']))
                for m in console:
                    loc = (m.location or {}).get('url', '')
                    if 'Failed to load resource' in m.text and loc and not loc.startswith(base):
                        notes.append(f"{p['url']}: blocked external resource {loc}")
                    else: problems.append(f"{p['url']}: console error: {m.text} ({loc})")
                if len(Handler.not_found) > n404:
                    problems.append(f"{p['url']}: requests answered 404: {Handler.not_found[n404:]}")
                print(f"page {p['url']:<22} title={p['title']!r} images={p['n_images']} docs={p['n_docs']}")
            # content checks
            home = next(p for p in pages if p['url'] == 'index.html')
            if home.get('n_images', 0) < 1: problems.append('index.html: the pipeline figure is missing')
            for p in pages[1:-1]:
                nb = json.loads((root/p['nb']).read_text())
                if any(re.match(r'\s*#\|\s*exports?\b', ''.join(c['source'])) for c in nb['cells'] if c['cell_type'] == 'code') \
                        and p.get('n_docs', 0) == 0:
                    problems.append(f"{p['url']}: {p['nb']} exports code but its page documents nothing")
            # every link to the site resolves, and its anchor exists
            for u in sorted(links):
                r = page.request.get(u)
                if r.status != 200: problems.append(f'link {u} (on {sorted(links[u])}): HTTP {r.status}'); continue
                if u in anchors_needed:
                    page.goto(u, wait_until='load')
                    ids = set(page.eval_on_selector_all('[id]', 'els => els.map(e => e.id)'))
                    for frag, src in anchors_needed[u]:
                        if frag not in ids: problems.append(f'{src}: link to {u}#{frag}: no such anchor')
            # search finds an exported function
            page.goto(base + 'index.html', wait_until='load')
            names = re.findall(r'\[`(\w+)`\]\((\w+)\.html#', page.request.get(base + 'api.html').text()) or \
                    re.findall(r'<code>(\w+)</code></a></td>', page.request.get(base + 'api.html').text())
            if not names: problems.append('api.html: lists no documented function')
            else:
                q = names[0][0] if isinstance(names[0], tuple) else names[0]
                page.keyboard.press('/')
                page.locator('input.md-search__input').press_sequentially(q, delay=30)  # key events, as a person types
                try: page.locator('.md-search-result__item').first.wait_for(timeout=10_000)
                except Exception: problems.append(f'search for {q!r}: no result')
                else:
                    hits = page.locator('.md-search-result__item').all_inner_texts()
                    if not any(q in h for h in hits): problems.append(f'search for {q!r}: results do not mention it: {hits[:3]}')
                    print(f'search {q!r}: {len(hits)} results')
            # screenshots
            shots.mkdir(parents=True, exist_ok=True)
            page.goto(base + 'index.html', wait_until='load')
            page.screenshot(path=str(shots/'home.png'), full_page=True)
            nbp = next((p for p in pages if p['url'] not in ('index.html', 'api.html') and p.get('n_images')), pages[1])
            page.goto(base + nbp['url'], wait_until='load')
            page.screenshot(path=str(shots/'notebook.png'))
            page.screenshot(path=str(shots/'notebook_full.png'), full_page=True)
            if nbp.get('n_images'):  # the first plot of that page, scrolled into view
                page.locator('article img[src*="_files/"]').first.scroll_into_view_if_needed()
                page.wait_for_timeout(800)  # let the header's title transition finish
                page.screenshot(path=str(shots/'notebook_plot.png'))
            page.goto(base + 'api.html', wait_until='load')
            page.screenshot(path=str(shots/'api.png'))
            print(f"screenshots: {shots/'home.png'}, {shots/'notebook.png'} ({nbp['url']}), {shots/'api.png'}")
            browser.close()
    finally:
        srv.shutdown()
    if Handler.not_found: problems.append(f'requests answered 404: {sorted(set(Handler.not_found))}')
    return sorted(set(problems)), sorted(set(notes)) + [f'{len(pages)} pages, {len(links)} site links checked']

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--site', default=str(root/'_docs'))
    ap.add_argument('--shots', default=None, help='screenshot folder (default: SITE/_screenshots)')
    ap.add_argument('--timeout', type=int, default=300, help='stop after this many seconds')
    a = ap.parse_args()
    site = Path(a.site)
    if not (site/'index.html').exists(): sys.exit(f'{site}/index.html: no site; run python tools/build_docs.py first')
    chromium = os.environ.get('CHROMIUM', '/usr/bin/chromium')
    if not Path(chromium).exists(): sys.exit(f'{chromium}: no Chromium; apt-get install -y chromium')
    signal.signal(signal.SIGALRM, lambda *_: (print(f'docs browser test: timed out after {a.timeout} s'), os._exit(2)))
    signal.alarm(a.timeout)
    problems, notes = run(site, Path(a.shots or site/'_screenshots'), chromium)
    signal.alarm(0)
    for n in notes: print('note:', n)
    for p in problems: print('PROBLEM:', p)
    print(f'docs browser test: {len(problems)} problems')
    sys.exit(1 if problems else 0)

if __name__ == '__main__': main()
