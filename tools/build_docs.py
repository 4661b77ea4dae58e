"""Build the documentation site into `_docs/` with nbdev's own notebook processors, nbconvert and MkDocs (no Quarto).

    python tools/build_docs.py [-q]

As `nbdev_docs` does before it calls Quarto (not installable here), each notebook that `nbdev.doclinks.nbglob` finds
goes through nbdev's processors (`FilterDefaults`: frontmatter, directives, `show_doc` of exported names, doc links...);
nbconvert writes it as Markdown (saved outputs; nothing re-run) and MkDocs + Material (`docs_src/mkdocs.yml`) builds
the site, `--strict` (a broken link or anchor fails it; the Markdown is kept then). Unlike nbdev, `exec_show_docs`
imports the exported modules and runs only `show_doc`, `exec_doc` and import-only cells (nbdev runs each export cell
and each cell with an import, tests included); Quarto's options `echo`, `output`, `include`, `code-fold` are applied
here; doc links are relative; an "API reference" page lists the exported names (nbdev's `_modidx`).
"""
import argparse, ast, importlib, inspect, os, re, shutil, subprocess, sys, tempfile
from pathlib import Path
import nbformat, yaml
from nbconvert import MarkdownExporter
from nbconvert.preprocessors import TagRemovePreprocessor
from execnb.nbio import read_nb, nb2str
from execnb.shell import CaptureShell
import nbdev.doclinks
from nbdev.config import get_config
from nbdev.frontmatter import FrontmatterProc
from nbdev.process import NBProcessor
from nbdev.processors import FilterDefaults, exec_show_docs, cell_lang, _is_showdoc

root = Path(__file__).resolve().parent.parent
os.chdir(root)  # nbdev reads settings.ini from the working folder
cfg = get_config()

# nbdev 2.4.14 looks a symbol's line up by its full name (`medqa_nb.core.f`, from fastcore) in an index of short names
_lineno = nbdev.doclinks._lineno  # ... and its [source] links end in `#LNone`
nbdev.doclinks._lineno = lambda sym, py: _lineno(sym.removeprefix(py[:-3].replace('/', '.') + '.'), py)

class show_docs_from_lib(exec_show_docs):
    "nbdev's `exec_show_docs` on the exported modules: runs `show_doc`, `exec_doc` and import-only cells"
    def begin(self):
        cells, self.k = self.nb.cells, CaptureShell()
        dflt = next((c.directives_['default_exp'][0] for c in cells if c.directives_.get('default_exp')), None)
        mods = {(c.directives_.get('export') or c.directives_.get('exports') or [dflt])[0] for c in cells
                if {'export', 'exports'} & c.directives_.keys()} - {None}
        self.k.run_cell('\n'.join(['from nbdev.showdoc import show_doc'] +
                                   [f'from {cfg.lib_name}.{m} import *' for m in mods]))

    def __call__(self, cell):
        trees = cell.parsed_() if cell_lang(cell) == 'python' else None
        imports = trees and all(isinstance(t, (ast.Import, ast.ImportFrom)) for t in trees)
        if not (self.nb.has_docs_ and (imports or _is_showdoc(cell) or 'exec_doc' in cell.directives_)): return
        self.k.cell(cell)
        if self.k.exc:
            sys.exit(f'build_docs: {self.nb.path_} cell {cell.idx_} (is it exported?):\n{cell.source}\n{self.k.exc!r}')
        name = re.search(r'^show_doc\(([\w.]+)', cell.source, re.M)
        is_class = name and inspect.isclass(eval(name[1], self.k.user_ns))  # fastcore writes `def` for a class too
        for o in (o for o in cell.outputs if 'text/markdown' in o.get('data', {})):
            md = ''.join(o.data['text/markdown'])
            if is_class: md = md.replace('```python\ndef ', '```python\nclass ', 1)
            # one string, linked here: nbdev's add_links links a list of lines one by one, inside code blocks too
            o.data['text/markdown'] = nbdev.doclinks.NbdevLookup().linkify(md)

class Procs(FilterDefaults):
    def base_procs(self): return [show_docs_from_lib if p is exec_show_docs else p for p in super().base_procs()]

def notebooks() -> list[dict]:
    "Each notebook (as nbdev finds them) with its page and frontmatter: `index` first, then by name, sub-folders last."
    res = []
    for p in sorted(nbdev.doclinks.nbglob(func=Path), key=lambda p: (len(p.parts), p.stem != 'index', p)):
        nb, rel = read_nb(p), p.relative_to(cfg.nbs_path)
        NBProcessor(nb=nb, procs=[FrontmatterProc]).process()
        res.append(dict(nb=p, page=nbdev.doclinks._nbpath2html(rel).with_suffix('.md'), **nb.frontmatter_))
    return res

def to_markdown(info:dict, docs:Path) -> str:
    "A notebook through nbdev's processors and nbconvert: the page's Markdown (its images are written beside it)."
    nb = read_nb(info['nb']); Procs()(nb)
    nb = nbformat.reads(nb2str(nb), as_version=4)
    nb.metadata.language_info, cells = {'name': 'python'}, []
    for c in nb.cells[1:]:  # cell 0: nbdev's frontmatter
        opts, tags = {}, c.metadata.setdefault('tags', [])
        if c.cell_type == 'code':  # Quarto's options, which nbdev leaves in the code
            opts = dict(re.findall(r'^#\|\s*([\w-]+):\s*["\']?(.*?)["\']?\s*$', c.source, re.M))
            c.source = re.sub(r'^#\|.*(\n|$)', '', c.source, flags=re.M)
        if opts.get('include') == 'false': continue
        if opts.get('output') == 'asis':  # Markdown as is; show_doc's headings anchored as Quarto does (`#c.m`)
            md = '\n'.join(o.get('data', {}).get('text/markdown', o.get('text', '')) for o in c.outputs)
            if _is_showdoc(c):
                md = re.sub(r'^(#+) ([\w.]+)$', lambda m: f'{m[1]} {m[2]} {{ #{m[2].lower()} }}', md, flags=re.M)
                md = f'<div class="nb-doc" markdown>\n\n{md}\n\n</div>'
            c = nbformat.v4.new_markdown_cell(md)
        elif opts.get('code-fold') in ('true', 'show'):
            code = '\n'.join('    ' + l for l in f'```python\n{c.source}\n```'.split('\n'))
            fold = f'???{"+" * (opts["code-fold"] == "show")} abstract "{opts.get("code-summary", "Code")}"'
            cells.append(nbformat.v4.new_markdown_cell(f'{fold}\n\n{code}')); tags.append('remove_input')
        if opts.get('echo') == 'false': tags.append('remove_input')
        if opts.get('output') == 'false': tags.append('remove_output')
        cells.append(c)
    nb.cells, exp, stem = cells, MarkdownExporter(), info['page'].stem
    exp.register_preprocessor(TagRemovePreprocessor(remove_input_tags={'remove_input'}, enabled=True,
                                                    remove_all_outputs_tags={'remove_output'}), enabled=True)
    body, res = exp.from_notebook_node(nb, resources={'output_files_dir': f'{stem}_files', 'unique_key': stem})
    for name, data in res.get('outputs', {}).items():
        f = docs/info['page'].parent/name; f.parent.mkdir(parents=True, exist_ok=True); f.write_bytes(data)
    desc = f'<p class="nb-description" markdown="span">{info["description"]}</p>\n\n' if info.get('description') else ''
    return f'---\n{yaml.safe_dump({"title": info["title"]})}---\n\n# {info["title"]}\n\n{desc}{body}'

def relink(md:str, info:dict, pages:dict, anchors:dict) -> str:
    "nbdev's doc links and links to notebooks as relative links to the pages (`#c.m` without its own entry -> `#c`)."
    def rel(page, frag=''):
        if frag and frag[1:] not in anchors.get(page, ()): frag = '#' + frag[1:].split('.')[0]
        return f'({os.path.relpath(page, info["page"].parent)}{frag})'
    base = re.escape(cfg.doc_host.rstrip('/') + '/' + cfg.doc_baseurl.strip('/') + '/')
    md = re.sub(r'\[\[(`[^`\]]+`)\]\([^)\s]*\)\]', r'[\1]', md)  # nbdev's link inside the author's: the author's
    md = re.sub(r'\(' + base + r'([^)#\s]+)\.html(#[^)\s]*)?\)', lambda m: rel(Path(m[1] + '.md'), m[2] or ''), md)
    def nb_link(m):  # relative to the notebook, or to the repository (index.ipynb is also the README)
        for t in (info['nb'].parent/(m[1] + '.ipynb'), root/(m[1] + '.ipynb')):
            if t.resolve() in pages: return rel(pages[t.resolve()], m[2] or '')
        return m[0]
    return re.sub(r'\((?![a-z]+://)([^)\s#]+?)\.ipynb(#[^)\s]*)?\)', nb_link, md)

def api_page(anchors:dict) -> str:
    "Every public function and class of the package (nbdev's `_modidx`), linked to its `show_doc` entry."
    rows = ['---\ntitle: API reference\n---\n\n# API reference\n']
    for modname, syms in importlib.import_module(f'{cfg.lib_name}._modidx').d['syms'].items():
        mod = importlib.import_module(modname)
        rows += [f'\n## {modname}\n', '| Name | Summary |', '| --- | --- |']
        for sym, (url, _) in syms.items():
            name, (page, _, frag) = sym.removeprefix(modname + '.'), url.partition('#')
            if '.' in name or name.startswith('_') or frag not in anchors.get(Path(page[:-5] + '.md'), ()): continue
            doc = (inspect.getdoc(getattr(mod, name)) or '').split('\n')[0].replace('|', '\\|')
            rows.append(f'| [`{name}`]({page[:-5]}.md#{frag}) | {doc} |')
    return '\n'.join(rows) + '\n'

def build(quiet=False):
    tmp = Path(tempfile.mkdtemp(prefix='medqa_docs_')); docs = tmp/'docs'
    (docs/'assets').mkdir(parents=True); shutil.copy(root/'docs_src'/'extra.css', docs/'assets')
    shutil.copytree(cfg.nbs_path, docs, dirs_exist_ok=True,  # images that markdown cells link to, as nbdev copies them
                    ignore=shutil.ignore_patterns('*.ipynb', '_*', '.*', '*.css', '*.yml'))
    infos = notebooks()
    mds = [to_markdown(i, docs) for i in infos]
    anchors = {i['page']: set(re.findall(r'\{ #(\S+) \}', md)) for i, md in zip(infos, mds)}
    pages = {i['nb'].resolve(): i['page'] for i in infos}
    for i, md in zip(infos, mds):
        (docs/i['page']).parent.mkdir(parents=True, exist_ok=True)
        (docs/i['page']).write_text(relink(md, i, pages, anchors))
    (docs/'api.md').write_text(api_page(anchors))
    paths = [i['page'].as_posix() for i in infos]  # nbs/ in order, then a section per sub-folder (studies/: "Studies")
    subs = dict.fromkeys(p.split('/')[0] for p in paths if '/' in p)
    nav = [{'Home': p} if p == 'index.md' else p for p in paths if '/' not in p] + [
        {d.title(): [p for p in paths if p.startswith(d + '/')]} for d in subs]
    conf = yaml.safe_load((root/'docs_src'/'mkdocs.yml').read_text()) | dict(
        site_name=cfg.title, site_description=cfg.description, copyright=f'Copyright {cfg.copyright}',
        docs_dir=str(docs), site_dir=str(tmp/'site'), nav=nav + ['api.md'])
    conf['extra']['social'] = [{'icon': 'fontawesome/brands/github', 'link': cfg.git_url, 'name': 'Source on GitHub'}]
    (tmp/'mkdocs.yml').write_text(yaml.safe_dump(conf, sort_keys=False, allow_unicode=True))
    # not `mkdocs -q`: it silences the warnings that --strict counts, and the build then passes
    r = subprocess.run([sys.executable, '-m', 'mkdocs', 'build', '--strict', '-f', str(tmp/'mkdocs.yml')], text=True,
                       env={**os.environ, 'NO_MKDOCS_2_WARNING': '1'}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if log := [l for l in r.stdout.splitlines() if not (quiet and l.startswith('INFO'))]: print(*log, sep='\n')
    if r.returncode: sys.exit(f'build_docs: mkdocs build failed; the generated pages are in {docs}')
    shutil.rmtree(cfg.doc_path, ignore_errors=True); shutil.move(str(tmp/'site'), str(cfg.doc_path)); shutil.rmtree(tmp)
    print(f'built {len(infos)} notebook pages + API reference into {cfg.doc_path}:', *[str(i['page']) for i in infos])

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('-q', '--quiet', action='store_true')
    build(**vars(ap.parse_args()))
