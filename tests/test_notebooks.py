"""The notebooks: in sync with the library, clean, and their run switch.

The notebooks themselves are executed by nbmake (``pytest --nbmake
notebooks``); these tests read them as files and test
``d2l_cnn.notebook``.
"""
import ast
import importlib
import inspect
import pathlib
import textwrap

import mxnet as mx
import nbformat
import numpy as np
import pytest

import d2l_cnn
from d2l_cnn import UsageError, data, notebook, summary

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / 'notebooks'

# (file name, book section title, module of its #@save cells)
SECTIONS = [
    ('05_01_corr2d', '5.1 二维卷积层', 'd2l_cnn.layers'),
    ('05_02_padding', '5.2 填充和步幅', 'd2l_cnn.layers'),
    ('05_03_channels', '5.3 多输入通道和多输出通道', 'd2l_cnn.layers'),
    ('05_04_pooling', '5.4 池化层', 'd2l_cnn.layers'),
    ('05_05_lenet', '5.5 卷积神经网络（LeNet）', 'd2l_cnn.models.lenet'),
    ('05_06_alexnet', '5.6 深度卷积神经网络（AlexNet）',
     'd2l_cnn.models.alexnet'),
    ('05_07_vgg', '5.7 使用重复元素的网络（VGG）', 'd2l_cnn.models.vgg'),
    ('05_08_nin', '5.8 网络中的网络（NiN）', 'd2l_cnn.models.nin'),
    ('05_09_googlenet', '5.9 含并行连结的网络（GoogLeNet）',
     'd2l_cnn.models.googlenet'),
    ('05_10_batchnorm', '5.10 批量归一化', 'd2l_cnn.models.batchnorm'),
    ('05_11_resnet', '5.11 残差网络（ResNet）', 'd2l_cnn.models.resnet'),
    ('05_12_densenet', '5.12 稠密连接网络（DenseNet）',
     'd2l_cnn.models.densenet'),
]
NAMES = [s[0] for s in SECTIONS]
TRAINED = NAMES[4:]


def read(name):
    return nbformat.read(str(NOTEBOOKS / (name + '.ipynb')), as_version=4)


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == 'code']


def save_cells(nb):
    return [c.source for c in code_cells(nb)
            if c.source.splitlines()[:1] == ['#@save']]


def library_source(module, node):
    """The library's source of the def/class/assignment ``node`` names."""
    if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
        obj = getattr(module, node.name, None)
        assert obj is not None, '%s has no %s' % (module.__name__,
                                                  node.name)
        text = inspect.getsource(obj)
        lines = text.splitlines(keepends=True)
        # from the def/class line: the registry decorators stay behind
        first = ast.parse(textwrap.dedent(text)).body[0].lineno
        return ''.join(lines[first - 1:]).rstrip('\n')
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
    found = sorted(p.stem for p in NOTEBOOKS.glob('*.ipynb'))
    assert found == NAMES


@pytest.mark.parametrize('name', NAMES)
def test_committed_without_outputs(name):
    nb = read(name)
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
    for source in cells:
        body = source.split('\n', 1)[1]
        tree = ast.parse(body)
        expected = [library_source(module, node) for node in tree.body]
        assert expected, 'empty #@save cell in %s' % name
        assert body.strip('\n') == '\n\n\n'.join(expected), (
            '%s: a #@save cell differs from %s' % (name, module.__name__))


def test_save_cells_cover_the_section_blocks():
    # the book's building blocks are shown, not only imported
    shown = set()
    for name in NAMES:
        for source in save_cells(read(name)):
            for node in ast.parse(source).body:
                shown.add(getattr(node, 'name', None))
    for block in ('corr2d', 'Conv2D', 'comp_conv2d', 'corr2d_multi_in',
                  'corr2d_multi_in_out', 'corr2d_multi_in_out_1x1',
                  'pool2d', 'lenet', 'alexnet', 'vgg_block', 'nin_block',
                  'Inception', 'batch_norm', 'BatchNorm', 'Residual',
                  'resnet_block', 'conv_block', 'DenseBlock',
                  'transition_block'):
        assert block in shown, block


@pytest.mark.parametrize('name', NAMES)
def test_code_parses_and_prose_is_chinese(name):
    nb = read(name)
    for cell in code_cells(nb):
        ast.parse(cell.source)
    prose = ''.join(c.source for c in nb.cells if c.cell_type == 'markdown')
    assert sum('\u4e00' <= ch <= '\u9fff' for ch in prose) > 300
    assert '## 练习' in prose and '解答' in prose  # a worked exercise


@pytest.mark.parametrize('name', TRAINED)
def test_training_notebooks_use_the_switch(name):
    word = name.split('_', 2)[2]
    code = '\n'.join(c.source for c in code_cells(read(name)))
    assert "run_config('%s')" % word in code
    assert 'print(cfg)' in code
    assert 'train_ch5(' in code and 'LivePlot(' in code
    assert 'shape_walk(' in code


def test_readme_maps_notebooks_to_sections():
    text = (NOTEBOOKS / 'README.md').read_text(encoding='utf-8')
    for name, title, _ in SECTIONS:
        assert name + '.ipynb' in text
        assert title in text
    for phrase in ('jupyter lab notebooks/', 'D2L_CNN_QUICK', 'CI'):
        assert phrase in text


# ------------------------------------------------------- run_config

CHAPTER = ['lenet', 'alexnet', 'vgg', 'nin', 'googlenet', 'batchnorm',
           'resnet', 'densenet']


def fake_fashion_mnist(root):
    for filename in data.SHA1['fashion-mnist']:
        (root / filename).write_bytes(b'')
    return str(root)


def test_ci_means_quick_even_with_a_gpu_and_data(tmp_path):
    root = fake_fashion_mnist(tmp_path)
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
    root = fake_fashion_mnist(tmp_path)
    for name in CHAPTER:
        cfg = notebook.run_config(name, root=root, env={}, ctx=mx.gpu(0))
        book = d2l_cnn.get_recipe(name)
        assert not cfg.quick and cfg.data == 'fashion-mnist'
        assert (cfg.resize, cfg.batch_size, cfg.lr, cfg.num_epochs) == (
            book['resize'], book['batch_size'], book['lr'],
            book['num_epochs'])
        assert cfg.num_train == 60000 and cfg.root == root
        assert "BOOK's recipe" in str(cfg) and 'gpu(0)' in str(cfg)


def test_quick_zero_asks_for_the_book_on_a_cpu():
    cfg = notebook.run_config('lenet', env={'D2L_CNN_QUICK': '0'},
                              ctx=mx.cpu())
    assert not cfg.quick and cfg.reason.startswith('D2L_CNN_QUICK=0')


@pytest.mark.parametrize('value', ['yes', '2', 'true'])
def test_bad_switch_value(value):
    with pytest.raises(UsageError, match='D2L_CNN_QUICK must be 0 or 1'):
        notebook.run_config('lenet', env={'D2L_CNN_QUICK': value})


def test_header_names_the_run():
    text = str(notebook.run_config('alexnet', env={'CI': 'true'},
                                   ctx=mx.cpu()))
    assert text.startswith("run: QUICK, not the book's recipe (because the "
                           "CI environment variable is set)")
    for part in ('data: mnist5k', 'device: cpu(0)', 'settings: resize',
                 'the book: fashion-mnist, resize 224, batch size 128'):
        assert part in text


@pytest.mark.parametrize('name', CHAPTER + ['batchnorm_scratch', 'vgg16'])
def test_quick_settings_fit_the_network(name):
    s = notebook.quick_settings(name)
    assert s['resize'] >= summary.min_input_size(d2l_cnn.get_model(name))
    assert notebook.MNIST5K_TRAIN % s['num_train'] == 0
    assert notebook.MNIST5K_TEST % s['num_test'] == 0
    assert s['num_epochs'] >= 1 and s['lr'] > 0


def test_quick_settings_default_for_unlisted_networks():
    assert 'vgg16' not in notebook.QUICK
    s = notebook.quick_settings('vgg16')
    assert s['resize'] == 32 and s['lr'] == d2l_cnn.get_recipe('vgg16')['lr']


def test_quick_data_is_the_configured_subset():
    cfg = notebook.run_config('alexnet', env={'CI': '1'}, ctx=mx.cpu())
    train_iter, test_iter = cfg.load_data()
    assert train_iter.num_examples == cfg.num_train
    assert test_iter.num_examples == cfg.num_test
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


def test_liveplot_outside_jupyter_draws_once_at_the_end(tmp_path, capsys):
    plot = notebook.LivePlot(3)
    assert not plot.live
    plot(record(1))
    plot(record(2))
    assert plot.fig is None and plot.draws == 0
    plot(record(3))
    assert plot.draws == 1
    lines = plot.fig.axes[0].get_lines()
    assert [list(line.get_ydata()) for line in lines] == [
        [2.0, 1.0, 2.0 / 3], [0.3, 0.6, 0.3 * 3], [0.25, 0.5, 0.75]]
    assert capsys.readouterr().out == ''  # no figure objects printed
    path = tmp_path / 'curves.png'
    plot.save(str(path))
    assert path.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_liveplot_in_jupyter_updates_one_display(monkeypatch):
    shown = []
    plot = notebook.LivePlot(3, live=True)
    monkeypatch.setattr(plot, '_show', lambda: shown.append(plot.png()))
    for epoch in (1, 2, 3):
        plot(record(epoch))
    assert plot.draws == 3 and len(shown) == 3
    assert all(png[:4] == b'\x89PNG' for png in shown)
    assert len(plot.fig.axes[0].get_lines()[0].get_xdata()) == 3
