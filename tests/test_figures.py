"""The chapter's figures: they draw, show the library's numbers, and are
used by their notebooks."""
import json
import pathlib

import numpy as np
import pytest
from matplotlib.figure import Figure
from mxnet import nd

from d2l_cnn import figures, layers

NOTEBOOKS = pathlib.Path(__file__).resolve().parent.parent / 'notebooks'


def numbers(fig):
    """The numbers in the figure's grids, in drawing order."""
    return [t.get_text() for ax in fig.axes for t in ax.texts
            if t.get_fontsize() == figures.NUMBER_SIZE]


def grid(values):
    return [figures._number(v) for v in np.asarray(values).ravel()]


@pytest.mark.parametrize('name', list(figures.FIGURES))
def test_figure_draws(name):
    fig = getattr(figures, name)()
    assert isinstance(fig, Figure)
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert texts and all(texts)
    png = fig._repr_png_()  # what Jupyter shows
    assert png[:8] == b'\x89PNG\r\n\x1a\n' and len(png) > 10000


def test_registry_is_the_module_functions():
    assert [n for n, _ in figures.all_figures()] == list(figures.FIGURES)
    for name, notebook in figures.FIGURES.items():
        assert name.endswith('_figure')
        assert (NOTEBOOKS / (notebook + '.ipynb')).exists(), notebook


@pytest.mark.parametrize('name, notebook', sorted(figures.FIGURES.items()))
def test_figure_is_used_by_its_notebook(name, notebook):
    nb = json.loads((NOTEBOOKS / (notebook + '.ipynb')).read_text(
        encoding='utf-8'))
    code = '\n'.join(''.join(c['source']) for c in nb['cells']
                     if c['cell_type'] == 'code')
    assert name + '(' in code, '%s does not call %s' % (notebook, name)


# The numbers the book prints for these inputs, independently of the code.

def test_corr2d_figure_numbers():
    shown = numbers(figures.corr2d_figure())
    assert shown[:9] == grid(np.arange(9))
    assert shown[-4:] == ['19', '25', '37', '43']


def test_receptive_field_figure_numbers():
    # Y = [[19, 25], [37, 43]], then a 2x2 kernel of ones: 124
    assert numbers(figures.receptive_field_figure())[-5:] == [
        '19', '25', '37', '43', '124']


def test_padding_figure_numbers():
    X = np.arange(9).reshape((3, 3))
    P = np.pad(X, 1)
    K = np.array([[0, 1], [2, 3]])
    Y = np.array([[(P[i:i + 2, j:j + 2] * K).sum() for j in range(4)]
                  for i in range(4)])
    shown = numbers(figures.padding_figure())
    assert shown[:25] == grid(P)
    assert shown[-16:] == grid(Y)


def test_stride_figure_numbers():
    assert numbers(figures.stride_figure())[-4:] == ['0', '8', '6', '8']


def test_multi_in_figure_numbers():
    assert numbers(figures.multi_in_figure())[-4:] == [
        '56', '72', '104', '120']


def test_conv1x1_figure_numbers():
    shown = numbers(figures.conv1x1_figure())
    X = np.array(shown[:27], dtype=float).reshape((3, 3, 3))
    K = np.array(shown[27:33], dtype=float).reshape((2, 3))
    Y = np.einsum('oc,chw->ohw', K, X)
    assert shown[33:] == grid(Y)


@pytest.mark.parametrize('mode, expected', [
    ('max', ['4', '5', '7', '8']), ('avg', ['2', '3', '5', '6'])])
def test_pooling_figure_numbers(mode, expected):
    assert numbers(figures.pooling_figure(mode))[-4:] == expected


def test_grids_come_from_the_library(monkeypatch):
    # change the library's functions: the figures change with them
    corr2d, pool2d = layers.corr2d, layers.pool2d
    monkeypatch.setattr(layers, 'corr2d', lambda X, K: corr2d(X, K) + 1000)
    monkeypatch.setattr(layers, 'pool2d',
                        lambda X, size, mode: pool2d(X, size, mode) - 1000)
    monkeypatch.setattr(layers, 'corr2d_multi_in_out_1x1',
                        lambda X, K: nd.zeros((2, 3, 3)) + 7)
    assert numbers(figures.corr2d_figure())[-1] == '1043'
    assert numbers(figures.stride_figure())[-1] == '1008'
    assert numbers(figures.pooling_figure())[-1] == '-992'
    assert numbers(figures.conv1x1_figure())[-1] == '7'
    # corr2d_multi_in calls layers.corr2d through the module
    assert numbers(figures.multi_in_figure())[-1] == '2120'


def test_labels_follow_the_font(monkeypatch):
    monkeypatch.setattr(figures, '_cjk_font', lambda: None)
    assert figures.language() == 'en'
    assert figures.label('输入', 'Input') == 'Input'
    monkeypatch.setattr(figures, '_cjk_font', lambda: '/some/font.ttf')
    assert figures.language() == 'zh'
    assert figures.label('输入', 'Input') == '输入'


def test_figure_is_tight_enough_to_read():
    # a projector shows about 1000 pixels across: at 80 dpi no figure
    # is wider than 15 inches, and the numbers are at least 18 points
    assert figures.NUMBER_SIZE >= 18 and figures.LABEL_SIZE >= 14
    for name, func in figures.all_figures():
        width, _ = func().get_size_inches()
        assert width <= 15, name


def test_lenet_figure_shows_the_networks_shapes():
    from d2l_cnn import summary
    from d2l_cnn.models.lenet import lenet_v1
    import io
    rows = summary.shape_walk(lenet_v1(), (1, 1, 28, 28), file=io.StringIO())
    shapes = ['×'.join(str(d) for d in shape[1:]) for _, shape, _ in rows]
    texts = [t.get_text() for t in figures.lenet_figure().axes[0].texts]
    assert '1×28×28' in texts
    found = [t for t in texts if t in shapes]
    assert found == shapes


# Fonts: a CJK font first, DejaVu Sans for the glyphs it lacks (U+2217 ∗
# in Noto Serif CJK). Run in a child with a fresh MPLCONFIGDIR, so
# matplotlib builds its font list from the fonts installed now.
CJK_FONTS = {
    'noto-serif-cjk':
        '/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc',
    'wqy-microhei': '/usr/share/fonts/truetype/wqy/wqy-microhei.ttc',
}

DRAW_ALL = '''
import sys, warnings
from d2l_cnn import figures
warnings.simplefilter('error', UserWarning)  # e.g. a missing glyph
figures._cjk_font = lambda: sys.argv[1]
assert figures.language() == 'zh'
for name, func in figures.all_figures():
    func()._repr_png_()
print(figures.families())
'''


@pytest.mark.parametrize('name', sorted(CJK_FONTS))
def test_no_missing_glyph_with_a_cjk_font(name, tmp_path):
    import os
    import subprocess
    import sys
    from conftest import subprocess_env
    path = CJK_FONTS[name]
    if not os.path.exists(path):
        pytest.skip('%s is not installed (apt-get install fonts-%s)'
                    % (path, 'noto-cjk' if 'noto' in name else name))
    result = subprocess.run(
        [sys.executable, '-c', DRAW_ALL, path], capture_output=True,
        text=True, env=subprocess_env(MPLCONFIGDIR=str(tmp_path)),
        timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert 'Glyph' not in result.stderr
    assert "'DejaVu Sans')" in result.stdout


def test_the_glyph_check_can_fail(tmp_path):
    # without the fallback the CJK font alone misses U+2217: a warning
    import os
    path = CJK_FONTS['noto-serif-cjk']
    if not os.path.exists(path):
        pytest.skip('fonts-noto-cjk is not installed')
    import warnings
    from matplotlib.font_manager import FontProperties
    from matplotlib.figure import Figure
    fig = Figure()
    fig.text(0.5, 0.5, '∗', fontproperties=FontProperties(fname=path))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        fig.savefig(os.path.join(str(tmp_path), 'x.png'))
    assert any('Glyph 8727' in str(w.message) for w in caught)


# ------------------------------------------------- the figures of 5.7-5.12


def texts_of(fig):
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def test_inception_every_box_is_reached_by_an_arrow():
    # the input -> path 1 arrow stopped 1.05 units below its box once
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
    ax = figures.inception_figure().axes[0]
    ends = [p._posA_posB[1] for p in ax.patches
            if isinstance(p, FancyArrowPatch)]
    for p in ax.patches:
        if not isinstance(p, FancyBboxPatch) or p.get_height() > 0.7:
            continue  # the paths' boxes, not the input/output nodes
        x0, y0 = p.get_x(), p.get_y()
        x1 = x0 + p.get_width()
        assert any(x0 < x < x1 and abs(y - y0) < 0.05 for x, y in ends), (
            'no arrow ends on the box at (%.1f, %.1f)' % (x0, y0))


def test_chinese_labels_of_5_7_to_5_12(monkeypatch):
    monkeypatch.setattr(figures, '_cjk_font', lambda: None)
    assert any('concatenate' in t for t in texts_of(
        figures.inception_figure()))
    assert any('pad 1' in t for t in texts_of(figures.vgg_block_figure()))
    # Chinese labels (drawn with the default font: no CJK font needed)
    monkeypatch.setattr(figures, '_cjk_font', lambda: '/some/font.ttf')
    monkeypatch.setattr(figures, 'font', lambda *a, **k: None)
    inception = ' '.join(texts_of(figures.inception_figure()))
    assert '连结' in inception and 'concatenate' not in inception
    vgg = ' '.join(texts_of(figures.vgg_block_figure()))
    assert '填充 1' in vgg and 'pad' not in vgg
    for name in ('residual_figure', 'residual_fit_figure',
                 'add_concat_figure', 'densenet_figure', 'batchnorm_figure',
                 'nin_figure'):
        words = ' '.join(texts_of(getattr(figures, name)()))
        for english in ('block', 'conv', 'input', 'layer', 'activation'):
            assert english not in words, (name, english)


def test_the_books_figures_of_5_11_and_5_12():
    fit = texts_of(figures.residual_fit_figure())
    # the ordinary block fits f(x), the residual block f(x) - x
    assert r'$f(\mathbf{x})-\mathbf{x}$' in fit
    assert fit.count(r'$f(\mathbf{x})$') == 3  # two outputs, one fit
    add_concat = texts_of(figures.add_concat_figure())
    assert '+' in add_concat and 'C' in add_concat
    assert r'$\mathbf{x}+g(\mathbf{x})$' in add_concat
    assert r'$[\mathbf{x},\ g(\mathbf{x})]$' in add_concat
    assert figures.FIGURES['residual_fit_figure'] == '05_11_resnet'
    assert figures.FIGURES['add_concat_figure'] == '05_12_densenet'


def test_batchnorm_fraction_is_display_size():
    fig = figures.batchnorm_figure()
    hat = [t for t in fig.axes[0].texts if r'\hat{x}^{(i)}=' in
           t.get_text()]
    assert len(hat) == 1 and r'\dfrac' in hat[0].get_text()
    assert hat[0].get_fontsize() > figures.LABEL_SIZE


@pytest.mark.parametrize('n, k, p, s', [(6, 3, 1, 1), (6, 3, 0, 2),
                                        (7, 2, 2, 3), (3, 1, 0, 1)])
def test_conv_shape_figure_draws_the_formulas_output(n, k, p, s):
    fig = figures.conv_shape_figure(n, k, p, s)
    m = (n - k + 2 * p + s) // s
    cells = [r for r in fig.axes[0].patches
             if r.get_width() == 1 and r.get_fill()]
    # the padded input's cells, then the output's
    assert len(cells) == (n + 2 * p) ** 2 + m * m
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert any(('%d×%d' % (m, m)) in t for t in texts)
    with pytest.raises(ValueError, match='must fit'):
        figures.conv_shape_figure(3, 6, 0, 1)
