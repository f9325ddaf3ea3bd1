"""The chapter's figures, drawn by the project with matplotlib.

Every function returns a ``matplotlib.figure.Figure`` (no pyplot, no GUI
state) that Jupyter shows as a PNG when it is a cell's last value::

    from d2l_cnn import figures
    figures.corr2d_figure()

The grids of 5.1-5.4 carry numbers computed by the library's own
``corr2d``, ``corr2d_multi_in``, ``corr2d_multi_in_out_1x1`` and
``pool2d``, so a figure cannot disagree with the code beside it. The
block diagrams of 5.6-5.12 follow the papers the sections cite.

Labels are in Chinese when matplotlib finds a font with Chinese glyphs
(``d2l_cnn.plots.find_cjk_font``, as the prediction picture does) and
in English otherwise; ``language()`` says which.

``FIGURES`` maps each figure function's name to the notebook that shows
it (the tests check both that it draws and that the notebook calls it).
"""
import functools

import numpy as np
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle
from mxnet import nd

from . import layers
from .plots import png_bytes

# figure function -> the notebook (file name without .ipynb) that shows it
FIGURES = {
    'corr2d_figure': '05_01_corr2d',
    'receptive_field_figure': '05_01_corr2d',
    'padding_figure': '05_02_padding',
    'stride_figure': '05_02_padding',
    'multi_in_figure': '05_03_channels',
    'conv1x1_figure': '05_03_channels',
    'pooling_figure': '05_04_pooling',
    'lenet_figure': '05_05_lenet',
    'alexnet_lenet_figure': '05_06_alexnet',
    'vgg_block_figure': '05_07_vgg',
    'nin_figure': '05_08_nin',
    'inception_figure': '05_09_googlenet',
    'batchnorm_figure': '05_10_batchnorm',
    'residual_figure': '05_11_resnet',
    'densenet_figure': '05_12_densenet',
}

# Sizes in points, for a projector: numbers in the grids, labels, titles.
NUMBER_SIZE = 22
LABEL_SIZE = 17
TITLE_SIZE = 20

# Colours: highlighted window and its output, a second window, padding,
# and the block kinds of the diagrams.
SHADE = '#9ecae1'
SHADE2 = '#fdd0a2'
PAD = '#eeeeee'
COLORS = {'conv': '#c6dbef', 'pool': '#c7e9c0', 'dense': '#fdd0a2',
          'norm': '#dadaeb', 'io': '#ffffff', 'op': '#fff7bc'}


# ------------------------------------------------------------ language

@functools.lru_cache(maxsize=None)
def _cjk_font():
    from .plots import find_cjk_font
    return find_cjk_font()


def language():
    """``'zh'`` when a font with Chinese glyphs is found, else ``'en'``."""
    return 'zh' if _cjk_font() else 'en'


def label(zh, en):
    """The Chinese or the English text, following ``language()``."""
    return zh if language() == 'zh' else en


@functools.lru_cache(maxsize=None)
def _family(path):
    return FontProperties(fname=path).get_name()


def families():
    """The label fonts, in order: the CJK font's family, then DejaVu Sans.

    matplotlib (>= 3.6) falls back glyph by glyph along this list, so a
    CJK font without a symbol (Noto Serif CJK has no U+2217, ∗) borrows
    it from DejaVu Sans instead of drawing a box with a warning.
    """
    path = _cjk_font()
    if not path:
        return ('DejaVu Sans',)
    return (_family(path), 'DejaVu Sans')


def font(size=LABEL_SIZE, weight='normal'):
    """Font properties for the labels (the CJK font when there is one)."""
    return FontProperties(family=list(families()), size=size, weight=weight)


# ---------------------------------------------------------- the canvas

class _Figure(Figure):
    """A Figure that also shows itself in Jupyter without pyplot."""

    def _repr_png_(self):
        return png_bytes(self, dpi=80, bbox_inches='tight')


def _canvas(width, height, xlim, ylim):
    """A figure of ``width`` x ``height`` inches, one axes in data units.

    The data units are equal in x and y (a grid cell is 1 x 1) and the
    axes are hidden.
    """
    fig = _Figure(figsize=(width, height))
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect('equal')
    ax.axis('off')
    return fig, ax


def _text(ax, x, y, s, size=LABEL_SIZE, weight='normal', **kwargs):
    kwargs.setdefault('ha', 'center')
    kwargs.setdefault('va', 'center')
    return ax.text(x, y, s, fontproperties=font(size, weight), **kwargs)


def _number(v):
    v = float(v)
    return '%d' % v if v == int(v) else '%.1f' % v


def _grid(ax, values, x, y, title=None, shade=None, pad=0):
    """Draw the matrix ``values`` with its lower-left corner at (x, y).

    Row 0 is at the top. ``shade`` maps (row, column) to a colour; a
    border of ``pad`` cells is drawn grey (the zeros of padding).
    """
    values = np.asarray(values)
    h, w = values.shape
    shade = shade or {}
    for i in range(h):
        for j in range(w):
            in_pad = (i < pad or j < pad or i >= h - pad or j >= w - pad)
            color = shade.get((i, j), PAD if in_pad else 'white')
            ax.add_patch(Rectangle((x + j, y + h - 1 - i), 1, 1,
                                   facecolor=color, edgecolor='black',
                                   linewidth=1.5))
            _text(ax, x + j + 0.5, y + h - 0.5 - i, _number(values[i, j]),
                  size=NUMBER_SIZE, color='#666666' if in_pad else 'black')
    if title:
        _text(ax, x + w / 2, y - 0.45, title, va='top')


def _window(ax, x, y, h, i, j, kh, kw, color):
    """A thick frame around rows i.., columns j.. of a grid of height h."""
    ax.add_patch(Rectangle((x + j, y + h - i - kh), kw, kh, fill=False,
                           edgecolor=color, linewidth=4, zorder=3))


def _shade(i, j, kh, kw, color):
    return {(a, b): color for a in range(i, i + kh)
            for b in range(j, j + kw)}


def _op(ax, x, y, s):
    _text(ax, x, y, s, size=34)


def _sum_text(X, K, i, j):
    """``0×0+1×1+...=19``: window (i, j) of X times K, as mathtext."""
    kh, kw = K.shape
    terms = ['%s\\times%s' % (_number(X[i + a, j + b]), _number(K[a, b]))
             for a in range(kh) for b in range(kw)]
    total = (X[i:i + kh, j:j + kw] * K).sum()
    return '$' + '+'.join(terms) + '=' + _number(total) + '$'


def _names():
    return (label('输入', 'Input'), label('核', 'Kernel'),
            label('输出', 'Output'))


# --------------------------------------------------- 5.1 - 5.4 grids

def corr2d_figure():
    """5.1: a 3×3 input, a 2×2 kernel and the output of ``corr2d``.

    The shaded window and the shaded output element are one step of the
    cross-correlation; the formula below spells it out.
    """
    X = nd.arange(9).reshape((3, 3))
    K = nd.array([[0, 1], [2, 3]])
    Y = layers.corr2d(X, K).asnumpy()
    X, K = X.asnumpy(), K.asnumpy()
    fig, ax = _canvas(10, 4.2, (-0.5, 11.5), (-2.3, 3.5))
    inp, ker, out = _names()
    _grid(ax, X, 0, 0, inp, _shade(0, 0, 2, 2, SHADE))
    _op(ax, 3.9, 1.5, '∗')
    _grid(ax, K, 4.8, 0.5, ker, _shade(0, 0, 2, 2, SHADE))
    _op(ax, 7.6, 1.5, '=')
    _grid(ax, Y, 8.4, 0.5, out, {(0, 0): SHADE})
    _text(ax, 5.5, -1.7, _sum_text(X, K, 0, 0), size=LABEL_SIZE)
    return fig


def receptive_field_figure():
    """5.1: the receptive field of one element through two 2×2 layers.

    The 3×3 input and the 2×2 kernel of ``corr2d_figure`` give a 2×2
    output Y; a second 2×2 kernel (all ones) on Y gives a single element
    Z, whose receptive field is all nine input elements, while each
    element of Y sees only four.
    """
    X = nd.arange(9).reshape((3, 3))
    K = nd.array([[0, 1], [2, 3]])
    Y = layers.corr2d(X, K)
    Z = layers.corr2d(Y, nd.ones((2, 2))).asnumpy()
    X, Y = X.asnumpy(), Y.asnumpy()
    fig, ax = _canvas(10, 4.6, (-0.5, 11.5), (-2.6, 3.6))
    _grid(ax, X, 0, 0, label('输入 X', 'input X'),
          _shade(0, 0, 2, 2, SHADE))
    _window(ax, 0, 0, 3, 0, 0, 3, 3, '#d94801')
    _op(ax, 3.9, 1.5, r'$\rightarrow$')
    _grid(ax, Y, 4.8, 0.5, label('Y（2×2 核）', 'Y (2×2 kernel)'),
          {(0, 0): SHADE})
    _window(ax, 4.8, 0.5, 2, 0, 0, 2, 2, '#d94801')
    _op(ax, 7.6, 1.5, r'$\rightarrow$')
    _grid(ax, Z, 8.9, 1.0, label('Z（2×2 核）', 'Z (2×2 kernel)'),
          {(0, 0): '#fdae6b'})
    _text(ax, 5.5, -1.9, label(
        '蓝色：Y[0, 0] 的感受野（4 个元素）  橙框：Z 的感受野（9 个）',
        'blue: receptive field of Y[0, 0] (4)   orange: of Z (9)'),
        size=LABEL_SIZE - 2)
    return fig


def padding_figure():
    """5.2: a 3×3 input padded with one row/column of zeros on each side.

    The padded 5×5 input, the 2×2 kernel and the 4×4 output computed with
    ``corr2d`` on the padded array.
    """
    X = nd.arange(9).reshape((3, 3))
    P = nd.zeros((5, 5))
    P[1:4, 1:4] = X
    K = nd.array([[0, 1], [2, 3]])
    Y = layers.corr2d(P, K).asnumpy()
    P, K = P.asnumpy(), K.asnumpy()
    fig, ax = _canvas(12, 4.8, (-0.5, 14.5), (-2.3, 5.2))
    inp, ker, out = _names()
    _grid(ax, P, 0, 0, label('填充后的输入', 'padded input'),
          _shade(0, 0, 2, 2, SHADE), pad=1)
    _op(ax, 5.9, 2.5, '∗')
    _grid(ax, K, 6.8, 1.5, ker, _shade(0, 0, 2, 2, SHADE))
    _op(ax, 9.6, 2.5, '=')
    _grid(ax, Y, 10.4, 0.5, out, {(0, 0): SHADE})
    _text(ax, 7, -1.7, _sum_text(P, K, 0, 0))
    return fig


def stride_figure():
    """5.2: padding 1, stride 3 down and 2 across on the 3×3 input.

    The output is ``corr2d`` on the padded input, kept at every third
    row and every second column; two windows and their outputs shaded.
    """
    X = nd.arange(9).reshape((3, 3))
    P = nd.zeros((5, 5))
    P[1:4, 1:4] = X
    K = nd.array([[0, 1], [2, 3]])
    Y = layers.corr2d(P, K)[::3, ::2].asnumpy()
    P, K = P.asnumpy(), K.asnumpy()
    fig, ax = _canvas(12, 5.2, (-0.5, 14.5), (-2.9, 5.2))
    inp, ker, out = _names()
    shade = _shade(0, 0, 2, 2, SHADE)
    shade.update(_shade(0, 2, 2, 2, SHADE2))
    _grid(ax, P, 0, 0, label('填充后的输入', 'padded input'), shade, pad=1)
    _op(ax, 5.9, 2.5, '∗')
    _grid(ax, K, 6.8, 1.5, ker)
    _op(ax, 9.6, 2.5, '=')
    _grid(ax, Y, 10.4, 1.5, out, {(0, 0): SHADE, (0, 1): SHADE2})
    _text(ax, 12.4, 4.3, label('高步幅 3，宽步幅 2', 'stride 3 down, 2 across'),
          size=LABEL_SIZE - 1)
    _text(ax, 7, -1.6, _sum_text(P, K, 0, 0), color='#08519c')
    _text(ax, 7, -2.4, _sum_text(P, K, 0, 2), color='#a63603')
    return fig


def multi_in_figure():
    """5.3: two input channels, one kernel per channel, outputs summed.

    Output of ``corr2d_multi_in``; the formula adds the two channels'
    contributions to the first output element.
    """
    X = nd.array([[[0, 1, 2], [3, 4, 5], [6, 7, 8]],
                  [[1, 2, 3], [4, 5, 6], [7, 8, 9]]])
    K = nd.array([[[0, 1], [2, 3]], [[1, 2], [3, 4]]])
    Y = layers.corr2d_multi_in(X, K).asnumpy()
    X, K = X.asnumpy(), K.asnumpy()
    fig, ax = _canvas(10, 7.2, (-1.5, 11.5), (-2.9, 8.2))
    inp, ker, out = _names()
    for c, y0 in ((0, 4.3), (1, 0)):
        name = label('通道 %d', 'channel %d') % c
        _grid(ax, X[c], 0, y0, '%s %s' % (inp, name),
              _shade(0, 0, 2, 2, SHADE))
        _op(ax, 3.9, y0 + 1.5, '∗')
        _grid(ax, K[c], 4.8, y0 + 0.5, '%s %s' % (ker, name),
              _shade(0, 0, 2, 2, SHADE))
    _op(ax, 7.6, 3.6, '=')
    _op(ax, 7.6, 4.8, r'$\Sigma$')
    _grid(ax, Y, 8.4, 2.7, out, {(0, 0): SHADE})
    first = _sum_text(X[0], K[0], 0, 0).strip('$').split('=')[0]
    second = _sum_text(X[1], K[1], 0, 0).strip('$').split('=')[0]
    _text(ax, 5, -2.0, '$(%s)+(%s)=%s$' % (first, second, _number(Y[0, 0])),
          size=LABEL_SIZE - 1)
    return fig


def conv1x1_figure():
    """5.3: a 1×1 convolution, 3 input channels to 2 output channels.

    At every pixel the 3 input values are multiplied by a (2, 3) matrix;
    the numbers come from ``corr2d_multi_in_out_1x1``. One pixel and the
    values that make it are shaded.
    """
    X = nd.array(np.random.RandomState(1).randint(0, 5, (3, 3, 3)))
    K = nd.array([[1, 0, 2], [0, 1, -1]]).reshape((2, 3, 1, 1))
    Y = layers.corr2d_multi_in_out_1x1(X, K).asnumpy()
    X, K = X.asnumpy(), K.asnumpy().reshape((2, 3))
    fig, ax = _canvas(11, 10, (-0.5, 14.5), (-3.2, 13.2))
    inp, ker, out = _names()
    spot = {(1, 1): SHADE}
    for c in range(3):
        _grid(ax, X[c], 0, 9.6 - 4.8 * c, '%s %s' % (
            inp, label('通道 %d', 'channel %d') % c), spot)
    _op(ax, 3.9, 6.1, r'$\rightarrow$')
    _grid(ax, K, 4.8, 5.1, label('1×1 核（2×3 矩阵）', '1×1 kernel (2×3)'),
          {(0, c): SHADE2 for c in range(3)})
    _op(ax, 8.7, 6.1, r'$\rightarrow$')
    for c in range(2):
        _grid(ax, Y[c], 10, 7.6 - 5.2 * c, '%s %s' % (
            out, label('通道 %d', 'channel %d') % c),
            {(1, 1): SHADE2} if c == 0 else None)
    terms = '+'.join('%s\\times%s' % (_number(K[0, c]), _number(X[c, 1, 1]))
                     for c in range(3))
    _text(ax, 7, -2.6, '$%s=%s$' % (terms, _number(Y[0, 1, 1])),
          size=LABEL_SIZE)
    return fig


def pooling_figure(mode='max'):
    """5.4: 2×2 max (or ``mode='avg'``) pooling of the 3×3 input.

    The output is the library's ``pool2d``; the formula shows the first
    window.
    """
    X = nd.arange(9).reshape((3, 3))
    Y = layers.pool2d(X, (2, 2), mode).asnumpy()
    X = X.asnumpy()
    fig, ax = _canvas(8, 4.2, (-0.5, 8.5), (-2.3, 3.5))
    inp, _, out = _names()
    _grid(ax, X, 0, 0, inp, _shade(0, 0, 2, 2, SHADE))
    name = {'max': label('2×2 最大池化', '2×2 max pooling'),
            'avg': label('2×2 平均池化', '2×2 average pooling')}[mode]
    _op(ax, 4.4, 1.5, r'$\rightarrow$')
    _text(ax, 4.4, 2.4, name, size=LABEL_SIZE - 2)
    _grid(ax, Y, 5.6, 0.5, out, {(0, 0): SHADE})
    window = ','.join(_number(v) for v in X[:2, :2].ravel())
    func = r'\max' if mode == 'max' else r'\mathrm{mean}'
    _text(ax, 4, -1.7, '$%s(%s)=%s$' % (func, window, _number(Y[0, 0])))
    return fig


# ----------------------------------------------------- block diagrams

def _box(ax, x, y, text, kind='conv', width=3.6, height=0.8, size=None):
    """A rounded box centred at (x, y); returns its (bottom, top) y."""
    ax.add_patch(FancyBboxPatch(
        (x - width / 2, y - height / 2), width, height,
        boxstyle='round,pad=0.02,rounding_size=0.12',
        facecolor=COLORS[kind], edgecolor='black', linewidth=1.5))
    _text(ax, x, y, text, size=size or LABEL_SIZE - 2)
    return y - height / 2, y + height / 2


def _arrow(ax, start, end, style='-|>', **kwargs):
    kwargs.setdefault('color', 'black')
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style,
                                 mutation_scale=20, linewidth=1.8,
                                 shrinkA=0, shrinkB=0, **kwargs))


def _column(ax, x, y, boxes, gap=0.45, height=0.8, width=3.6):
    """Boxes ``(text, kind)`` stacked upwards from y, joined by arrows.

    Returns the y of the last box's top edge.
    """
    top = None
    for text, kind in boxes:
        if top is not None:
            _arrow(ax, (x, top), (x, top + gap))
            y = top + gap + height / 2
        bottom, top = _box(ax, x, y, text, kind, width, height)
    return top


def _conv(k, c=None, extra=''):
    text = label('%d×%d 卷积层', '%d×%d conv') % (k, k)
    if c is not None:
        text += ', %s' % c
    return text + extra


def alexnet_lenet_figure():
    """5.6: LeNet (first edition) beside AlexNet, input at the bottom.

    Layers of the book's networks with their output shapes at their
    inputs of 28×28 and 224×224 (one channel, as for Fashion-MNIST).
    """
    pool = label('最大池化 %s', 'max pool %s')
    dense = label('全连接层 %s', 'dense %s')
    lenet = [(label('输入 1×28×28', 'input 1×28×28'), 'io'),
             (_conv(5, 6, ', sigmoid'), 'conv'),
             (pool % '2×2, s2', 'pool'),
             (_conv(5, 16, ', sigmoid'), 'conv'),
             (pool % '2×2, s2', 'pool'),
             (dense % '120, sigmoid', 'dense'),
             (dense % '84, sigmoid', 'dense'),
             (dense % '10', 'dense')]
    alexnet = [(label('输入 1×224×224', 'input 1×224×224'), 'io'),
               (_conv(11, 96, ', s4, ReLU'), 'conv'),
               (pool % '3×3, s2', 'pool'),
               (_conv(5, 256, ', p2, ReLU'), 'conv'),
               (pool % '3×3, s2', 'pool'),
               (_conv(3, 384, ', p1, ReLU'), 'conv'),
               (_conv(3, 384, ', p1, ReLU'), 'conv'),
               (_conv(3, 256, ', p1, ReLU'), 'conv'),
               (pool % '3×3, s2', 'pool'),
               (dense % '4096, ReLU, dropout', 'dense'),
               (dense % '4096, ReLU, dropout', 'dense'),
               (dense % '10', 'dense')]
    fig, ax = _canvas(12, 11, (-0.5, 14.5), (-0.6, 15.0))
    _text(ax, 3, 14.4, 'LeNet', size=TITLE_SIZE, weight='bold')
    _text(ax, 10.3, 14.4, 'AlexNet', size=TITLE_SIZE, weight='bold')
    # LeNet's dense layers face AlexNet's, its first layers the first ones
    _column(ax, 3, 0, lenet[:5], width=5, gap=0.4)
    _column(ax, 3, 10.8, lenet[5:], width=5, gap=0.4)
    _arrow(ax, (3, 5.6), (3, 10.4), linestyle='--')
    _column(ax, 10.3, 0, alexnet, width=6.2, gap=0.4)
    return fig


def lenet_figure():
    """5.5: LeNet (first edition), input on the left, as the book draws it.

    The convolutional block (two 5×5 convolutions with sigmoid, each
    followed by 2×2 max pooling) and the dense block (120, 84, 10), with
    the output shape of every layer for a 1×28×28 image.
    """
    conv = label('5×5 卷积层\n%d 个通道\nsigmoid',
                 '5×5 conv\n%d channels\nsigmoid')
    layers_ = [(label('输入', 'input'), '1×28×28', 'io'),
               (conv % 6, '6×24×24', 'conv'),
               (label('2×2 最大池化\n步幅 2', '2×2 max pool\nstride 2'),
                '6×12×12', 'pool'),
               (conv % 16, '16×8×8', 'conv'),
               (label('2×2 最大池化\n步幅 2', '2×2 max pool\nstride 2'),
                '16×4×4', 'pool'),
               (label('全连接层 120\nsigmoid', 'dense 120\nsigmoid'),
                '120', 'dense'),
               (label('全连接层 84\nsigmoid', 'dense 84\nsigmoid'),
                '84', 'dense'),
               (label('全连接层 10', 'dense 10'), '10', 'dense')]
    width, gap = 2.3, 0.55
    fig, ax = _canvas(15, 4.2, (-0.3, 8 * (width + gap) - gap + 0.3),
                      (-1.6, 3.2))
    for i, (text, shape, kind) in enumerate(layers_):
        x = i * (width + gap) + width / 2
        _box(ax, x, 1, text, kind, width=width, height=1.9)
        _text(ax, x, -0.35, shape, size=LABEL_SIZE - 2, color='#444444')
        if i:
            _arrow(ax, (x - width / 2 - gap, 1), (x - width / 2, 1))
    # the two blocks of the book's description
    for first, last, name in ((1, 4, label('卷积层块', 'convolutional block')),
                              (5, 7, label('全连接层块', 'dense block'))):
        left = first * (width + gap) - 0.1
        right = last * (width + gap) + width + 0.1
        ax.plot([left, left, right, right], [2.1, 2.35, 2.35, 2.1],
                color='black', linewidth=1.5)
        _text(ax, (left + right) / 2, 2.75, name, size=TITLE_SIZE - 2,
              weight='bold')
    _text(ax, 8 * (width + gap) / 2, -1.15,
          label('每层下方是它的输出形状（通道×高×宽）',
                'below each layer: its output shape (channels×height×width)'),
          size=LABEL_SIZE - 3, color='#444444')
    return fig


def vgg_block_figure():
    """5.7: a VGG block, and VGG-11's five blocks with their shapes.

    Each block halves the height and width and (up to 512) doubles the
    channels; shapes for a 1×224×224 input, ``conv_arch`` of the book.
    """
    conv_arch = ((1, 64), (1, 128), (2, 256), (2, 512), (2, 512))
    fig, ax = _canvas(13, 8, (-0.5, 17.5), (-0.8, 10.2))
    _text(ax, 3, 9.6, label('VGG 块', 'VGG block'), size=TITLE_SIZE,
          weight='bold')
    ax.add_patch(Rectangle((0.7, 1.2), 4.6, 2.4, fill=False,
                           linestyle='--', linewidth=1.5))
    _text(ax, 0.3, 2.4, '× n', size=LABEL_SIZE)
    _column(ax, 3, 0.3, [(label('输入', 'input'), 'io'),
                         (_conv(3, label('填充 1', 'pad 1')), 'conv'),
                         ('ReLU', 'conv'),
                         (label('2×2 最大池化，步幅 2', '2×2 max pool, s2'),
                          'pool'),
                         (label('输出', 'output'), 'io')],
            width=4, gap=0.5)
    _text(ax, 12, 9.6, 'VGG-11', size=TITLE_SIZE, weight='bold')
    rows = [(label('输入 1×224×224', 'input 1×224×224'), 'io')]
    size = 224
    for num_convs, num_channels in conv_arch:
        size //= 2
        rows.append((label('%d 个卷积层 → %d×%d×%d', '%d conv → %d×%d×%d')
                     % (num_convs, num_channels, size, size), 'conv'))
    rows += [(label('全连接层 4096, 4096, 10', 'dense 4096, 4096, 10'),
              'dense')]
    _column(ax, 12, 0.3, rows, width=7, gap=0.5)
    return fig


def nin_figure():
    """5.8: AlexNet/VGG's conv-then-dense design beside NiN's blocks.

    A NiN block is one ordinary convolution and two 1×1 convolutions (a
    small network at every pixel); NiN ends with a NiN block of 10
    channels and global average pooling instead of dense layers.
    """
    fig, ax = _canvas(13, 9.6, (-0.5, 17.5), (-0.6, 12.4))
    _text(ax, 3.5, 11.8, 'VGG / AlexNet', size=TITLE_SIZE, weight='bold')
    _text(ax, 12.5, 11.8, 'NiN', size=TITLE_SIZE, weight='bold')
    _column(ax, 3.5, 0, [
        (label('输入', 'input'), 'io'),
        (_conv(3), 'conv'), (_conv(3), 'conv'),
        (label('最大池化', 'max pool'), 'pool'),
        (_conv(3), 'conv'), (label('最大池化', 'max pool'), 'pool'),
        (label('全连接层', 'dense'), 'dense'),
        (label('全连接层', 'dense'), 'dense'),
        (label('全连接层（10 类）', 'dense (10 classes)'), 'dense')],
        width=5, gap=0.45)
    nin = label('NiN 块', 'NiN block')
    top = _column(ax, 12.5, 0, [
        (label('输入', 'input'), 'io'),
        (_conv(11, label('步幅 4', 'stride 4')), 'conv'),
        (_conv(1), 'conv'), (_conv(1), 'conv'),
        (label('最大池化', 'max pool'), 'pool'),
        (nin, 'conv'), (label('最大池化', 'max pool'), 'pool'),
        (label('NiN 块（10 通道）', 'NiN block (10 channels)'), 'conv'),
        (label('全局平均池化', 'global average pool'), 'pool')],
        width=5, gap=0.45)
    # the first NiN block, framed
    ax.add_patch(Rectangle((9.7, 0.65), 5.6, 3.7, fill=False,
                           linestyle='--', linewidth=1.8))
    _text(ax, 16.1, 2.5, nin, size=LABEL_SIZE - 2, rotation=90)
    _text(ax, 12.5, top + 0.5, label('10 个类别的分数', 'scores of 10 classes'),
          size=LABEL_SIZE - 2)
    return fig


def inception_figure(c1=64, c2=(96, 128), c3=(16, 32), c4=32):
    """5.9: the Inception block's four paths and their concatenation.

    Channel numbers default to the first Inception block of GoogLeNet;
    the output has ``c1 + c2[1] + c3[1] + c4`` channels.
    """
    fig, ax = _canvas(14, 7.4, (-0.5, 19.5), (-0.6, 9.6))
    xs = [2.2, 7.0, 11.8, 16.6]
    _box(ax, 9.4, 0, label('输入', 'input'), 'io', width=4)
    paths = [[(_conv(1, c1), 'conv')],
             [(_conv(1, c2[0]), 'conv'), (_conv(3, c2[1], ', p1'), 'conv')],
             [(_conv(1, c3[0]), 'conv'), (_conv(5, c3[1], ', p2'), 'conv')],
             [(label('3×3 最大池化, p1', '3×3 max pool, p1'), 'pool'),
              (_conv(1, c4), 'conv')]]
    total = c1 + c2[1] + c3[1] + c4
    out_y = 7.2
    for i, (x, boxes) in enumerate(zip(xs, paths)):
        ys = [2.5, 4.6] if len(boxes) == 2 else [4.6]
        if len(boxes) == 2:
            _arrow(ax, (9.4, 0.4), (x, ys[0] - 0.4))
        else:  # path 1: left out of the input, then up into its box
            _arrow(ax, (7.4, 0), (x, 0), style='-')
            _arrow(ax, (x, 0), (x, ys[0] - 0.4))
        for j, ((text, kind), y) in enumerate(zip(boxes, ys)):
            _box(ax, x, y, text, kind, width=4.4)
            if j:
                _arrow(ax, (x, ys[j - 1] + 0.4), (x, y - 0.4))
        _arrow(ax, (x, ys[-1] + 0.4), (9.4, out_y - 0.4))
        side = -1.5 if x < 9.4 else 1.5
        _text(ax, x + side, ys[0] - 0.75, label('线路 %d', 'path %d')
              % (i + 1), size=LABEL_SIZE - 3, color='#555555')
    _box(ax, 9.4, out_y, label('连结：%d+%d+%d+%d=%d 个通道',
                               'concatenate: %d+%d+%d+%d=%d channels')
         % (c1, c2[1], c3[1], c4, total), 'op', width=10)
    _text(ax, 9.4, 8.6, label('Inception 块', 'Inception block'),
          size=TITLE_SIZE, weight='bold')
    return fig


def batchnorm_figure():
    """5.10: batch normalization of one feature over a mini-batch.

    The mini-batch mean and variance, the standardisation and the learnt
    scale and shift (Ioffe & Szegedy, 2015), and where the layer sits:
    between the affine transformation and the activation.
    """
    fig, ax = _canvas(13, 6.4, (-0.3, 21.5), (-0.2, 10.2))
    steps = [(r'$x^{(1)},\dots,x^{(m)}$', 'io'),
             (r'$\mu_B=\frac{1}{m}\sum_i x^{(i)}$', 'norm'),
             (r'$\sigma_B^2=\frac{1}{m}\sum_i(x^{(i)}-\mu_B)^2$', 'norm'),
             (r'$\hat{x}^{(i)}=\dfrac{x^{(i)}-\mu_B}'
              r'{\sqrt{\sigma_B^2+\epsilon}}$', 'norm'),
             (r'$y^{(i)}=\gamma\odot\hat{x}^{(i)}+\beta$', 'op')]
    xs = [1.9, 6.4, 11.8, 17.8, 17.8]
    ys = [7.0, 7.0, 7.0, 7.0, 4.3]
    widths = [3.4, 4.0, 5.2, 5.2, 4.4]
    for i, ((text, kind), x, y, w) in enumerate(zip(steps, xs, ys, widths)):
        # the fraction of x-hat in display style, as large as the rest
        _box(ax, x, y, text, kind, width=w, height=2.2 if i == 3 else 1.5,
             size=LABEL_SIZE + 2 if i == 3 else LABEL_SIZE)
        if 0 < i < 4:
            _arrow(ax, (xs[i - 1] + widths[i - 1] / 2, ys[i - 1]),
                   (x - w / 2, y))
    _arrow(ax, (17.8, 5.9), (17.8, 5.05))
    _text(ax, 20.3, 5.5, label('学习 γ, β', 'learnt γ, β'),
          size=LABEL_SIZE - 2)
    _text(ax, 10.5, 9.4, label('批量归一化（一个特征，批量大小 m）',
                               'batch normalization (one feature, batch m)'),
          size=TITLE_SIZE, weight='bold')
    # where it sits in a dense layer
    chain = [(1.1, 1.4, r'$\mathbf{u}$', 'io'),
             (5.0, 4.6, label('仿射变换 ', 'affine ')
              + r'$\mathbf{Wu}+\mathbf{b}$', 'dense'),
             (9.4, 2.0, 'BN', 'norm'),
             (13.2, 3.6, label('激活函数 φ', 'activation φ'), 'conv')]
    for i, (x, w, text, kind) in enumerate(chain):
        _box(ax, x, 2.3, text, kind, width=w, height=1.0)
        if i:
            px, pw = chain[i - 1][:2]
            _arrow(ax, (px + pw / 2, 2.3), (x - w / 2, 2.3))
    _text(ax, 10.5, 0.6, label(
        '全连接层：φ(BN(Wu+b))；卷积层：每个通道在 m×p×q 个值上求均值和方差',
        'dense: φ(BN(Wu+b));  conv: per channel, over m×p×q values'),
        size=LABEL_SIZE - 2)
    return fig


def residual_figure():
    """5.11: the residual block, without and with the 1×1 shortcut.

    Two 3×3 convolutions with batch normalization; the input is added
    before the last ReLU. With ``use_1×1conv`` a 1×1 convolution (with
    the block's stride) reshapes the input to match.
    """
    fig, ax = _canvas(13, 8.6, (-0.5, 18.5), (-0.8, 11.6))
    for x, title, shortcut in (
            (3.8, label('残差块', 'residual block'), None),
            (12.6, label('含 1×1 卷积的残差块', 'with a 1×1 conv shortcut'),
             _conv(1, None, label('\n步幅 s', '\nstride s')))):
        _text(ax, x, 11.0, title, size=TITLE_SIZE, weight='bold')
        top = _column(ax, x, 0, [
            ('x', 'io'),
            (_conv(3, None, label('，步幅 s', ', stride s')
                   if shortcut else ''), 'conv'),
            (label('批量归一化', 'batch norm'), 'norm'),
            ('ReLU', 'conv'),
            (_conv(3), 'conv'),
            (label('批量归一化', 'batch norm'), 'norm')],
            width=4.2, gap=0.45)
        # the addition, then ReLU
        plus_y = top + 0.8
        _arrow(ax, (x, top), (x, plus_y - 0.35))
        ax.add_patch(FancyBboxPatch((x - 0.35, plus_y - 0.35), 0.7, 0.7,
                                    boxstyle='circle,pad=0',
                                    facecolor=COLORS['op'],
                                    edgecolor='black', linewidth=1.5))
        _text(ax, x, plus_y, '+', size=TITLE_SIZE)
        _arrow(ax, (x, plus_y + 0.35), (x, plus_y + 0.75))
        _box(ax, x, plus_y + 1.15, 'ReLU', 'conv', width=4.2)
        # the shortcut: out of x to the right, up, into the addition
        side = x + 3.7
        _arrow(ax, (x + 2.1, 0), (side, 0), style='-')
        if shortcut:
            _arrow(ax, (side, 0), (side, 3.2), style='-')
            _box(ax, side, 3.9, shortcut, 'conv', width=2.6, height=1.4)
            _arrow(ax, (side, 4.6), (side, plus_y), style='-')
        else:
            _arrow(ax, (side, 0), (side, plus_y), style='-')
        _arrow(ax, (side, plus_y), (x + 0.35, plus_y))
    return fig


def densenet_figure(num_convs=4, num_channels=64, growth_rate=32):
    """5.12: a dense block of ``num_convs`` conv blocks, then a transition.

    Every conv block (BN, ReLU, 3x3 conv with ``growth_rate`` channels)
    sees the concatenation of the block's input and all earlier outputs
    (Huang et al., 2017); the transition layer halves the channels (1x1
    conv) and the height and width (2x2 average pool, stride 2).
    Defaults: DenseNet's first dense block in the book, 64 -> 192 -> 96
    channels.
    """
    right = 0.9 + 4.3 * num_convs + 2.6 + 1.8
    fig, ax = _canvas(1.0 + 0.62 * right, 5.6, (-0.3, right), (-2.0, 6.4))
    conv = label('卷积块\nBN, ReLU\n3×3 卷积, %d',
                 'conv block\nBN, ReLU\n3×3 conv, %d') % growth_rate
    c = num_channels
    _box(ax, 0.9, 0, label('输入\n%d 通道', 'input\n%d ch.') % c, 'io',
         width=1.8, height=1.6)
    prev, out = 0.9, 1.8  # centre of the last node, right edge
    for i in range(num_convs):
        bx = prev + 2.2
        cx = bx + 2.1
        c += growth_rate
        _box(ax, bx, 2.9, conv, 'conv', width=2.9, height=2.2,
             size=LABEL_SIZE - 3)
        # in to the conv block, out of it down to the concatenation
        _arrow(ax, (prev + 0.3, 0.8 if i == 0 else 0.35), (bx - 0.9, 1.8))
        _arrow(ax, (bx + 0.9, 1.8), (cx - 0.1, 0.35))
        _arrow(ax, (out, 0), (cx - 0.35, 0))
        ax.add_patch(FancyBboxPatch((cx - 0.35, -0.35), 0.7, 0.7,
                                    boxstyle='circle,pad=0',
                                    facecolor=COLORS['op'],
                                    edgecolor='black', linewidth=1.5))
        _text(ax, cx, 0, 'C', size=LABEL_SIZE)
        _text(ax, cx, -0.85, '%d' % c, size=LABEL_SIZE - 1)
        prev, out = cx, cx + 0.35
    tx = prev + 2.6
    _arrow(ax, (out, 0), (tx - 1.6, 0))
    _box(ax, tx, 0, label('过渡层\nBN, ReLU\n1×1 卷积, %d\n2×2 平均池化',
                          'transition\nBN, ReLU\n1×1 conv, %d\n'
                          '2×2 avg pool') % (c // 2), 'pool',
         width=3.2, height=2.8, size=LABEL_SIZE - 3)
    _text(ax, tx, -1.75, label('%d 通道，高宽减半', '%d ch., half h, w')
          % (c // 2), size=LABEL_SIZE - 2)
    _text(ax, right / 2, 5.6, label(
        '稠密块：C 表示在通道维上连结（每个卷积块增加 %d 个通道）',
        'dense block: C concatenates channels (+%d per conv block)')
        % growth_rate, size=TITLE_SIZE - 2, weight='bold')
    return fig


def _circle(ax, x, y, text):
    """The round operator node of the block diagrams (+ or C)."""
    ax.add_patch(FancyBboxPatch((x - 0.35, y - 0.35), 0.7, 0.7,
                                boxstyle='circle,pad=0',
                                facecolor=COLORS['op'],
                                edgecolor='black', linewidth=1.5))
    _text(ax, x, y, text, size=LABEL_SIZE)


def residual_fit_figure():
    """5.11, the book's figure 5.9: fitting f(x) vs fitting f(x) - x.

    Both blocks have the same layers (weight layer, activation, weight
    layer) in the dashed box; in the ordinary block they must produce the
    ideal mapping f(x) themselves, in the residual block only the
    residual f(x) - x, as the input x is added back (He et al., 2016).
    """
    fig, ax = _canvas(13, 8.2, (-0.5, 17.5), (-0.8, 10.6))
    for x, title, residual in ((3.6, label('正常块', 'ordinary block'), False),
                               (12.0, label('残差块', 'residual block'),
                                True)):
        _text(ax, x, 10.1, title, size=TITLE_SIZE, weight='bold')
        top = _column(ax, x, 0, [
            ('x', 'io'),
            (label('权重层', 'weight layer'), 'conv'),
            (label('激活函数', 'activation'), 'conv'),
            (label('权重层', 'weight layer'), 'conv')],
            width=4.0, gap=0.6)
        # the part that has to be learnt, framed
        ax.add_patch(Rectangle((x - 2.6, 0.85), 5.2, top - 0.65,
                               fill=False, linestyle='--', linewidth=1.8,
                               edgecolor='#d62728'))
        fit = r'$f(\mathbf{x})-\mathbf{x}$' if residual else \
            r'$f(\mathbf{x})$'
        _text(ax, x - 2.6 - 0.2, (0.85 + top + 0.2) / 2, fit,
              size=LABEL_SIZE + 1, ha='right', color='#d62728')
        if residual:
            plus_y = top + 1.0
            _arrow(ax, (x, top + 0.2), (x, plus_y - 0.35))
            _circle(ax, x, plus_y, '+')
            # the input goes round the box into the addition
            side = x + 3.4
            _arrow(ax, (x + 2.0, 0), (side, 0), style='-')
            _arrow(ax, (side, 0), (side, plus_y), style='-')
            _arrow(ax, (side, plus_y), (x + 0.35, plus_y))
            _text(ax, side + 0.25, 4.0, 'x', size=LABEL_SIZE + 1, ha='left')
            out = plus_y + 0.35
        else:
            out = top + 0.2
        _arrow(ax, (x, out), (x, 8.1))
        _text(ax, x + 0.25, (out + 8.1) / 2, r'$f(\mathbf{x})$',
              size=LABEL_SIZE + 1, ha='left')
        _box(ax, x, 8.5, label('激活函数', 'activation'), 'conv', width=4.0)
    return fig


def add_concat_figure():
    """5.12, the book's figure 5.10: ResNet adds, DenseNet concatenates.

    The same block g: ResNet's cross-layer connection outputs x + g(x)
    (shapes must match), DenseNet's [x, g(x)] on the channel dimension
    (the channels grow).
    """
    fig, ax = _canvas(13, 6.4, (-0.5, 17.5), (-1.4, 7.4))
    for x, title, op, out in (
            (3.8, label('ResNet：相加', 'ResNet: add'), '+',
             r'$\mathbf{x}+g(\mathbf{x})$'),
            (12.4, label('DenseNet：连结', 'DenseNet: concatenate'), 'C',
             r'$[\mathbf{x},\ g(\mathbf{x})]$')):
        _text(ax, x, 6.9, title, size=TITLE_SIZE, weight='bold')
        _box(ax, x, 0, 'x', 'io', width=3.0)
        _arrow(ax, (x, 0.4), (x, 1.6))
        _box(ax, x, 2.1, label('块 g', 'block g'), 'conv', width=3.0,
             height=1.0)
        _arrow(ax, (x, 2.6), (x, 3.85))
        _circle(ax, x, 4.2, op)
        side = x + 2.6
        _arrow(ax, (x + 1.5, 0), (side, 0), style='-')
        _arrow(ax, (side, 0), (side, 4.2), style='-')
        _arrow(ax, (side, 4.2), (x + 0.35, 4.2))
        _arrow(ax, (x, 4.55), (x, 5.4))
        _text(ax, x, 5.85, out, size=LABEL_SIZE + 2)
    _text(ax, 8.4, -1.0, label(
        '相加要求形状相同；连结沿通道维，通道数随之增加',
        'adding needs equal shapes; concatenating stacks the channels'),
        size=LABEL_SIZE - 2)
    return fig


def conv_shape_figure(n=6, k=3, p=1, s=1):
    """5.2 (interactive): an n×n input, p zeros on each side, a k×k
    window moved by stride s, and the output grid it gives.

    The output's height is ``(n - k + 2p + s) // s``; its first element's
    window is shaded, the second's (one stride across) too.
    """
    n_pad = n + 2 * p
    if not (1 <= k <= n_pad and s >= 1 and p >= 0):
        raise ValueError('the k×k window must fit the padded %d×%d input'
                         % (n_pad, n_pad))
    m = (n - k + 2 * p + s) // s
    X = np.zeros((n_pad, n_pad))
    X[p:p + n, p:p + n] = np.arange(1, n * n + 1).reshape(n, n)
    width = n_pad + m + 3
    fig, ax = _canvas(min(12, 0.55 * width + 1), 0.55 * max(n_pad, m) + 1.6,
                      (-0.5, width), (-1.6, max(n_pad, m) + 0.6))
    shade = _shade(0, 0, k, k, SHADE)
    if m > 1:
        shade.update({key: SHADE2 for key in _shade(0, s, k, k, SHADE2)
                      if key not in shade})
    for i in range(n_pad):
        for j in range(n_pad):
            in_pad = i < p or j < p or i >= p + n or j >= p + n
            color = shade.get((i, j), PAD if in_pad else 'white')
            ax.add_patch(Rectangle((j, n_pad - 1 - i), 1, 1,
                                   facecolor=color, edgecolor='black',
                                   linewidth=1))
    # the two windows' frames: they overlap when the stride is below k
    _window(ax, 0, 0, n_pad, 0, 0, k, k, '#08519c')
    if m > 1:
        _window(ax, 0, 0, n_pad, 0, s, k, k, '#a63603')
    x0 = n_pad + 2
    for i in range(m):
        for j in range(m):
            color = SHADE if (i, j) == (0, 0) else \
                SHADE2 if (i, j) == (0, 1) else 'white'
            ax.add_patch(Rectangle((x0 + j, n_pad - 1 - i), 1, 1,
                                   facecolor=color, edgecolor='black',
                                   linewidth=1))
    _text(ax, n_pad / 2, -0.8, label(
        '输入 %d×%d，每侧填充 %d' % (n, n, p),
        'input %d×%d, padding %d' % (n, n, p)), size=LABEL_SIZE - 3)
    _text(ax, x0 + m / 2, -0.8, label('输出 %d×%d' % (m, m),
                                      'output %d×%d' % (m, m)),
          size=LABEL_SIZE - 3)
    _op(ax, n_pad + 1, n_pad / 2, '→')
    return fig


# the book's two figures of 5.11 and 5.12, after the other drawings, and
# 5.2's interactive one
FIGURES.update({'residual_fit_figure': '05_11_resnet',
                'add_concat_figure': '05_12_densenet',
                'conv_shape_figure': '05_02_padding'})


def all_figures():
    """``(name, function)`` for every figure of ``FIGURES``, in order."""
    return [(name, globals()[name]) for name in FIGURES]
