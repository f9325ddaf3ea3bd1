"""The notebooks: in sync with the library, clean, complete, no NameError.

The notebooks themselves are executed by nbmake (``pytest --nbmake
notebooks``); these tests read them as files and test
``d2l_cnn.notebook``.

The ``#@save`` rule: a code cell whose first line is ``#@save`` holds,
definition by definition, the library's source of the same name (the
registry's ``@register_model(...)`` lines are left out). Documented,
mechanical differences are allowed, and only these:

- ``BOOK_NAMES``: the notebook uses the book's name for a library
  function that has another name in the library (``vgg`` is the
  registered VGG-11/4 builder, so the book's ``vgg(conv_arch)`` is the
  library's ``vgg_net``; the registered ``lenet`` also builds the second
  edition, so the book's network is ``lenet_v1``). The cell then equals
  the library source with the ``def`` line's name replaced.

Exercise variants live in their own library functions (``lenet2``,
``mlpconv``, ``resnet_stage``, ``BottleneckDenseBlock``, ...) and are
shown in the answers, so the main text shows the book's shapes.

Answers live apart (see the conventions of this round): each student
notebook ``notebooks/05_NN_word.ipynb`` ends with 练习 and hints only,
and its teacher's companion ``notebooks/answers/05_NN_word.ipynb``
answers every exercise. nbmake executes both; ``notebooks/conftest.py``
fails a run that writes to stderr.
"""
import ast
import importlib
import importlib.util
import inspect
import pathlib
import re
import textwrap

import mxnet as mx
import nbformat
import numpy as np
import pytest
from matplotlib.figure import Figure
from pyflakes import api as flakes_api
from pyflakes import messages as flakes_messages

import d2l_cnn
from d2l_cnn import UsageError, data, notebook, registry, settings, summary

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / 'notebooks'
ANSWERS = NOTEBOOKS / 'answers'

# The book's section titles (first edition, chapter 5): not in the code
TITLES = {
    '5.1': '二维卷积层', '5.2': '填充和步幅',
    '5.3': '多输入通道和多输出通道', '5.4': '池化层',
    '5.5': '卷积神经网络（LeNet）', '5.6': '深度卷积神经网络（AlexNet）',
    '5.7': '使用重复元素的网络（VGG）', '5.8': '网络中的网络（NiN）',
    '5.9': '含并行连结的网络（GoogLeNet）', '5.10': '批量归一化',
    '5.11': '残差网络（ResNet）', '5.12': '稠密连接网络（DenseNet）',
}

# notebook -> {name in the notebook: name in the library}; see the module
BOOK_NAMES = {
    '05_05_lenet': {'lenet': 'lenet_v1'},
    '05_07_vgg': {'vgg': 'vgg_net'},
}


def _entry(name):
    return registry.get_entry(name)


def section_of(stem):
    """'05_07_vgg' -> '5.7'."""
    chapter, number = stem.split('_')[:2]
    return '%d.%d' % (int(chapter), int(number))


def section_module(section):
    """The module of the networks the registry files under ``section``.

    Sections without networks (5.1-5.4) show ``d2l_cnn.layers``.
    """
    modules = {_entry(name).builder.__module__
               for name in d2l_cnn.list_models()
               if _entry(name).section == section}
    assert len(modules) <= 1, modules
    return modules.pop() if modules else 'd2l_cnn.layers'


NAMES = sorted(p.stem for p in NOTEBOOKS.glob('*.ipynb'))
# (file name, book section title, module of its #@save cells)
SECTIONS = [(stem, '%s %s' % (section_of(stem), TITLES[section_of(stem)]),
             section_module(section_of(stem))) for stem in NAMES]
TRAINED = [stem for stem, _, module in SECTIONS
           if module != 'd2l_cnn.layers']


def read(name, folder=NOTEBOOKS):
    return nbformat.read(str(folder / (name + '.ipynb')), as_version=4)


def read_answers(name):
    return read(name, ANSWERS)


def all_notebooks():
    """(id, notebook) of every student notebook and companion."""
    return ([(name, read(name)) for name in NAMES]
            + [('answers/' + name, read_answers(name)) for name in NAMES
               if (ANSWERS / (name + '.ipynb')).exists()])


def by_id(nb_id):
    if nb_id.startswith('answers/'):
        return read_answers(nb_id.split('/', 1)[1])
    return read(nb_id)


# students' notebooks and the companions there are (that every student
# notebook has one is test_every_exercise_is_answered_in_the_companion)
ALL = NAMES + ['answers/' + name for name in NAMES
               if (ANSWERS / (name + '.ipynb')).exists()]


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == 'code']


def save_cells(nb):
    return [c.source for c in code_cells(nb)
            if c.source.splitlines()[:1] == ['#@save']]


def prose(nb):
    return '\n'.join(c.source for c in nb.cells if c.cell_type == 'markdown')


def library_source(module, node, rename=None):
    """The library's source of the def/class/assignment ``node`` names.

    ``rename`` maps the notebook's name to the library's (``BOOK_NAMES``);
    the source comes back under the notebook's name.
    """
    rename = rename or {}
    if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
        libname = rename.get(node.name, node.name)
        obj = getattr(module, libname, None)
        assert obj is not None, '%s has no %s' % (module.__name__, libname)
        text = inspect.getsource(obj)
        lines = text.splitlines(keepends=True)
        # from the def/class line: the decorators stay behind
        first = ast.parse(textwrap.dedent(text)).body[0].lineno
        text = ''.join(lines[first - 1:]).rstrip('\n')
        if libname != node.name:
            kind = 'def' if isinstance(node, ast.FunctionDef) else 'class'
            text = text.replace('%s %s(' % (kind, libname),
                                '%s %s(' % (kind, node.name), 1)
        return text
    assert isinstance(node, ast.Assign) and len(node.targets) == 1, \
        '#@save cells hold only defs, classes and assignments'
    name = node.targets[0].id
    text = inspect.getsource(module)
    for top in ast.parse(text).body:
        if isinstance(top, ast.Assign) and [
                getattr(t, 'id', None) for t in top.targets] == [name]:
            return ast.get_source_segment(text, top)
    raise AssertionError('%s has no top-level %s' % (module.__name__, name))


def test_twelve_notebooks_in_book_order():
    assert NAMES == ['05_%02d_%s' % (i, word) for i, word in enumerate(
        ['corr2d', 'padding', 'channels', 'pooling', 'lenet', 'alexnet',
         'vgg', 'nin', 'googlenet', 'batchnorm', 'resnet', 'densenet'],
        start=1)]


def test_sections_come_from_the_registry():
    modules = dict((stem, module) for stem, _, module in SECTIONS)
    assert modules['05_07_vgg'] == 'd2l_cnn.models.vgg'
    assert modules['05_10_batchnorm'] == 'd2l_cnn.models.batchnorm'
    assert modules['05_03_channels'] == 'd2l_cnn.layers'
    assert len(TRAINED) == 8


@pytest.mark.parametrize('name', ALL)
def test_committed_without_outputs(name):
    nb = by_id(name)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == 'python3'
    for cell in code_cells(nb):
        assert cell.outputs == [], cell.source[:60]
        assert cell.execution_count is None, cell.source[:60]


@pytest.mark.parametrize('name, title, module', SECTIONS, ids=NAMES)
def test_save_cells_are_the_library_source(name, title, module):
    module = importlib.import_module(module)
    cells = save_cells(read(name))
    assert cells, '%s has no #@save cell' % name
    if (ANSWERS / (name + '.ipynb')).exists():
        cells += save_cells(read_answers(name))
    for source in cells:
        body = source.split('\n', 1)[1]
        tree = ast.parse(body)
        expected = [library_source(module, node, BOOK_NAMES.get(name))
                    for node in tree.body]
        assert expected, 'empty #@save cell in %s' % name
        assert body.strip('\n') == '\n\n\n'.join(expected), (
            '%s: a #@save cell differs from %s' % (name, module.__name__))


def test_book_names_are_used():
    # every documented rename is needed: the notebook defines that name
    for name, renames in BOOK_NAMES.items():
        defined = set()
        for source in save_cells(read(name)):
            defined.update(getattr(n, 'name', None)
                           for n in ast.parse(source).body)
        assert set(renames) <= defined, name


def test_save_cells_cover_the_section_blocks():
    # the book's building blocks are shown, not only imported
    shown = set()
    for name in NAMES:
        for source in save_cells(read(name)):
            for node in ast.parse(source).body:
                shown.add(getattr(node, 'name', None))
    for block in ('corr2d', 'Conv2D', 'comp_conv2d', 'corr2d_multi_in',
                  'corr2d_multi_in_out', 'corr2d_multi_in_out_1x1',
                  'pool2d', 'lenet', 'alexnet', 'vgg_block', 'vgg',
                  'nin_block', 'nin', 'Inception', 'googlenet',
                  'batch_norm', 'BatchNorm', 'batchnorm', 'Residual',
                  'resnet_block', 'resnet', 'conv_block', 'DenseBlock',
                  'transition_block', 'densenet'):
        assert block in shown, block


def main_text(nb):
    """The cells before the 练习 heading: what a student reads first."""
    cells = []
    for cell in nb.cells:
        if cell.cell_type == 'markdown' and re.search(
                r'^## 练习', cell.source, re.M):
            break
        cells.append(cell)
    return cells


@pytest.mark.parametrize('name', TRAINED)
def test_main_text_has_no_exercise_hooks(name):
    # the book's shapes: no variant switches in what students read first
    code = '\n'.join(c.source for c in main_text(read(name))
                     if c.cell_type == 'code')
    for hook in ('edition=', 'preact=', 'block=', 'vgg_net', 'mlpconv'):
        assert not re.search(r'\b' + hook, code), (name, hook)


@pytest.mark.parametrize('name', NAMES)
def test_code_parses_and_prose_is_chinese(name):
    nb = read(name)
    for cell in code_cells(nb):
        ast.parse(cell.source)
    text = prose(nb)
    assert sum('\u4e00' <= ch <= '\u9fff' for ch in text) > 300


class _Collect:
    """A pyflakes reporter that keeps the messages."""

    def __init__(self):
        self.messages = []

    def flake(self, message):
        self.messages.append(message)

    def unexpectedError(self, filename, msg):
        self.messages.append(msg)

    def syntaxError(self, filename, msg, lineno, offset, text):
        self.messages.append('%s:%s: %s' % (filename, lineno, msg))


UNDEFINED = (flakes_messages.UndefinedName, flakes_messages.UndefinedLocal,
             flakes_messages.UndefinedExport)


def undefined_names(source, filename='notebook'):
    reporter = _Collect()
    flakes_api.check(source, filename, reporter)
    return ['%s' % m for m in reporter.messages
            if isinstance(m, UNDEFINED) or isinstance(m, str)]


def test_the_undefined_name_check_can_fail():
    assert undefined_names('x = 1\nprint(y)\n')
    assert not undefined_names('x = 1\nprint(x)\n')


@pytest.mark.parametrize('name', ALL)
def test_no_undefined_names(name):
    # the notebook's code, top to bottom, as one module (IPython magics
    # and shell lines dropped): a NameError waiting to happen fails here
    lines = []
    for cell in code_cells(by_id(name)):
        lines.extend(line for line in cell.source.splitlines()
                     if not line.startswith(('%', '!')))
        lines.append('')
    assert undefined_names('\n'.join(lines) + '\n', name) == []


@pytest.mark.parametrize('name', ALL)
def test_import_d2l_cnn_before_mxnet(name):
    # d2l_cnn sets the OpenMP threads only if MXNet is not loaded yet
    first = code_cells(by_id(name))[0].source
    imports = [line.split()[1].split('.')[0] for line in first.splitlines()
               if line.startswith(('import ', 'from '))]
    assert 'd2l_cnn' in imports, name
    if 'mxnet' in imports:
        assert imports.index('d2l_cnn') < imports.index('mxnet'), name


@pytest.mark.parametrize('name', NAMES)
def test_classroom_sections(name):
    nb = read(name)
    text = prose(nb)
    first = nb.cells[0].source
    assert first.startswith('# %s' % section_of(name))
    assert '学习目标' in first and '运行时间' in first
    goals = re.findall(r'^\* ', first.split('学习目标', 1)[1], re.M)
    assert 3 <= len(goals) <= 4, (name, len(goals))
    for heading in ('## 小结', '## 练习', '## 参考文献'):
        assert re.search(r'^%s' % heading, text, re.M), (name, heading)
    order = [text.index(h) for h in ('## 小结', '## 练习', '## 参考文献')]
    assert order == sorted(order), name


@pytest.mark.parametrize('name', NAMES)
def test_no_answers_in_the_students_notebook(name):
    # the answers are in the teacher's companion, not hidden below
    for cell in read(name).cells:
        assert '解答' not in cell.source, (name, cell.source[:80])
        assert not cell.metadata.get('jupyter', {}).get('source_hidden'), (
            name, cell.source[:80])


def exercises(name):
    """The numbers of the exercises of student notebook ``name``."""
    text = prose(read(name))
    part = text.split('## 练习', 1)[1].split('\n## ', 1)[0]
    return [int(n) for n in re.findall(r'^(\d+)\. ', part, re.M)]


def answered(nb):
    """Exercise numbers a companion answers: '## 练习 2', '## 练习 1—3'."""
    numbers = set()
    for cell in nb.cells:
        if cell.cell_type != 'markdown':
            continue
        for first, last in re.findall(r'^## 练习 (\d+)(?:\s*[—–-]\s*(\d+))?',
                                      cell.source, re.M):
            numbers.update(range(int(first), int(last or first) + 1))
    return numbers


@pytest.mark.parametrize('name', NAMES)
def test_every_exercise_is_answered_in_the_companion(name):
    path = ANSWERS / (name + '.ipynb')
    assert path.exists(), 'no teacher\'s companion %s' % path
    nb = read_answers(name)
    section = section_of(name)
    title = '# %s %s — 练习解答（教师用）' % (section, TITLES[section])
    assert nb.cells[0].source.startswith(title), nb.cells[0].source[:80]
    assert name + '.ipynb' in nb.cells[0].source  # links the students'
    questions = exercises(name)
    assert questions == list(range(1, len(questions) + 1)), questions
    assert set(questions) <= answered(nb), (name, questions,
                                            sorted(answered(nb)))


def test_the_answered_check_can_fail():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell('## 练习 1—3\n\n...'),
                nbformat.v4.new_markdown_cell('## 练习 5（第二版）')]
    assert answered(nb) == {1, 2, 3, 5}


def test_every_companion_has_its_students_notebook():
    companions = sorted(p.stem for p in ANSWERS.glob('*.ipynb'))
    assert companions and set(companions) <= set(NAMES), companions


@pytest.mark.parametrize('name', NAMES)
def test_every_exercise_has_a_hint(name):
    text = prose(read(name))
    exercises = text.split('## 练习', 1)[1].split('\n## ', 1)[0]
    questions = re.findall(r'^\d+\. ', exercises, re.M)
    hints = re.findall(r'提示', exercises)
    assert questions, name
    assert len(hints) >= len(questions), (name, len(questions), len(hints))


# ------------------------------------------------- prose, slides, links

CJK = re.compile(r'[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]')
# a line that starts a new block, not a paragraph's continuation
BLOCK_START = re.compile(r'^\s*([*+-] |\d+\. |#|\$\$|\||>|<|```|---|!\[)')


def hard_breaks(source):
    """Line breaks inside Chinese paragraphs of a markdown ``source``.

    Markdown renders such a break as a space ("在图像上 滑动"). Breaks
    inside ``$$`` math and code fences, and before a new block (list
    item, heading, table, math), are fine.
    """
    found = []
    lines = source.split('\n')
    in_math = in_fence = False
    for a, b in zip(lines, lines[1:]):
        if a.strip().startswith('```'):
            in_fence = not in_fence
        if a.count('$$') % 2:
            in_math = not in_math
        if in_fence or in_math or not a.strip() or not b.strip():
            continue
        if BLOCK_START.match(b) or a.lstrip().startswith(('#', '|', '$$')):
            continue
        if a.rstrip().endswith('$$'):
            continue
        if CJK.match(a.rstrip()[-1]) or CJK.match(b.strip()[0]):
            found.append(a[-20:] + '⏎' + b.strip()[:20])
    return found


def test_the_line_break_check_can_fail():
    assert hard_breaks('用一个小窗口在图像上\n滑动')
    assert hard_breaks('* 一项\n  接着写')
    assert not hard_breaks('一段。\n\n另一段。\n\n* 一项\n* 另一项')
    assert not hard_breaks('$$a=\nb$$\n\n```\n中文\n注释\n```')
    assert not hard_breaks('Gradient-based\nlearning applied')


@pytest.mark.parametrize('name', ALL)
def test_no_hard_line_breaks_in_chinese_paragraphs(name):
    for cell in by_id(name).cells:
        if cell.cell_type == 'markdown':
            assert hard_breaks(cell.source) == [], name


# Figures and claims the third round found wrong (issue 23): each was
# contradicted by what its own cell prints, or by the book.
WRONG = [
    ('约 196 万', '5.8: NiN has the parameters the cell above prints'),
    ('两个数量级', '5.6: the small AlexNet is 72x / 88x smaller, not 100x'),
    ('0×0+8×1+0×2+0×3', "5.2: the window is [[7, 8], [0, 0]]"),
    (r'0\times0+8\times1+0\times2+0\times3', '5.2, as LaTeX'),
    ('645888', "5.4: AlexNet's pool has no padding (519,168)"),
    ('645,888', '5.4, with a comma'),
    ('第 56 个周期', '5.5: a plateau length measured once, not printed'),
    ('书中的循环 2.3 秒', '5.5: a timing no cell prints'),
    ('逐个样本反而快', '5.6: a loader speed the cell above contradicts'),
    ('逐个样本更快', '5.6: a loader speed the cell above contradicts'),
    ('书中的普通 SGD 在少量步数里就能学会',
     '5.10: the cell runs SGD with momentum, not the book\'s plain SGD'),
]
# a heading that calls the library's train_ch5 faster (5.5)
WRONG_RE = [(re.compile(r'^#+ .*train_ch5.*更快', re.M),
             "5.5: the heading called the library's train_ch5 faster")]


def test_the_wrong_figures_check_can_fail():
    assert wrong_figures('NiN 约 196 万个参数')
    assert wrong_figures('## 库中的 `train_ch5`：更快、经过测试')
    assert not wrong_figures('## 库中的 `train_ch5`')


def wrong_figures(text):
    found = [why for wrong, why in WRONG if wrong in text]
    found += [why for pattern, why in WRONG_RE if pattern.search(text)]
    return found


@pytest.mark.parametrize('name', ALL)
def test_no_figures_the_issue_found_wrong(name):
    assert wrong_figures(prose(by_id(name))) == [], name


SLIDE_TYPES = {'slide', 'subslide', 'fragment', '-', 'skip', 'notes'}


@pytest.mark.parametrize('name', ALL)
def test_every_cell_has_a_slide_type(name):
    cells = by_id(name).cells
    for cell in cells:
        kind = cell.metadata.get('slideshow', {}).get('slide_type')
        assert kind in SLIDE_TYPES, (name, cell.source[:60], kind)
        if cell.cell_type == 'markdown' and cell.source.startswith('## '):
            assert kind == 'slide', (name, cell.source[:60])
    assert cells[0].metadata.slideshow.slide_type == 'slide'


# the first edition's page of each section (the v1 .md file names)
PAGES = {'5.1': 'conv-layer', '5.2': 'padding-and-strides',
         '5.3': 'channels', '5.4': 'pooling', '5.5': 'lenet',
         '5.6': 'alexnet', '5.7': 'vgg', '5.8': 'nin', '5.9': 'googlenet',
         '5.10': 'batch-norm', '5.11': 'resnet', '5.12': 'densenet'}
BOOK_URL = 'https://zh-v1.d2l.ai/chapter_convolutional-neural-networks/'


@pytest.mark.parametrize('name', NAMES)
def test_links_the_books_page_and_discussion(name):
    first = read(name).cells[0].source
    assert BOOK_URL + PAGES[section_of(name)] + '.html' in first, name
    assert re.search(r'https://discuss\.gluon\.ai/t/topic/\d+', first), name


# ----------------------------------------------------- stderr (nbmake)

def notebooks_conftest():
    spec = importlib.util.spec_from_file_location(
        'notebooks_conftest', NOTEBOOKS / 'conftest.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_nbmake_runs_fail_on_stderr():
    from nbmake import nb_run
    module = notebooks_conftest()
    assert getattr(nb_run.NotebookRun.execute, 'checks_stderr', False)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('x = 1')]
    nb.cells[0].outputs = [
        nbformat.v4.new_output('stream', name='stdout', text='fine\n'),
        nbformat.v4.new_output('stream', name='stderr',
                               text='UserWarning: Glyph 8727 missing\n')]
    assert module.stderr_outputs(nb) == [
        (0, 'UserWarning: Glyph 8727 missing\n')]


def test_a_notebook_that_warns_fails(tmp_path):
    # the hook nbmake calls, on a two-cell notebook (a few seconds)
    from nbmake import nb_run
    notebooks_conftest()
    nb = nbformat.v4.new_notebook()
    nb.metadata.kernelspec = {'name': 'python3', 'display_name': 'Python 3',
                              'language': 'python'}
    nb.cells = [nbformat.v4.new_code_cell('print(1)'),
                nbformat.v4.new_code_cell(
                    'import warnings\nwarnings.warn("careful")')]
    path = tmp_path / 'warns.ipynb'
    nbformat.write(nb, str(path))
    result = nb_run.NotebookRun(path, 120).execute()
    assert result.error is not None
    assert result.error.failing_cell_index == 1
    assert 'careful' in result.error.summary


@pytest.mark.parametrize('name', NAMES)
def test_references_are_full_citations(name):
    text = prose(read(name))
    refs = text.split('## 参考文献', 1)[1].split('\n## ', 1)[0]
    refs = refs.split('\n---', 1)[0]
    # list items ("1. " or "* "), continuation lines joined
    entries = re.split(r'^(?:\d+\.|\*) ', refs, flags=re.M)[1:]
    assert entries, name
    for entry in entries:
        entry = ' '.join(entry.split())
        # authors, year, title and where it appeared: not a bare name
        assert re.search(r'\b(19|20)\d\d[ab]?\b', entry), entry
        assert len(entry) > 60, entry


@pytest.mark.parametrize('name', TRAINED)
def test_training_notebooks_use_the_switch(name):
    word = name.split('_', 2)[2]
    nb = read(name)
    code = '\n'.join(c.source for c in code_cells(nb))
    assert "run_config('%s')" % word in code
    assert 'print(cfg)' in code
    assert 'train_ch5(' in code and 'LivePlot(' in code
    assert 'shape_walk(' in code
    # one sentence for students, not the switch's manual in every notebook
    assert 'D2L_CNN_QUICK' not in prose(nb)


def test_lenet_notebook_writes_the_books_training_code():
    code = '\n'.join(c.source for c in code_cells(read('05_05_lenet')))
    for definition in ('def try_gpu(', 'def evaluate_accuracy(',
                       'def train_ch5('):
        assert definition in code
    assert 'trainer.step(batch_size)' in code  # the book's quirk, shown
    assert 'asscalar()' in code


def test_alexnet_notebook_writes_the_books_loader():
    code = '\n'.join(c.source for c in code_cells(read('05_06_alexnet')))
    assert 'def load_data_fashion_mnist(' in code
    for part in ('transforms.Resize(', 'transforms.ToTensor()',
                 'transforms.Compose(', 'ArrayDataset(',
                 'load_data_mnist5k('):
        assert part in code, part


def test_readme_maps_notebooks_to_sections():
    text = (NOTEBOOKS / 'README.md').read_text(encoding='utf-8')
    for name, title, _ in SECTIONS:
        assert name + '.ipynb' in text
        assert title in text
    for phrase in ('jupyter lab notebooks/', 'D2L_CNN_QUICK', 'CI',
                   '学习目标', '练习'):
        assert phrase in text


# ------------------------------------------------------- run_config

CHAPTER = ['lenet', 'alexnet', 'vgg', 'nin', 'googlenet', 'batchnorm',
           'resnet', 'densenet']


def fake_data(root, name='fashion-mnist'):
    """Empty files named as data set ``name``'s: present, never read."""
    for filename in data.dataset_info(name).files:
        (root / filename).write_bytes(b'')
    assert data.data_present(name, str(root))
    return str(root)


def test_ci_means_quick_even_with_a_gpu_and_data(tmp_path):
    root = fake_data(tmp_path)
    for env in ({'CI': 'true'}, {'CI': '1', 'D2L_CNN_QUICK': '0'},
                {'D2L_CNN_QUICK': '1'}):
        cfg = notebook.run_config('nin', root=root, env=env, ctx=mx.gpu(0))
        assert cfg.quick and cfg.data == 'mnist5k'
        assert ('CI' in cfg.reason) == ('CI' in env)


def test_no_gpu_means_quick():
    cfg = notebook.run_config('nin', env={}, ctx=mx.cpu())
    assert cfg.quick and cfg.reason == 'no GPU was found'


def test_gpu_without_files_means_quick(tmp_path):
    cfg = notebook.run_config('nin', root=str(tmp_path), env={},
                              ctx=mx.gpu(0))
    assert cfg.quick
    assert 'fashion-mnist files are not in %s' % tmp_path in cfg.reason


def test_gpu_and_files_mean_the_book(tmp_path):
    root = fake_data(tmp_path)
    for name in CHAPTER:
        cfg = notebook.run_config(name, root=root, env={}, ctx=mx.gpu(0),
                                  lang='en')
        book = d2l_cnn.get_recipe(name)
        assert not cfg.quick and cfg.data == 'fashion-mnist'
        assert (cfg.resize, cfg.batch_size, cfg.lr, cfg.num_epochs) == (
            book['resize'], book['batch_size'], book['lr'],
            book['num_epochs'])
        assert cfg.num_train == 60000 and cfg.root == root
        assert "BOOK's recipe" in str(cfg) and 'gpu(0)' in str(cfg)


@pytest.mark.parametrize('name', d2l_cnn.list_models())
def test_quick_is_the_whole_cpu_recipe(name):
    # CI or no GPU: the network's cpu recipe, every field of it
    for env, ctx in (({'CI': '1'}, mx.cpu()), ({'CI': '1'}, mx.gpu(0)),
                     ({}, mx.cpu())):
        cfg = notebook.run_config(name, env=env, ctx=ctx)
        assert cfg.recipe == d2l_cnn.get_recipe(name, 'cpu')
        assert cfg.quick and cfg.kind == 'cpu' and cfg.overrides == ()
        assert cfg.recipe != d2l_cnn.get_recipe(name, 'book')
        assert cfg.num_train == data.dataset_info(cfg.data).num_train
        assert cfg.num_test == data.dataset_info(cfg.data).num_test


@pytest.mark.parametrize('name', d2l_cnn.list_models())
def test_gpu_and_the_books_data_mean_the_whole_book_recipe(name, tmp_path):
    book = d2l_cnn.get_recipe(name, 'book')
    root = fake_data(tmp_path, book.data)
    cfg = notebook.run_config(name, root=root, env={}, ctx=mx.gpu(0))
    assert cfg.recipe == book and cfg.kind == 'book'
    assert not cfg.quick and cfg.overrides == () and cfg.root == root


def test_quick_zero_asks_for_the_book_on_a_cpu():
    cfg = notebook.run_config('lenet', env={'D2L_CNN_QUICK': '0'},
                              ctx=mx.cpu())
    assert not cfg.quick and cfg.reason.startswith('D2L_CNN_QUICK=0')
    assert cfg.recipe == d2l_cnn.get_recipe('lenet', 'book')


@pytest.mark.parametrize('value', ['yes', '2', 'true'])
def test_bad_switch_value(value):
    with pytest.raises(UsageError, match='D2L_CNN_QUICK must be 0 or 1'):
        notebook.run_config('lenet', env={'D2L_CNN_QUICK': value})


@pytest.mark.parametrize('name', CHAPTER)
def test_header_names_the_run_the_why_and_both_recipes(name):
    cpu = d2l_cnn.get_recipe(name, 'cpu')
    book = d2l_cnn.get_recipe(name, 'book')
    text = str(notebook.run_config(name, env={'CI': 'true'}, ctx=mx.cpu(),
                                   lang='en'))
    first = text.splitlines()[0]
    assert first.startswith("run: the cpu recipe, not the book's (because "
                            "the CI environment variable is set)")
    assert cpu.why and first.endswith(cpu.why)
    for part in ('data: mnist5k, 4000 training / 1000 test images',
                 'device: cpu(0)', 'settings: ' + cpu.describe()):
        assert part in text.splitlines(), part
    # both recipes side by side, as the registry has them
    table = settings.recipe_table([('cpu (runs)', cpu), ('book', book)])
    assert table in text
    rows = dict(line.split(None, 1) for line in table.splitlines())
    assert rows['resize'].split() == [str(cpu.resize), str(book.resize)]
    assert rows['optimizer'].split() == [cpu.optimizer, book.optimizer]


def test_header_of_the_book_run_says_why_the_cpu_recipe_differs(tmp_path):
    cfg = notebook.run_config('nin', root=fake_data(tmp_path), env={},
                              ctx=mx.gpu(0), lang='en')
    lines = str(cfg).splitlines()
    assert lines[0] == ("run: the BOOK's recipe (because a GPU and the "
                        "fashion-mnist files are present)")
    assert lines[-1] == ('why the cpu recipe differs: '
                         + d2l_cnn.get_recipe('nin', 'cpu').why)
    assert settings.recipe_table([('cpu', cfg.cpu),
                                  ('book (runs)', cfg.book)]) in str(cfg)


@pytest.mark.parametrize('name', CHAPTER)
def test_header_in_chinese_by_default(name):
    # the notebooks are Chinese: print(cfg) is too (the CLI stays English)
    cfg = notebook.run_config(name, env={'CI': 'true'}, ctx=mx.cpu())
    lines = str(cfg).splitlines()
    assert lines[0] == ('运行：CPU 配置，不是书中的配置'
                        '（原因：设置了 CI 环境变量）')
    assert lines[1] == '数据：mnist5k，训练图像 4000 张，测试图像 1000 张'
    assert lines[2] == '设备：cpu(0)'
    rows = {line.split()[0]: line.split()[1:] for line in lines[4:]}
    cpu, book = cfg.cpu, cfg.book
    assert rows['批量大小'] == [str(cpu.batch_size), str(book.batch_size)]
    assert rows['优化器'] == [cpu.optimizer, book.optimizer]
    assert rows['每周期步数'] == [str(cfg.batches_per_epoch), str(
        -(-data.dataset_info(book.data).num_train // book.batch_size))]
    assert set(rows) == set(notebook.FIELDS_ZH.values())
    # no English sentence left in it
    assert not re.search(r'[A-Za-z]{4,} [a-z]{3,}', str(cfg)), str(cfg)


def test_chinese_header_of_a_changed_run_and_of_the_book(tmp_path):
    cfg = notebook.run_config('lenet', env={'CI': '1'}, ctx=mx.cpu())
    text = str(cfg.replace(lr=0.1, batch_size=64))
    assert text.splitlines()[0].endswith('；改动了 批量大小、学习率')
    assert '本次运行' in text.splitlines()[3]
    cfg = notebook.run_config('nin', root=fake_data(tmp_path), env={},
                              ctx=mx.gpu(0))
    assert str(cfg).splitlines()[0] == (
        '运行：书中的配置（原因：有 GPU，也有 fashion-mnist 的数据文件）')


def test_chinese_header_columns_line_up():
    text = str(notebook.run_config('alexnet', env={'CI': '1'},
                                   ctx=mx.cpu()))
    table = text.splitlines()[3:]
    # the second column starts at the same screen column on every row
    starts = set()
    for line in table[1:]:
        first = line.split()[0]
        rest = line[len(first):]
        starts.add(notebook._width(first) + len(rest) - len(rest.lstrip()))
    assert len(starts) == 1, table


@pytest.mark.parametrize('name', CHAPTER + ['batchnorm_scratch', 'vgg16'])
def test_quick_recipe_fits_the_network(name):
    cfg = notebook.run_config(name, env={'CI': '1'}, ctx=mx.cpu())
    net = d2l_cnn.get_model(name, num_classes=cfg.num_classes)
    assert cfg.resize >= summary.min_input_size(net, cfg.in_channels)
    assert cfg.num_epochs >= 1 and cfg.lr > 0


def test_quick_trainer_and_initializer_are_the_recipes():
    # what the notebooks' training cells call: Adam, warm-up, cosine
    cfg = notebook.run_config('nin', env={'CI': '1'}, ctx=mx.cpu())
    net = d2l_cnn.get_model('nin')
    net.initialize(cfg.initializer, ctx=cfg.ctx)
    assert isinstance(cfg.initializer, mx.init.Xavier)
    trainer = cfg.make_trainer(net)
    assert isinstance(trainer.optimizer, mx.optimizer.Adam)
    schedule = trainer.optimizer.lr_scheduler
    steps = cfg.batches_per_epoch
    assert steps == 125  # 4,000 digits in batches of 32
    warmup = int(round(cfg.warmup_epochs * steps))
    assert schedule(0) == 0.0  # the warm-up starts from 0
    assert schedule(warmup) == pytest.approx(cfg.lr)
    assert schedule(steps * cfg.num_epochs) == pytest.approx(0.0, abs=1e-9)
    # the book's: plain SGD at a constant lr
    book = cfg.replace(**{f.name: cfg.book[f.name]
                          for f in d2l_cnn.Recipe.overridable()})
    trainer = book.make_trainer(net)
    assert type(trainer.optimizer) is mx.optimizer.SGD
    assert trainer.learning_rate == cfg.book.lr


def test_quick_data_is_the_whole_mnist5k():
    cfg = notebook.run_config('alexnet', env={'CI': '1'}, ctx=mx.cpu())
    train_iter, test_iter = cfg.load_data()
    assert train_iter.num_examples == cfg.num_train == 4000
    assert test_iter.num_examples == cfg.num_test == 1000
    labels = []
    for X, y in train_iter:
        assert X.shape[1:] == (1, cfg.resize, cfg.resize)
        labels.extend(y.asnumpy().tolist())
    assert len(labels) == cfg.num_train
    assert len(np.unique(labels)) == 10  # every digit is in the subset


# --------------------------------------------------------- LivePlot

def record(epoch):
    return dict(epoch=epoch, loss=2.0 / epoch, train_acc=0.3 * epoch,
                test_acc=0.25 * epoch, time=1.0, examples_per_sec=100.0)


def test_not_in_a_notebook_here():
    assert not notebook.in_notebook()


def test_liveplot_outside_jupyter_draws_once_at_the_end(tmp_path, capsys,
                                                        monkeypatch):
    plot = notebook.LivePlot(3)
    assert not plot.live
    draws = []
    draw = plot.draw
    monkeypatch.setattr(plot, 'draw', lambda: draws.append(1) or draw())
    monkeypatch.setattr(plot, '_show', lambda: pytest.fail('shown'))
    plot(record(1))
    plot(record(2))
    assert plot.fig is None and draws == []
    plot(record(3))
    assert isinstance(plot.fig, Figure) and draws == [1]
    lines = plot.fig.axes[0].get_lines()
    assert [list(line.get_ydata()) for line in lines] == [
        [2.0, 1.0, 2.0 / 3], [0.3, 0.6, 0.3 * 3], [0.25, 0.5, 0.75]]
    assert [list(line.get_xdata()) for line in lines] == [[1, 2, 3]] * 3
    assert capsys.readouterr().out == ''  # no figure objects printed
    path = tmp_path / 'curves.png'
    plot.save(str(path))
    assert path.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_liveplot_save_draws_if_needed(tmp_path):
    plot = notebook.LivePlot(3)
    plot(record(1))
    assert plot.fig is None
    plot.save(str(tmp_path / 'early.png'))
    assert isinstance(plot.fig, Figure)
    assert (tmp_path / 'early.png').read_bytes()[:4] == b'\x89PNG'


class FakeHandle:
    def __init__(self, shown):
        self.shown = shown

    def update(self, image):
        self.shown.append(('update', image.data))


def test_liveplot_in_jupyter_shows_one_display_updated_each_epoch(
        monkeypatch):
    import IPython.display
    shown = []

    def display(image, display_id=False):
        assert display_id is True  # a handle, so the figure is replaced
        shown.append(('display', image.data))
        return FakeHandle(shown)

    monkeypatch.setattr(IPython.display, 'display', display)
    plot = notebook.LivePlot(3, live=True)
    for epoch in (1, 2, 3):
        plot(record(epoch))
        assert len(plot.fig.axes[0].get_lines()[0].get_xdata()) == epoch
        assert len(shown) == epoch  # one image per epoch
    assert [kind for kind, _ in shown] == ['display', 'update', 'update']
    assert all(png[:4] == b'\x89PNG' for _, png in shown)
    assert len({png for _, png in shown}) == 3  # each epoch a new picture
    # the axis spans the whole run from the first epoch on
    assert plot.fig.axes[0].get_xlim() == (0.5, 3.5)


def test_liveplot_is_wide_enough_for_a_projector():
    plot = notebook.LivePlot(3, live=False)
    for epoch in (1, 2, 3):
        plot(record(epoch))
    png = plot.png()
    width = int.from_bytes(png[16:20], 'big')  # the PNG's IHDR width
    assert width >= 700, width
    ax = plot.fig.axes[0]
    assert min(t.get_fontsize() for t in ax.get_xticklabels()) >= 12
