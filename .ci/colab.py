"""The simulated Colab runtime: README's Colab cell, then a notebook.

Run by ``.ci/colab`` with the Python of a venv that holds what a Colab
runtime already has (numpy 2, pandas, matplotlib, scikit-learn, scipy,
tqdm, ipykernel, nbclient). One kernel, as on Colab: numpy is imported
first (the runtime's own imports), then the README's cell runs with
``REPO`` pointing at this clone, then every cell of the notebook. Fails
when a cell raises, when a cell of the notebook writes to stderr, or
when numpy is no longer the 2.x it started with.
Usage: colab.py REPO_DIR NOTEBOOK
"""
import pathlib
import re
import sys

import nbclient
import nbformat

PRELUDE = '''\
import numpy, pandas, matplotlib.pyplot
print('numpy', numpy.__version__, 'imported before the cell')
'''
AFTER = '''\
import numpy, mxnet
print('numpy', numpy.__version__, 'mxnet', mxnet.__version__)
'''


def readme_cell(readme, repo):
    """The README's Colab cell, with REPO set to ``repo``."""
    blocks = re.findall(r'```python\n(.*?)```', readme, re.S)
    cell = [b for b in blocks if '%pip install' in b and 'REPO' in b]
    if len(cell) != 1:
        sys.exit('README.md: expected one python block with the Colab '
                 '%%pip cell, found %d' % len(cell))
    text, n = re.subn(r"^REPO = .*$", 'REPO = %r' % repo, cell[0],
                      flags=re.M)
    if n != 1:
        sys.exit('README.md: the Colab cell sets REPO %d times, not once'
                 % n)
    return text


def main(repo_dir, notebook):
    repo_dir = pathlib.Path(repo_dir).resolve()
    notebook = pathlib.Path(notebook).resolve()
    cell = readme_cell((repo_dir / 'README.md').read_text('utf-8'),
                       repo_dir.as_uri())
    print('the README cell, as run:\n' + cell)
    nb = nbformat.read(str(notebook), as_version=4)
    cells = [nbformat.v4.new_code_cell(PRELUDE),
             nbformat.v4.new_code_cell(cell),
             nbformat.v4.new_code_cell(AFTER)]
    nb.cells = cells + nb.cells
    client = nbclient.NotebookClient(
        nb, timeout=900, kernel_name='python3',
        resources={'metadata': {'path': str(notebook.parent)}})
    client.execute()
    texts = []
    for i, c in enumerate(nb.cells):
        for out in c.get('outputs', []):
            texts.append(out.get('text', ''))
            if out.get('name') != 'stderr':
                continue
            # pip's own notices in the README cell are pip's; the
            # notebook's cells must stay clean, as under nbmake
            # (notebooks/conftest.py)
            if i >= len(cells) or 'Traceback' in out['text']:
                sys.exit('cell %d wrote to stderr:\n%s'
                         % (i - len(cells), out['text']))
    first = re.search(r'numpy (\S+) imported', texts[0] if texts else '')
    after = re.search(r'numpy (\S+) mxnet (\S+)', ''.join(texts))
    if not (first and after):
        sys.exit('the prelude or the check after the cell printed nothing')
    print('numpy %s before the cell, %s after it; mxnet %s'
          % (first.group(1), after.group(1), after.group(2)))
    if not after.group(1).startswith('2.') or first.group(1) != \
            after.group(1):
        sys.exit('numpy changed under the kernel')
    print('%s: %d cells ran after the README cell'
          % (notebook.name, len(nb.cells) - len(cells)))
    for text in texts:
        for line in text.splitlines():
            if 'test acc' in line:
                print('  ' + line)


if __name__ == '__main__':
    if len(sys.argv) != 3:
        sys.exit('usage: colab.py REPO_DIR NOTEBOOK')
    main(*sys.argv[1:])
