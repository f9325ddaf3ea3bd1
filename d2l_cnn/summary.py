"""The book's shape walk, parameter counts and the smallest input size.

``shape_walk(net, (1, 1, 224, 224))`` prints, like the book, each
top-level layer's name and output shape, plus its parameter count.
``min_input_size(net)`` finds the smallest square image a network takes.
"""
import contextlib
import io
import warnings

import mxnet as mx
from mxnet import init, nd

# What MXNet raises for an input that is too small: its own error, or a
# ValueError from Gluon's deferred initialisation that wraps it.
SHAPE_ERRORS = (mx.base.MXNetError, ValueError)


def count_params(block, trainable=True):
    """Number of scalars in ``block``'s parameters (shapes must be known).

    ``trainable=True`` leaves out the ones without gradient (the moving
    statistics of batch normalization).
    """
    total = 0
    for param in block.collect_params().values():
        if trainable and param.grad_req == 'null':
            continue
        size = 1
        for d in param.shape:
            size *= d
        total += size
    return total


def initialize_if_needed(net, ctx=None):
    """Xavier-initialise the parameters of ``net`` not yet initialised."""
    with warnings.catch_warnings():
        # parameters initialised before are left as they are, silently
        warnings.simplefilter('ignore')
        net.initialize(init.Xavier(), ctx=ctx, force_reinit=False)


def initialized(net, X):
    """Initialise ``net`` if needed on ``X``'s device; run it on ``X``."""
    initialize_if_needed(net, X.context)
    return net(X)


def shape_walk(net, shape, ctx=None, file=None):
    """Print each top-level layer's name, output shape and parameters.

    ``shape`` is the input's (batch, channels, height, width). The lines
    are the book's: ``conv0 output shape:\\t (1, 96, 54, 54)``, followed
    by the layer's parameter count. Returns a list of
    ``(name, output shape, parameters)``.
    """
    ctx = ctx or mx.cpu()
    X = nd.random.uniform(shape=shape, ctx=ctx)
    initialized(net, X)
    rows = []
    for layer in net:
        X = layer(X)
        rows.append((layer.name, X.shape, count_params(layer)))
        print(layer.name, 'output shape:\t', X.shape,
              '\tparameters:', count_params(layer), file=file)
    print('total parameters:', count_params(net), file=file)
    return rows


def output_shape(net, shape):
    """Output shape of ``net`` for input ``shape``, by shape inference.

    Raises ``mxnet.base.MXNetError`` when the input is too small. Uses
    symbols only, so it is fast and needs no initialised parameters.
    """
    data = mx.sym.var('data')
    out = net(data)
    # infer_shape prints the arguments before raising: keep quiet
    with contextlib.redirect_stdout(io.StringIO()):
        _, out_shapes, _ = out.infer_shape(data=shape)
    return out_shapes[0]


def accepts(net, size, in_channels=1):
    """Whether ``net`` runs on a (1, in_channels, size, size) image."""
    try:
        out = output_shape(net, (1, in_channels, size, size))
    except SHAPE_ERRORS:
        return False
    return all(d > 0 for d in out)


def min_input_size(net, in_channels=1, limit=1024):
    """Smallest square input height/width that ``net`` accepts.

    Scans upwards from 1 with shape inference (a few milliseconds per
    size). Networks that are not hybrid (``nn.Sequential``) are probed
    with a real forward pass. Raises ``ValueError`` past ``limit``.
    """
    check = accepts if isinstance(net, mx.gluon.HybridBlock) else \
        _accepts_forward
    for size in range(1, limit + 1):
        if check(net, size, in_channels):
            return size
    raise ValueError('no input size up to %d fits this network' % limit)


def _accepts_forward(net, size, in_channels=1):
    X = nd.zeros((1, in_channels, size, size))
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            out = initialized(net, X)
            out.wait_to_read()
    except SHAPE_ERRORS:
        return False
    return all(d > 0 for d in out.shape)


def human(x, unit=''):
    """A count in a few digits: 1234567 -> '1.23M'."""
    for div, suffix in ((1e12, 'T'), (1e9, 'G'), (1e6, 'M'), (1e3, 'K')):
        if abs(x) >= div:
            return '%.3g%s%s' % (x / div, suffix, unit)
    return '%.3g%s' % (x, unit)
