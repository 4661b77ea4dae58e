"""Build the documentation site into `_docs/` from the notebooks in `nbs/`, without Quarto.

    python tools/build_docs.py            # -> _docs/index.html, _docs/data.html, ...

nbdev renders its site with Quarto, which cannot be installed from PyPI. This script keeps nbdev's rendering rules and
hands the result to MkDocs + Material (pip-installable): every `nbs/*.ipynb` (in file-name order, `index.ipynb` as the
home page, names starting with `_` or `.` skipped) becomes a Markdown page in a temporary folder, with its saved
outputs (nothing is executed), then `mkdocs build --strict` writes the static site. The rules, as in nbdev 2.4:

- the title and `> description` come from the first `# Title` markdown cell (or a raw `---` YAML cell);
- `#| hide`, `#| include: false`, `#| default_exp`, `#| exporti` cells are hidden; `#| export` cells are hidden and
  replaced by the documentation (`show_doc`) of each public function/class they define; `#| exports` cells show the
  documentation, then their source folded under "Exported source";
- `#| echo: false` shows the outputs only, `#| output: false` the code only, `#| code-fold` folds the code,
  `#| filter_stream w..` drops stream lines containing a word, `#| hide_line` lines and `%` magic lines are removed,
  and every `#|` directive line is removed from the code shown;
- explicit `show_doc(...)` cells show the documentation only; markdown headings ending in ` -` are removed;
- names in backticks that the library exports link to their documentation (nbdev's doclinks), links to other
  notebooks (`03_modeling.ipynb`) point to their pages, Quarto callouts become admonitions;
- outputs: images (plots), HTML (tables), Markdown, text, stdout/stderr (ANSI codes and `\\r` progress lines
  cleaned); Jupyter widgets (progress bars), which need a live kernel, are left out.

Documentation is generated from the exported module (`medqa_nb.<default_exp>`; run `nbdev_export` first), with the
signature, docments (parameter comments) and docstring (fastcore's renderer, as `show_doc` does). An "API reference"
page lists every name in each module's `__all__`, linked to its documentation.
"""
from __future__ import annotations
import argparse, ast, base64, configparser, html, importlib, inspect, json, os, re, shutil, subprocess, sys, tempfile
from pathlib import Path

import nbformat, yaml

root = Path(__file__).resolve().parent.parent
src_dir = root/'docs_src'

class DocsError(Exception):
    "A notebook that cannot be rendered; the message names the notebook, the cell and the problem."

def settings(path=root/'settings.ini'):
    cp = configparser.ConfigParser(); cp.read(path)
    return dict(cp['DEFAULT'])

# ---------------------------------------------------------------------------------------------------------- notebooks
def page_path(nb:Path, nbs:Path) -> Path:
    "The page of a notebook, relative to the site root, as nbdev names it: `00_data.ipynb` -> `data.md`."
    rel = nb.relative_to(nbs)
    if rel.name.startswith('index.'): return rel.with_name('index.md')
    return rel.with_name(re.sub(r'^\d+[a-zA-Z0-9]*_', '', rel.name.lower())).with_suffix('.md')

def notebooks(nbs:Path) -> list[Path]:
    "The notebooks to render: `index.ipynb` first, then the others in file-name order."
    found = [p for p in nbs.rglob('*.ipynb')
             if not any(part.startswith(('_', '.')) for part in p.relative_to(nbs).parts)]
    return sorted(found, key=lambda p: (p.relative_to(nbs) != Path('index.ipynb'), str(p.relative_to(nbs))))

def _src(cell) -> str:
    s = cell.get('source', '')
    return ''.join(s) if isinstance(s, list) else s

_re_title = re.compile(r'^#\s+(\S.*?)\s*$', re.MULTILINE)
_re_desc = re.compile(r'^>\s+(\S.*?)\s*$', re.MULTILINE)
_re_fmkv = re.compile(r'^-\s+(\S.*:.*\S)\s*$', re.MULTILINE)

def frontmatter(nb) -> tuple[dict, int|None]:
    "nbdev's frontmatter: a raw `---` YAML cell, or the first markdown cell with a `# Title`; and that cell's index."
    fm, idx = {}, None
    for i, c in enumerate(nb.cells):
        s = _src(c)
        if c.cell_type == 'raw' and s.strip().startswith('---'):
            m = re.search(r'^---\s*\n(.*?\S+.*?)\n---\s*$', s.strip(), re.DOTALL)
            if m: fm.update(yaml.safe_load(m.group(1)) or {}); idx = i if idx is None else idx
        elif c.cell_type == 'markdown' and 'title' not in fm and _re_title.search(s):
            fm['title'] = _re_title.search(s).group(1)
            if _re_desc.search(s): fm['description'] = _re_desc.search(s).group(1)
            kv = _re_fmkv.findall(s)
            if kv:
                try: fm.update(yaml.safe_load('\n'.join(kv)))
                except yaml.YAMLError: pass
            idx = i
            break
    return fm, idx

def nb_title(nb_path:Path) -> str:
    "A notebook's title (its `# Title`), else its file name."
    fm, _ = frontmatter(nbformat.read(nb_path, as_version=4))
    return str(fm.get('title') or nb_path.stem)

# --------------------------------------------------------------------------------------------------------- directives
_re_directive = re.compile(r'^\s*#\|\s*(.*?)\s*$')
_re_hide_line = re.compile(r'#\|\s*hide_line\s*$')
_re_magic = re.compile(r'^\s*%')

def directives(src:str) -> dict:
    "The `#|` directives of a code cell: {'export': ['data'], 'echo:': ['false'], ...} (nbdev's format)."
    res = {}
    for line in src.splitlines():
        if not line.strip(): continue
        m = _re_directive.match(line)
        if not m: break
        words = m.group(1).split()
        if words: res[words[0].rstrip(':') + (':' if words[0].endswith(':') else '')] = words[1:]
    return res

def _dval(d, key, default=None):
    v = d.get(key + ':')
    return ' '.join(v).strip().strip('"\'').lower() if v else default

def display_code(src:str) -> str:
    "The code shown: without `#|` directive lines, `#| hide_line` lines and `%` magic lines (as nbdev does)."
    keep = [l for l in src.splitlines()
            if not _re_directive.match(l) and not _re_hide_line.search(l) and not _re_magic.match(l)]
    return '\n'.join(keep).strip('\n')

# ---------------------------------------------------------------------------------------------------- API docs
_def_types = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)

def defined_names(code:str, where:str) -> list[str]:
    "Public functions and classes defined at the top level of an exported cell (`Class.method` for `@patch`)."
    from nbdev.showdoc import showdoc_nm
    try: tree = ast.parse(code)
    except SyntaxError as e: raise DocsError(f'{where}: exported code does not parse: {e}') from None
    return [showdoc_nm(o) for o in tree.body
            if isinstance(o, _def_types) and (o.name[0] != '_' or o.name[:2] == '__')]

def anchor(name:str) -> str: return name.lower()

class ApiDocs:
    "Renders `show_doc` documentation from the exported modules, and remembers what it documented where."
    def __init__(self, cfg:dict):
        self.cfg, self.lib = cfg, cfg['lib_name']
        self.documented = {}  # (module, name) -> page
        if str(root) not in sys.path: sys.path.insert(0, str(root))

    def module(self, modname:str, where:str):
        full = f'{self.lib}.{modname}'
        try: return importlib.import_module(full)
        except Exception as e: raise DocsError(f'{where}: cannot import {full} ({type(e).__name__}: {e}); '
                                               f'run nbdev_export and check the exported code') from None

    def resolve(self, mod, name:str, where:str):
        obj = mod
        for part in name.split('.'):
            if not hasattr(obj, part):
                raise DocsError(f'{where}: {name!r} is not in {mod.__name__}: run nbdev_export')
            obj = getattr(obj, part)
        return obj

    def source_link(self, obj) -> str|None:
        try:
            f = Path(inspect.getsourcefile(inspect.unwrap(obj))).resolve()
            line = inspect.getsourcelines(inspect.unwrap(obj))[1]
            rel = f.relative_to(root)
        except (TypeError, OSError, ValueError): return None
        return f"{self.cfg['git_url']}/blob/{self.cfg.get('branch', 'main')}/{rel.as_posix()}#L{line}"

    def render(self, obj, name:str, title_level:int=3) -> str:
        "Markdown for one symbol: source link, heading (anchor = lower-case name), signature with docments, docstring."
        from fastcore.docments import MarkdownRenderer
        body = MarkdownRenderer(obj, name=name, title_level=title_level)._repr_markdown_().strip()
        if inspect.isclass(obj):
            own_init = '__init__' in vars(obj) or '__new__' in vars(obj) or '__signature__' in vars(obj)
            if not own_init:  # e.g. an exception class: show its bases, not (*args, **kwargs)
                bases = ', '.join(b.__name__ for b in obj.__bases__ if b is not object)
                body = re.sub(r'^```python\ndef .*?\n```', f'```python\nclass {obj.__name__}({bases})\n```'
                              if bases else f'```python\nclass {obj.__name__}\n```', body, count=1, flags=re.DOTALL)
            else: body = re.sub(r'^```python\ndef ', '```python\nclass ', body, count=1)
        link = self.source_link(obj)
        src = f'[source]({link}){{ .nb-source target="_blank" }}\n\n' if link else ''
        h = '#' * title_level
        return (f'<div class="nb-doc" markdown>\n\n{src}{h} {html.escape(name)} {{ #{anchor(name)} }}\n\n'
                f'{body}\n\n</div>\n')

    def show(self, modname:str, name:str, page:str, where:str) -> str:
        mod = self.module(modname, where)
        obj = self.resolve(mod, name, where)
        self.documented[(mod.__name__, name)] = page
        return self.render(obj, name)

# --------------------------------------------------------------------------------------------------------- outputs
_re_ansi = re.compile(r'\x1B(?:[@-Z\\-_]|\[[0-?]*[ -/]*[@-~])')

def clean_text(text) -> str:
    "Text output without ANSI codes, and with `\\r`-overwritten progress lines reduced to their last state."
    text = ''.join(text) if isinstance(text, list) else str(text)
    text = _re_ansi.sub('', text)
    return '\n'.join(l.rstrip('\r').split('\r')[-1] for l in text.split('\n'))

def _pre(text:str, cls:str) -> str:
    return f'<div class="nb-output {cls}"><pre><code>{html.escape(text.strip(chr(10)))}</code></pre></div>\n'

_image_ext = {'image/png': 'png', 'image/jpeg': 'jpg', 'image/gif': 'gif', 'image/svg+xml': 'svg'}
_priority = ['image/png', 'image/jpeg', 'image/gif', 'image/svg+xml', 'text/html', 'text/markdown', 'text/latex',
             'text/plain']

class PageWriter:
    "Turns one notebook into one Markdown page (plus its image files) in the temporary docs folder."
    def __init__(self, nb_path:Path, nbs:Path, docs:Path, pages:dict, api:ApiDocs, cfg:dict, lookup):
        self.nb_path, self.nbs, self.docs, self.pages, self.api, self.cfg, self.lookup = \
            nb_path, nbs, docs, pages, api, cfg, lookup
        self.page = pages[nb_path]
        self.files = self.page.with_name(self.page.stem + '_files')  # images, relative to the site root
        self.nfiles = 0

    def where(self, i): return f'{self.nb_path.relative_to(root) if self.nb_path.is_relative_to(root) else self.nb_path} cell {i}'

    def write_file(self, name:str, data:bytes) -> str:
        "Write an image beside the page; return its URL relative to the page."
        dst = self.docs/self.files/name
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(data)
        return f'{self.files.name}/{name}'

    # --- markdown
    def link_md(self, md:str) -> str:
        "nbdev's doclinks (relative), and links to sibling notebooks rewritten to their pages."
        if self.lookup is not None:
            md = self.lookup.linkify(md)
            base = (self.cfg.get('doc_host', '') + self.cfg.get('doc_baseurl', '')).rstrip('/') + '/'
            by_html = {p.with_suffix('.html').as_posix(): p for p in self.pages.values()}
            def rel(m):
                target = by_html.get(m.group(1))
                frag = (m.group(2) or '').split('.')[0]  # `Class.method` is documented with its class: link there
                return f'({os.path.relpath(target, self.page.parent).replace(os.sep, "/")}{frag})' \
                    if target else m.group(0)
            md = re.sub(r'\(' + re.escape(base) + r'([^)#\s]+\.html)(#[^)\s]*)?\)', rel, md)
        def nb_link(m):
            # relative to the notebook, or to the repository root (index.ipynb is also the README's source)
            page = next((self.pages[t] for t in ((self.nb_path.parent/(m.group(1) + '.ipynb')).resolve(),
                                                 (root/(m.group(1) + '.ipynb')).resolve()) if t in self.pages), None)
            if page is None: return m.group(0)
            return f'({os.path.relpath(page, self.page.parent).replace(os.sep, "/")}{m.group(2) or ""})'
        return re.sub(r'\((?![a-z]+://)([^)\s#]+?)\.ipynb(#[^)\s]*)?\)', nb_link, md)

    def callouts(self, md:str) -> str:
        "Quarto callouts (`::: {.callout-note}` ... `:::`) as admonitions."
        out, box = [], None
        for line in md.split('\n'):
            m = re.match(r'^:::+\s*\{\.callout-(\w+)([^}]*)\}\s*$', line)
            if m and box is None:
                t = re.search(r'title="([^"]*)"', m.group(2))
                box = m.group(1)
                out.append(f'!!! {box}' + (f' "{t.group(1)}"' if t else ''))
                out.append('')
            elif box is not None and re.match(r'^:::+\s*$', line): box = None; out.append('')
            elif box is not None: out.append('    ' + line if line.strip() else '')
            else: out.append(line)
        return '\n'.join(out)

    def markdown_cell(self, i, cell) -> str:
        s = _src(cell)
        st = s.strip()
        if st.startswith('#') and st.endswith(' -'): return ''  # nbdev: headings ending in ' -' are hidden
        for name, data in (cell.get('attachments') or {}).items():
            mime = next((m for m in _image_ext if m in data), None)
            if mime is None: continue
            raw = data[mime].encode() if mime == 'image/svg+xml' else base64.b64decode(data[mime])
            url = self.write_file(f'cell{i}_{re.sub(r"[^A-Za-z0-9_.-]", "_", name)}', raw)
            s = s.replace(f'attachment:{name}', url)
        return self.callouts(self.link_md(s)) + '\n'

    # --- code
    def outputs(self, i, cell, d) -> str:
        words = d.get('filter_stream', [])
        parts = []
        for j, o in enumerate(cell.get('outputs', [])):
            t = o.get('output_type')
            if t == 'stream':
                text = clean_text(o.get('text', ''))
                if words: text = '\n'.join(l for l in text.split('\n') if not any(w in l for w in words))
                if text.strip(): parts.append(_pre(text, 'nb-stderr' if o.get('name') == 'stderr' else 'nb-stdout'))
            elif t == 'error':
                parts.append(_pre(clean_text('\n'.join(o.get('traceback', [])) or f"{o.get('ename')}: {o.get('evalue')}"), 'nb-stderr'))
            elif t in ('execute_result', 'display_data'):
                data = o.get('data', {})
                if 'application/vnd.jupyter.widget-view+json' in data: continue
                mime = next((m for m in _priority if m in data), None)
                if mime is None: continue
                v = data[mime]; v = ''.join(v) if isinstance(v, list) else v
                if mime in _image_ext:
                    raw = v.encode() if mime == 'image/svg+xml' else base64.b64decode(v)
                    url = self.write_file(f'cell{i}_output{j}.{_image_ext[mime]}', raw)
                    alt = html.escape(clean_text(data.get('text/plain', 'output')).strip()[:80], quote=True)
                    parts.append(f'<div class="nb-output nb-image"><img src="{url}" alt="{alt}"></div>\n')
                elif mime == 'text/html':
                    parts.append(f'<div class="nb-output nb-html">\n{v.strip()}\n</div>\n')
                elif mime == 'text/markdown':
                    parts.append(self.link_md(v.strip()) + '\n')
                else: parts.append(_pre(clean_text(v), 'nb-result'))
        return '\n'.join(parts)

    def show_doc_cell(self, i, code, cell, modname) -> str:
        "An explicit `show_doc(x)` cell: the documentation of `x`, or the cell's saved Markdown output."
        tree = ast.parse(code)
        out = []
        for node in tree.body:
            call = node.value if isinstance(node, ast.Expr) else None
            if not (isinstance(call, ast.Call) and getattr(call.func, 'id', '') == 'show_doc' and call.args): continue
            target = ast.unparse(call.args[0])
            kw = {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg in ('name', 'title_level')}
            name = kw.get('name') or target
            if modname and re.fullmatch(r'[A-Za-z_][\w.]*', target):
                mod = self.api.module(modname, self.where(i))
                if all(hasattr(mod, p) for p in target.split('.')[:1]):
                    obj = self.api.resolve(mod, target, self.where(i))
                    self.api.documented[(mod.__name__, target)] = self.page
                    out.append(self.api.render(obj, name, kw.get('title_level', 3)))
                    continue
            saved = self.outputs(i, cell, {})
            if not saved.strip():
                raise DocsError(f'{self.where(i)}: show_doc({target}): not in the exported module and no saved output')
            out.append(saved)
        return '\n'.join(out)

    def code_cell(self, i, cell, modname) -> str:
        s = _src(cell)
        d = directives(s)
        if {'hide', 'exporti', 'default_exp'} & d.keys() or _dval(d, 'include') == 'false': return ''
        code = display_code(s)
        docs = ''
        exp_key = next((k for k in ('export', 'exports') if k in d), None)
        if exp_key:
            mod = d[exp_key][0] if d[exp_key] else modname
            if not mod: raise DocsError(f'{self.where(i)}: #| {exp_key} without a module and no #| default_exp')
            docs = '\n'.join(self.api.show(mod, n, self.page, self.where(i))
                             for n in defined_names(code, self.where(i)) if n not in self.shown)
            if exp_key == 'export': return docs
            fold = f'???+ abstract "Exported source"\n\n' + _indent(_fence(code, 'python'))
            return docs + '\n' + fold + '\n'
        if code and re.match(r'^show_doc\(', code, re.MULTILINE) and all(
                l.startswith('show_doc(') or not l.strip() for l in code.splitlines()):
            return self.show_doc_cell(i, code, cell, modname)
        echo = _dval(d, 'echo', 'true') != 'false'
        output = _dval(d, 'output', 'true') != 'false'
        parts = []
        if echo and code:
            block = _fence(code, 'python')
            fold = _dval(d, 'code-fold')
            if fold in ('true', 'show'):
                summary = _dval(d, 'code-summary') or 'Code'
                block = f'???{"+" if fold == "show" else ""} abstract "{summary.capitalize()}"\n\n' + _indent(block)
            parts.append(block)
        if output: parts.append(self.outputs(i, cell, d))
        return '\n'.join(p for p in parts if p.strip())

    def write(self) -> dict:
        nb = nbformat.read(self.nb_path, as_version=4)
        fm, fm_idx = frontmatter(nb)
        title = str(fm.get('title') or self.nb_path.stem)
        modname = next((m.group(1) for c in nb.cells if c.cell_type == 'code'
                        for m in [re.search(r'^\s*#\|\s*default_exp\s+(\S+)', _src(c), re.MULTILINE)] if m), None)
        self.shown = set()  # names with an explicit show_doc cell are not documented twice (as nbdev)
        for c in nb.cells:
            if c.cell_type == 'code':
                self.shown |= set(re.findall(r'^show_doc\(\s*([\w.]+)', _src(c), re.MULTILINE))
        meta = {'title': title}
        if fm.get('description'): meta['description'] = str(fm['description'])
        body = [f'---\n{yaml.safe_dump(meta, allow_unicode=True, width=1000)}---\n', f'# {title}\n']
        if fm.get('description'):
            body.append(f'<p class="nb-description" markdown="span">{self.link_md(str(fm["description"]))}</p>\n')
        for i, c in enumerate(nb.cells):
            if i == fm_idx:
                if c.cell_type == 'markdown':  # the title cell: keep what is not title, description or `- key: value`
                    rest = _re_fmkv.sub('', _re_desc.sub('', _re_title.sub('', _src(c), count=1), count=1)).strip()
                    if rest: body.append(self.markdown_cell(i, nbformat.from_dict({**c, 'source': rest})))
                continue
            if c.cell_type == 'markdown': body.append(self.markdown_cell(i, c))
            elif c.cell_type == 'code':
                try: body.append(self.code_cell(i, c, modname))
                except DocsError: raise
                except Exception as e: raise DocsError(f'{self.where(i)}: {type(e).__name__}: {e}') from e
        dst = self.docs/self.page
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_text('\n'.join(b for b in body if b.strip()) + '\n')
        return {'title': title, 'page': self.page.as_posix(), 'module': modname}

def _fence(code:str, lang:str='') -> str:
    n = max([3] + [len(m) + 1 for m in re.findall(r'`{3,}', code)])
    return f'{"`"*n}{lang}\n{code}\n{"`"*n}\n'

def _indent(s:str) -> str: return '\n'.join('    ' + l if l.strip() else '' for l in s.split('\n'))

# ------------------------------------------------------------------------------------------------------ API page
def api_page(infos:list, api:ApiDocs) -> str:
    "An index of every name in each exported module's `__all__`, linked to its documentation."
    out = ['---\ntitle: API reference\n---\n', '# API reference\n',
           '<p class="nb-description" markdown="span">Every name that the package exports, by module, '
           'linked to its documentation on the notebook page it comes from.</p>\n']
    mods = []
    for info in infos:
        if info['module'] and info['module'] not in mods: mods.append(info['module'])
    extra = []
    for modname in mods:
        mod = api.module(modname, f'API reference ({modname})')
        page = next(Path(i['page']) for i in infos if i['module'] == modname)
        out.append(f'## {mod.__name__} {{ #{mod.__name__.replace(".", "-")} }}\n')
        out.append(f'From [{next(i["title"] for i in infos if i["module"] == modname)}]({page.as_posix()}).\n')
        rows = ['| Name | Kind | Summary |', '| --- | --- | --- |']
        for name in getattr(mod, '__all__', []):
            obj = getattr(mod, name, None)
            kind = 'class' if inspect.isclass(obj) else 'function' if callable(obj) else 'constant'
            doc = (inspect.getdoc(obj) or '').strip().split('\n')[0] if kind != 'constant' else ''
            if kind == 'constant':
                r = repr(obj); doc = '<code>' + html.escape((r[:70] + '...') if len(r) > 73 else r).replace('|', '&#124;') + '</code>'
            documented = api.documented.get((mod.__name__, name))
            if kind != 'constant' and documented is None:  # exported but documented on no page: document it here
                extra.append(api.render(obj, name))
                documented = Path('api.md')
            link = f'[`{name}`]({documented.as_posix()}#{anchor(name)})' if documented else f'`{name}`'
            rows.append(f'| {link} | {kind} | {doc.replace("|", chr(92) + "|")} |')
        out.append('<div class="nb-api" markdown>\n\n' + '\n'.join(rows) + '\n\n</div>\n')
    if extra: out += ['## Not documented on a notebook page\n', *extra]
    return '\n'.join(out)

# ------------------------------------------------------------------------------------------------------------ build
def build(out:Path|None=None, keep_tmp:bool=False, quiet:bool=False) -> list[dict]:
    cfg = settings()
    nbs = root/cfg.get('nbs_path', 'nbs')
    out = Path(out or root/cfg.get('doc_path', '_docs'))
    nb_paths = notebooks(nbs)
    if not any(p.name == 'index.ipynb' and p.parent == nbs for p in nb_paths):
        raise DocsError(f'{nbs}/index.ipynb: no home page')
    pages = {p.resolve(): page_path(p, nbs) for p in nb_paths}
    seen = {}
    for p, pg in pages.items():
        if pg in seen: raise DocsError(f'{p.name} and {seen[pg].name} both render to {pg}: rename one')
        seen[pg] = p
    api = ApiDocs(cfg)
    try:
        from nbdev.doclinks import NbdevLookup
        lookup = NbdevLookup(incl_libs=cfg['lib_name'])
    except Exception: lookup = None
    tmp = Path(tempfile.mkdtemp(prefix='medqa_docs_'))
    try:
        docs = tmp/'docs'; (docs/'assets').mkdir(parents=True)
        shutil.copy(src_dir/'extra.css', docs/'assets'/'extra.css')
        for f in nbs.rglob('*'):  # images and other files that markdown cells refer to by relative path
            rel = f.relative_to(nbs)
            if f.is_file() and f.suffix.lower() in ('.png', '.jpg', '.jpeg', '.gif', '.svg', '.webp') \
                    and not any(part.startswith(('_', '.')) for part in rel.parts):
                (docs/rel).parent.mkdir(parents=True, exist_ok=True); shutil.copy(f, docs/rel)
        infos = [PageWriter(p.resolve(), nbs.resolve(), docs, pages, api, cfg, lookup).write() for p in nb_paths]
        (docs/'api.md').write_text(api_page(infos, api))
        conf = yaml.safe_load((src_dir/'mkdocs.yml').read_text())
        conf.update(site_name=cfg.get('title', cfg['lib_name']), site_description=cfg.get('description', ''),
                    copyright=f"Copyright {cfg.get('copyright', '')}".strip(),
                    docs_dir=str(docs), site_dir=str(tmp/'site'))
        if cfg.get('git_url'):
            conf.setdefault('extra', {})['social'] = [{'icon': 'fontawesome/brands/github', 'link': cfg['git_url'],
                                                       'name': 'Source on GitHub'}]
        conf['nav'] = [{('Home' if i['page'] == 'index.md' else i['title']): i['page']} for i in infos]
        conf['nav'].append({'API reference': 'api.md'})
        (tmp/'mkdocs.yml').write_text(yaml.safe_dump(conf, sort_keys=False, allow_unicode=True))
        cmd = [sys.executable, '-m', 'mkdocs', 'build', '--strict', '-f', str(tmp/'mkdocs.yml')]
        if quiet: cmd.append('-q')
        r = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, env={**os.environ, 'NO_MKDOCS_2_WARNING': '1'})
        log = r.stdout + r.stderr
        if r.returncode != 0:
            raise DocsError(f'mkdocs build failed (the generated pages are in {tmp}/docs):\n{log}')
        if not quiet: print(log.strip())
        (tmp/'site'/'pages.json').write_text(json.dumps(
            [{'title': i['title'], 'url': i['page'][:-3] + '.html', 'module': i['module']} for i in infos], indent=1))
        if out.exists(): shutil.rmtree(out)
        shutil.move(str(tmp/'site'), str(out))
    except BaseException:
        keep_tmp = True; raise
    finally:
        if not keep_tmp: shutil.rmtree(tmp, ignore_errors=True)
        else: print(f'generated pages kept in {tmp}/docs', file=sys.stderr)
    return infos

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', help='output folder (default: doc_path from settings.ini, _docs)')
    ap.add_argument('--keep-tmp', action='store_true', help='keep the generated Markdown pages')
    ap.add_argument('-q', '--quiet', action='store_true')
    a = ap.parse_args()
    try: infos = build(a.out, a.keep_tmp, a.quiet)
    except DocsError as e: sys.exit(f'build_docs: {e}')
    out = a.out or root/settings().get('doc_path', '_docs')
    print(f'built {len(infos)} notebook pages + API reference into {out}: ' + ', '.join(i['page'] for i in infos))

if __name__ == '__main__': main()
