"""See inside a network: feature maps, filters, class maps, mistakes.

What a student of chapter 5 most needs to see, for every registered
network (hybridized or not), on the device its input lives on:

* ``feature_maps(net, X)``: the book's shape walk, keeping the outputs;
  ``show_feature_maps`` draws them, ``show_filters`` draws the first
  convolution's learned kernels;
* ``class_activation_map(net, X)``: Grad-CAM (Selvaraju et al., 2017),
  where in the image the evidence for a class lies; for NiN,
  ``nin_class_maps(net, X)`` are the last block's own per-class maps,
  whose global average *is* the class score (Lin et al., 2013);
* ``occlusion(net, X)``: how much a class's probability drops when a
  patch of the image is covered (Zeiler & Fergus, 2014);
* ``top_mistakes(net, data_iter)``: the test examples the network gets
  wrong most confidently; ``show_mistakes`` draws them.

Gradients come from MXNet's autograd, never from hand-written rules.
"""
import collections
import math

import numpy as np
from matplotlib.figure import Figure
from mxnet import autograd, nd
from mxnet.base import MXNetError
from mxnet.gluon import nn

from .errors import D2LError, UsageError, mxnet_summary
from .figures import font, label

KINDS = ('maps', 'filters', 'cam', 'occlusion', 'mistakes')

Mistake = collections.namedtuple(
    'Mistake', 'image label prediction probability index')
Mistake.__doc__ = """One confidently wrong prediction.

``image`` is the network's input (C, H, W) as a numpy array, ``label``
the true class, ``prediction`` the predicted one, ``probability`` the
softmax probability given to the prediction and ``index`` the
example's position in the data iterator.
"""


# -------------------------------------------------------------- layers

def _layers(net):
    """The top-level layers of ``net``, in order."""
    if isinstance(net, (nn.Sequential, nn.HybridSequential)):
        return list(net)
    raise UsageError('%s is not a Sequential network: its top-level '
                     'layers have no order to walk' % type(net).__name__)


def layer_names(net):
    """Names of ``net``'s top-level layers (``conv0``, ``pool0``, ...)."""
    return [layer.name for layer in _layers(net)]


def _index(net, layer):
    """Position of ``layer`` (a name or an index) among the layers."""
    names = layer_names(net)
    if isinstance(layer, (int, np.integer)) and not isinstance(layer, bool):
        if -len(names) <= layer < len(names):
            return int(layer) % len(names)
        raise UsageError('layer %d does not exist: the network has %d '
                         'top-level layers' % (layer, len(names)))
    if layer in names:
        return names.index(layer)
    raise UsageError('no top-level layer %r; choose one of: %s'
                     % (layer, ', '.join(names)))


def _check_input(X):
    if not isinstance(X, nd.NDArray):
        raise UsageError('X must be an MXNet NDArray, not %s'
                         % type(X).__name__)
    if X.ndim != 4:
        raise UsageError('X must have shape (batch size, channels, height, '
                         'width), not %s' % (X.shape,))


def _run(layer, X, name):
    try:
        Y = layer(X)
        Y.wait_to_read()
    except MXNetError as e:
        raise D2LError('layer %s cannot take an input of shape %s: %s'
                       % (name, X.shape, mxnet_summary(e))) from None
    return Y


def feature_maps(net, X):
    """``[(name, output), ...]``: each top-level layer's output on ``X``.

    The book's shape walk (``for layer in net: X = layer(X)``) keeping
    the outputs; equal to running the layers one by one.
    """
    _check_input(X)
    maps = []
    for layer in _layers(net):
        X = _run(layer, X, layer.name)
        maps.append((layer.name, X))
    return maps


def _spatial(Y):
    return Y.ndim == 4 and Y.shape[2] > 1 and Y.shape[3] > 1


def last_spatial_layer(net, X):
    """Name of the last top-level layer whose output is still an image."""
    found = [name for name, Y in feature_maps(net, X[:1]) if _spatial(Y)]
    if not found:
        raise UsageError('no top-level layer of this network outputs a '
                         'map larger than 1x1 for input %s' % (X.shape,))
    return found[-1]


# ----------------------------------------------------- class evidence

def _classes(cls, y_hat):
    """Per-example class indices: the prediction, one class or a list."""
    n, k = y_hat.shape
    if cls is None:
        return y_hat.argmax(axis=1).astype('int64').asnumpy()
    classes = np.asarray(cls, dtype=np.int64).reshape(-1)
    if classes.size == 1:
        classes = np.repeat(classes, n)
    if classes.size != n:
        raise UsageError('cls has %d entries for %d examples'
                         % (classes.size, n))
    if classes.min() < 0 or classes.max() >= k:
        raise UsageError('cls must be a class from 0 to %d, not %s'
                         % (k - 1, classes.min() if classes.min() < 0
                            else classes.max()))
    return classes


def _scale(maps):
    """Scale each example's map (N, H, W) to [0, 1] (all zero stays 0)."""
    flat = maps.reshape((maps.shape[0], -1))
    low = flat.min(axis=1).reshape((-1, 1, 1))
    high = flat.max(axis=1).reshape((-1, 1, 1))
    span = high - low
    return (maps - low) / nd.maximum(span, 1e-12) * (span > 0)


def _upsample(maps, height, width):
    """(N, h, w) -> (N, height, width), bilinear."""
    return nd.contrib.BilinearResize2D(
        maps.expand_dims(axis=1), height=height, width=width)[:, 0]


def class_activation_map(net, X, cls=None, layer=None):
    """Grad-CAM (Selvaraju et al., 2017) of class ``cls`` on ``layer``.

    Each channel k of the layer's output A gets the weight
    ``alpha_k = mean over (h, w) of d score / d A_k``; the map is
    ``ReLU(sum_k alpha_k A_k)``, resized to X's height and width and
    scaled to [0, 1] per example. ``layer`` is a top-level layer's name
    or index (default: the last one whose output is larger than 1x1);
    ``cls`` is None (each example's predicted class), one class, or one
    per example. Returns an NDArray (N, H, W).
    """
    _check_input(X)
    layers = _layers(net)
    i = _index(net, layer if layer is not None
               else last_spatial_layer(net, X))
    A = X
    for blk in layers[:i + 1]:
        A = _run(blk, A, blk.name)
    if A.ndim != 4:
        raise UsageError('layer %s outputs %s, not a map (batch, '
                         'channels, height, width)'
                         % (layers[i].name, A.shape))
    A = A.detach()
    A.attach_grad()
    # (batch, channels, h, w) -> ... -> (batch, num_classes) scores
    with autograd.record(train_mode=False):
        y_hat = A
        for blk in layers[i + 1:]:
            y_hat = blk(y_hat)
        classes = _classes(cls, y_hat)
        picked = nd.array(classes, ctx=y_hat.context)
        score = nd.pick(y_hat, picked, axis=1).sum()
    score.backward()
    alpha = A.grad.mean(axis=(2, 3), keepdims=True)  # (batch, channels, 1, 1)
    cam = nd.relu((alpha * A).sum(axis=1))            # (batch, h, w)
    return _scale(_upsample(cam, X.shape[2], X.shape[3]))


def nin_class_maps(net, X):
    """NiN's last block's per-class maps (N, num_classes, h, w).

    In NiN (Lin et al., 2013) the last block has one channel per class
    and the global average pool turns each map into that class's score:
    ``nin_class_maps(net, X).mean(axis=(2, 3))`` equals ``net(X)``.
    """
    _check_input(X)
    layers = _layers(net)
    pools = [i for i, blk in enumerate(layers)
             if isinstance(blk, nn.GlobalAvgPool2D)]
    rest = layers[pools[-1] + 1:] if pools else None
    if not pools or any(not isinstance(blk, nn.Flatten) for blk in rest):
        raise UsageError('class maps need a network that ends in a global '
                         'average pool (and a Flatten), like NiN')
    maps = X
    for blk in layers[:pools[-1]]:
        maps = _run(blk, maps, blk.name)
    return maps


def occlusion(net, X, cls=None, patch=8, stride=4, fill=0):
    """Drop of class ``cls``'s probability when a patch is covered.

    Zeiler & Fergus (2014): slide a ``patch`` x ``patch`` square of value
    ``fill`` over each image with step ``stride``; entry (n, i, j) is
    the probability of the class (None: the predicted one) on the whole
    image minus that on the image covered at (i * stride, j * stride).
    Returns an NDArray (N, rows, columns).
    """
    _check_input(X)
    _, _, height, width = X.shape
    for name, value in (('patch', patch), ('stride', stride)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise UsageError('%s must be a positive whole number, not %r'
                             % (name, value))
    if patch > min(height, width):
        raise UsageError('patch %d is larger than the %dx%d image'
                         % (patch, height, width))
    rows = (height - patch) // stride + 1
    cols = (width - patch) // stride + 1
    probs = _run(net, X, 'the network').softmax(axis=1)
    classes = _classes(cls, probs)
    drops = []
    for n in range(X.shape[0]):
        # every covered copy of example n: (rows * cols, C, H, W)
        covered = X[n:n + 1].repeat(rows * cols, axis=0)
        for i in range(rows):
            for j in range(cols):
                r, c = i * stride, j * stride
                covered[i * cols + j, :, r:r + patch, c:c + patch] = fill
        p = _run(net, covered, 'the network').softmax(axis=1)
        p = p[:, int(classes[n])]
        drops.append((probs[n, int(classes[n])] - p).reshape((rows, cols)))
    return nd.stack(*drops)


def top_mistakes(net, data_iter, k=16, ctx=None):
    """The ``k`` wrong predictions made with the highest probability.

    Runs ``net`` over ``data_iter`` (batches ``(X, y)``; moved to ``ctx``,
    a context or a list whose first one is used, when given) and returns
    a list of ``Mistake``, most confident first.
    """
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise UsageError('k must be a positive whole number, not %r' % k)
    if isinstance(ctx, (list, tuple)):
        ctx = ctx[0]
    found = []  # (probability, index, image, label, prediction)
    start = 0
    for X, y in data_iter:
        if ctx is not None:
            X, y = X.as_in_context(ctx), y.as_in_context(ctx)
        probs = _run(net, X, 'the network').softmax(axis=1).asnumpy()
        labels = y.asnumpy().astype(np.int64)
        predictions = probs.argmax(axis=1)
        for i in np.flatnonzero(predictions != labels):
            found.append((float(probs[i, predictions[i]]), start + int(i),
                          X[int(i)].asnumpy(), int(labels[i]),
                          int(predictions[i])))
        found = sorted(found, key=lambda m: (-m[0], m[1]))[:k]
        start += len(labels)
    return [Mistake(image, lab, pred, p, index)
            for p, index, image, lab, pred in found]


# ------------------------------------------------------------ pictures

def _image(ax, image, cmap='gray'):
    """Show a (C, H, W) array: gray for one channel, colour for three."""
    image = np.asarray(image, dtype=np.float32)
    if image.shape[0] == 3:
        low, high = image.min(), image.max()
        ax.imshow(((image - low) / max(high - low, 1e-12))
                  .transpose(1, 2, 0))
    else:
        ax.imshow(image[0], cmap=cmap)
    ax.set_xticks([])
    ax.set_yticks([])


def _grid(nrows, ncols, size=1.6, title_lines=0):
    """A Figure of ``nrows`` x ``ncols`` axes without frames."""
    fig = Figure(figsize=(size * ncols,
                          (size + 0.3 * title_lines) * nrows + 0.5))
    axes = [[fig.add_subplot(nrows, ncols, r * ncols + c + 1)
             for c in range(ncols)] for r in range(nrows)]
    for row in axes:
        for ax in row:
            ax.axis('off')
    return fig, axes


def show_feature_maps(net, X, layers=None, max_channels=16):
    """A Figure: the input, then up to ``max_channels`` maps per layer.

    ``X`` is one example (C, H, W) or (1, C, H, W); ``layers`` are
    top-level layer names (default: every layer whose output is larger
    than 1x1), one row each.
    """
    if isinstance(X, nd.NDArray) and X.ndim == 3:
        X = X.expand_dims(axis=0)
    _check_input(X)
    maps = feature_maps(net, X[:1])
    if layers is None:
        rows = [(name, Y) for name, Y in maps if _spatial(Y)]
    else:
        chosen = [layer_names(net)[_index(net, name)] for name in layers]
        rows = [(name, Y) for name, Y in maps if name in chosen]
        flat = [name for name, Y in rows if Y.ndim != 4]
        if flat:
            raise UsageError('layer %s outputs a vector, not maps'
                             % flat[0])
    ncols = max([1] + [min(Y.shape[1], max_channels) for _, Y in rows])
    fig, axes = _grid(len(rows) + 1, ncols + 1)
    axes[0][0].set_title(label('输入', 'input'), fontproperties=font(11))
    _image(axes[0][0], X[0].asnumpy())
    axes[0][0].axis('on')
    for r, (name, Y) in enumerate(rows, start=1):
        Y = Y[0].asnumpy()  # (channels, h, w)
        axes[r][0].text(0.5, 0.5, '%s\n%s' % (name, 'x'.join(
            str(d) for d in Y.shape)), ha='center', va='center',
            fontproperties=font(10))
        for c in range(min(Y.shape[0], max_channels)):
            ax = axes[r][c + 1]
            ax.imshow(Y[c], cmap='viridis')
            ax.axis('on')
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(label('每层的特征图（每行最多 %d 个通道）' % max_channels,
                       'feature maps per layer (at most %d channels a row)'
                       % max_channels), fontproperties=font(13))
    fig.tight_layout()
    return fig


def conv_weights(net):
    """``{name: weight}`` of every convolution of ``net``, in order.

    The name is the layer's (``conv0``), the weight its Parameter of
    shape (output channels, input channels, kh, kw).
    """
    return collections.OrderedDict(
        (param.name[:-len('_weight')], param)
        for param in net.collect_params().values()
        if param.name.endswith('_weight') and len(param.shape) == 4)


def _conv_weight(net, layer):
    weights = conv_weights(net)
    if not weights:
        raise UsageError('this network has no convolution')
    if layer is None:
        return next(iter(weights.items()))
    if layer not in weights:
        raise UsageError('no convolution %r; choose one of: %s'
                         % (layer, ', '.join(weights)))
    return layer, weights[layer]


def show_filters(net, layer=None, max_filters=64):
    """A Figure: the kernels of a convolution (default: the first).

    One small image per output channel: in colour when the layer takes
    3 channels, else the kernel of the first input channel in gray.
    ``layer`` is a convolution's name (``conv0``, see ``conv_weights``).
    """
    name, weight = _conv_weight(net, layer)
    try:
        W = weight.list_data()[0].asnumpy()  # (out, in, kh, kw)
    except RuntimeError:
        raise UsageError('the parameters of %s are not initialised yet: '
                         'run the network on an input first'
                         % name) from None
    n = min(W.shape[0], max_filters)
    ncols = min(n, 8)
    nrows = math.ceil(n / ncols)
    fig, axes = _grid(nrows, ncols, size=1.2)
    for f in range(n):
        ax = axes[f // ncols][f % ncols]
        kernel = W[f] if W.shape[1] == 3 else W[f, :1]
        _image(ax, kernel)
        ax.axis('on')
    shape = 'x'.join(str(d) for d in W.shape)
    fig.suptitle(label('%s 的卷积核 %s' % (name, shape),
                       'kernels of %s, %s' % (name, shape)),
                 fontproperties=font(13))
    fig.tight_layout()
    return fig


def show_kernels(kernels, titles=None):
    """A Figure: small 2-D kernels side by side, each value written in.

    For comparing kernels by eye, e.g. the hand-made edge detector
    ``[[1, -1]]`` of section 5.1 and the one a layer learned.
    """
    kernels = [k.asnumpy() if isinstance(k, nd.NDArray) else np.asarray(k)
               for k in kernels]
    kernels = [k.reshape(k.shape[-2:]) if k.ndim > 2 else
               k.reshape(1, -1) if k.ndim == 1 else k for k in kernels]
    if any(k.size > 49 for k in kernels):
        raise UsageError('show_kernels writes every value: at most 7x7 '
                         'kernels (show_filters draws larger ones)')
    fig, axes = _grid(1, len(kernels), size=2.4,
                      title_lines=1 if titles else 0)
    span = max(float(np.abs(k).max()) for k in kernels) or 1.0
    for i, k in enumerate(kernels):
        ax = axes[0][i]
        ax.imshow(k, cmap='coolwarm', vmin=-span, vmax=span)
        for (r, c), v in np.ndenumerate(k):
            ax.text(c, r, '%.2f' % v, ha='center', va='center',
                    fontproperties=font(14))
        ax.axis('on')
        ax.set_xticks([])
        ax.set_yticks([])
        if titles:
            ax.set_title(titles[i], fontproperties=font(13))
    fig.tight_layout()
    return fig


def show_heatmaps(X, maps, titles=None, title=None):
    """A Figure: each image of ``X`` with its map (N, h, w) laid over it.

    Maps smaller than the image (occlusion) are resized to it; the
    colours run from 0 (and below) to each map's largest value.
    """
    _check_input(X)
    n = X.shape[0]
    maps = maps.astype('float32')
    if maps.shape[1:] != X.shape[2:]:
        maps = _upsample(maps, X.shape[2], X.shape[3])
    fig, axes = _grid(1, n, size=2.0, title_lines=1 if titles else 0)
    for i in range(n):
        ax = axes[0][i]
        _image(ax, X[i].asnumpy())
        heat = maps[i].asnumpy()
        ax.imshow(heat, cmap='jet', alpha=0.45, vmin=0,
                  vmax=max(float(heat.max()), 1e-12))
        ax.axis('on')
        if titles:
            ax.set_title(titles[i], fontproperties=font(10))
    if title:
        fig.suptitle(title, fontproperties=font(12))
    fig.tight_layout()
    return fig


def show_mistakes(mistakes, text_labels=None, ncols=8):
    """A Figure of ``Mistake``s: true label, prediction and probability."""
    if not mistakes:
        raise UsageError('no mistakes to show: every example was right')
    n = len(mistakes)
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    fig, axes = _grid(nrows, ncols, size=1.8, title_lines=2)

    def name(c):
        return text_labels[c] if text_labels else str(c)
    for i, m in enumerate(mistakes):
        ax = axes[i // ncols][i % ncols]
        _image(ax, m.image)
        ax.axis('on')
        ax.set_title('%s: %s\n%s: %s %.2f' % (
            label('真', 'true'), name(m.label), label('预测', 'pred'),
            name(m.prediction), m.probability), color='red',
            fontproperties=font(9))
    fig.suptitle(label('最有把握的错误', 'the most confident mistakes'),
                 fontproperties=font(13))
    fig.tight_layout()
    return fig
