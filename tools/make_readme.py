"""Render README.md from nbs/index.ipynb (nbdev's own README renderer needs Quarto).
Cells marked `#| hide` are dropped; code is not shown (the README shows commands in markdown), outputs are."""
import re, sys
from pathlib import Path
import nbformat
from nbconvert import MarkdownExporter

root = Path(__file__).resolve().parent.parent

def main(src=root/'nbs'/'index.ipynb', dst=root/'README.md'):
    nb = nbformat.read(src, as_version=4)
    keep = []
    for c in nb.cells:
        lines = c.source.split('\n')
        if any(re.match(r'#\|\s*(hide|include:\s*false)\s*$', l) for l in lines): continue
        c.source = '\n'.join(l for l in lines if not l.startswith('#|')).strip('\n')
        keep.append(c)
    nb.cells = keep
    body, res = MarkdownExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True).from_notebook_node(nb)
    for name, data in res.get('outputs', {}).items():  # images go beside the README
        (dst.parent/'docs_assets').mkdir(exist_ok=True)
        (dst.parent/'docs_assets'/name).write_bytes(data)
        body = body.replace(f'({name})', f'(docs_assets/{name})')
    text = '<!-- Generated from nbs/index.ipynb by tools/make_readme.py: edit the notebook, not this file. -->\n\n' + body
    text = re.sub(r'\n{3,}', '\n\n', text).strip() + '\n'
    if dst.exists() and dst.read_text() == text: return
    tmp = dst.with_suffix('.tmp'); tmp.write_text(text); tmp.replace(dst)

if __name__ == '__main__': main(*sys.argv[1:])
