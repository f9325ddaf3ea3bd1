"""The chapter's sections as a teacher hands them out.

``find_sections`` finds the twelve notebooks (and their answer
companions); ``executed_notebook`` gives each one with its outputs,
executing it (``CI=1``) or reusing a cached copy keyed on its code cells,
the kernel and the package version; ``student_cells`` cuts the student
edition (no 解答); ``with_slide_types`` gives every cell a reveal.js
slide type; ``overview`` reads a section's goals and run time. Used by
``python -m d2l_cnn.handout``.
"""
import contextlib
import copy
import hashlib
import json
import os
import pathlib
import re
import sys
import warnings

from .errors import D2LError, UsageError

CACHE_FORMAT = 1
ANSWER = '解答'
SLIDE_TYPES = ('slide', 'subslide', 'fragment', '-', 'skip', 'notes')


class Section:
    """One notebook of the chapter: ``5.1`` from ``05_01_corr2d``."""

    def __init__(self, path):
        self.path = pathlib.Path(path)
        self.stem = self.path.stem
        chapter, number = self.stem.split('_')[:2]
        self.number = '%d.%d' % (int(chapter), int(number))
        self.key = (int(chapter), int(number))
        answers = self.path.parent / 'answers' / self.path.name
        self.answers = answers if answers.exists() else None
        self.html = self.stem + '.html'


def find_sections(notebooks):
    """The chapter's notebooks in ``notebooks``, in section order."""
    found = [Section(p) for p in pathlib.Path(notebooks).glob('*.ipynb')
             if re.match(r'\d\d_\d\d_', p.name)]
    if not found:
        raise UsageError('no notebooks named NN_NN_word.ipynb in %s'
                         % notebooks)
    return sorted(found, key=lambda s: s.key)


def choose_sections(sections, text):
    """The sections named in ``text`` (``'5.1,5.3'``); all when None."""
    if not text:
        return sections
    by_number = {s.number: s for s in sections}
    chosen = []
    for word in text.split(','):
        word = word.strip()
        if word not in by_number:
            raise UsageError('unknown section %r; choose from %s'
                             % (word, ', '.join(by_number)))
        if by_number[word] not in chosen:
            chosen.append(by_number[word])
    return chosen


def read_notebook(path):
    import nbformat
    from nbformat.warnings import MissingIDFieldWarning
    with warnings.catch_warnings():   # notebooks saved without cell ids
        warnings.simplefilter('ignore', MissingIDFieldWarning)
        return nbformat.read(str(path), as_version=4)


def cache_key(nb):
    """Hash of what decides the outputs: code, kernel, package version."""
    from . import __version__
    code = [c.source for c in nb.cells if c.cell_type == 'code']
    kernel = nb.metadata.get('kernelspec', {}).get('name', 'python3')
    text = json.dumps([CACHE_FORMAT, __version__, kernel, code])
    return hashlib.sha256(text.encode('utf-8')).hexdigest()[:24]


def default_cache_dir():
    base = os.environ.get('XDG_CACHE_HOME') or os.path.join(
        os.path.expanduser('~'), '.cache')
    return pathlib.Path(base) / 'd2l_cnn' / 'handout'


def has_outputs(nb):
    return any(c.get('outputs') for c in nb.cells if c.cell_type == 'code')


def copy_outputs(source, target):
    """Put the outputs of ``source``'s code cells into ``target``'s."""
    code = [c for c in source.cells if c.cell_type == 'code']
    for cell, done in zip((c for c in target.cells
                           if c.cell_type == 'code'), code):
        cell.outputs = done.outputs
        cell.execution_count = done.execution_count
        tags = [t for t in done.metadata.get('tags', [])
                if t == 'd2l-failed']
        if tags:
            cell.metadata['tags'] = cell.metadata.get('tags', []) + tags
    return target


@contextlib.contextmanager
def _environ(**values):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def execute(nb, path, label, timeout=1200):
    """Run ``nb`` in a fresh kernel (CI=1: the quick recipes) with a
    progress bar; returns the failure (``'cell N: Error: ...'``) or None.

    A failing cell keeps its error output and gets the tag
    ``d2l-failed``; the cells after it stay unexecuted.
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    from tqdm import tqdm

    code = [c for c in nb.cells if c.cell_type == 'code']
    current = {}
    bar = tqdm(total=len(code), desc=label, unit='cell', leave=True,
               file=sys.stderr, dynamic_ncols=True)

    def started(cell, cell_index, **kwargs):
        current['index'] = cell_index

    def executed(cell, cell_index, execute_reply, **kwargs):
        bar.update(1)

    client = NotebookClient(
        nb, timeout=timeout, kernel_name='python3',
        resources={'metadata': {'path': str(path.parent)}},
        extra_arguments=['--IPKernelApp.log_level=ERROR'],
        on_cell_start=started, on_cell_executed=executed)
    try:
        with _environ(CI='1', PYTHONWARNINGS='ignore'):
            client.execute()
    except CellExecutionError as e:
        index = current.get('index')
        cell = nb.cells[index]
        cell.metadata['tags'] = cell.metadata.get('tags', []) + [
            'd2l-failed']
        error = [o for o in cell.outputs if o.output_type == 'error']
        what = ('%s: %s' % (error[0].ename, error[0].evalue) if error
                else str(e).strip().splitlines()[-1])
        return 'cell %d: %s' % (index + 1, what[:200])
    finally:
        bar.close()
    return None


def executed_notebook(path, label, mode, cache_dir):
    """``path`` with outputs (from the cache, the file or a run) and the
    failure of its run (or None). ``mode``: auto, cached or execute."""
    import nbformat
    nb = read_notebook(path)
    key = cache_key(nb)
    cached = pathlib.Path(cache_dir) / ('%s-%s.ipynb' % (path.stem, key))
    if mode != 'execute':
        if cached.exists():
            return copy_outputs(read_notebook(cached), nb), None
        if has_outputs(nb):
            return nb, None
        if mode == 'cached':
            raise D2LError('--cached: %s has no cached outputs; build it '
                           'once with --execute' % path.name)
    failure = execute(nb, path, label)
    if failure is None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix('.part')
        nbformat.write(nb, str(partial))
        os.replace(partial, cached)
    return nb, failure


# -- what each edition shows ---------------------------------------------

HEADING = re.compile(r'^(#{1,6})\s+(.*)$', re.M)


def _heading(cell):
    """(level, text) of a markdown cell that starts with a heading."""
    if cell.cell_type != 'markdown':
        return None
    m = HEADING.match(cell.source.lstrip())
    return (len(m.group(1)), m.group(2)) if m else None


def student_cells(nb):
    """A copy of ``nb`` without answers: sections headed 解答 (down to
    the next heading of their level or above, in the same cell or
    later ones) and paragraphs that mention 解答 are left out."""
    nb = copy.deepcopy(nb)
    cells, skip_level = [], None
    for cell in nb.cells:
        if cell.cell_type != 'markdown':
            if skip_level is None:
                cells.append(cell)
            continue
        kept, fenced = [], False
        for line in cell.source.splitlines():
            if line.lstrip().startswith(('```', '~~~')):
                fenced = not fenced
            m = None if fenced else HEADING.match(line)
            if m:
                level, text = len(m.group(1)), m.group(2)
                if ANSWER in text:
                    skip_level = min(level, skip_level or level)
                elif skip_level is not None and level <= skip_level:
                    skip_level = None
            if skip_level is None:
                kept.append(line)
        parts = re.split(r'\n\s*\n', '\n'.join(kept))
        parts = [p for p in parts if ANSWER not in p]
        # a horizontal rule left at the end (it stood above the answers)
        while parts and parts[-1].strip() in ('---', '***', '___'):
            parts.pop()
        cell.source = '\n\n'.join(parts)
        if cell.source.strip():
            cells.append(cell)
    nb.cells = cells
    return nb


def _has_figure(cell):
    return any(k.startswith('image/') for o in cell.get('outputs', [])
               for k in o.get('data', {}))


def with_slide_types(nb):
    """A copy of ``nb`` in which every cell has a slide type.

    Cells that carry ``slideshow.slide_type`` keep it (the notebooks'
    own choice); a notebook without any gets one slide per ``##``
    heading, the title cell first, each figure on a sub-slide of its
    own (the cell after a figure starts the next sub-slide).
    """
    nb = copy.deepcopy(nb)
    if any('slide_type' in c.metadata.get('slideshow', {})
           for c in nb.cells):
        for c in nb.cells:
            c.metadata.setdefault('slideshow', {}).setdefault(
                'slide_type', '-')
        return nb
    after_figure = False
    for i, cell in enumerate(nb.cells):
        head = _heading(cell)
        if i == 0 or (head and head[0] <= 2):
            kind = 'slide'
        elif _has_figure(cell) or after_figure:
            kind = 'subslide'
        else:
            kind = '-'
        after_figure = _has_figure(cell)
        cell.metadata['slideshow'] = {'slide_type': kind}
    return nb


def title_of(nb, fallback):
    for cell in nb.cells:
        head = _heading(cell)
        if head and head[0] == 1:
            return head[1].strip()
    return fallback


def _block_after(text, word):
    """The lines after the line that holds ``word``, up to a blank line
    that is followed by something other than a list item."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if word in line:
            block = []
            for rest in lines[i + 1:]:
                if rest.strip() or not block:
                    if block and not rest.strip():
                        continue
                    if block and not re.match(r'\s*([*+-]|\d+\.)\s', rest) \
                            and not rest.startswith(' '):
                        break
                    block.append(rest)
                else:
                    break
            return [b for b in block if b.strip()]
    return []


def overview(nb):
    """(learning goals as markdown list lines, run-time sentence)."""
    text = '\n\n'.join(c.source for c in nb.cells[:3]
                       if c.cell_type == 'markdown')
    goals = [g.strip() for g in _block_after(text, '学习目标')
             if re.match(r'\s*([*+-]|\d+\.)\s', g)]
    run_time = ''
    m = re.search(r'\*\*运行时间\*\*[：:]?\s*(.+)', text)
    if m:
        run_time = m.group(1).strip()
    return goals, run_time
