"""The basic operations of sections 5.1-5.4, written out by hand.

Cross-correlation (``corr2d``) and a convolutional layer built on it
(5.1), the output shape under padding and stride (``comp_conv2d``, 5.2),
several input and output channels and the 1x1 convolution (5.3), and
max/average pooling (``pool2d``, 5.4). The arrays have no batch
dimension: ``X`` is (height, width) or (channels, height, width).

``corr2d`` and ``pool2d`` loop over the *kernel* offsets instead of the
output positions: for every offset (a, b) they take the whole shifted
slice ``X[a:a + oh, b:b + ow]`` at once. The result is the same sum, but
the loop is as short as the kernel, and no output element is assigned
one by one, so ``autograd`` can differentiate through it.

The functions are written as the notebooks show them, without argument
checks; ``_guarded`` wraps each in its check, so a wrong shape raises a
one-line ``UsageError`` instead of an error deep inside MXNet.
"""
import functools

from mxnet import autograd, init, nd
from mxnet.gluon import nn

from .errors import UsageError


def _guarded(check):
    """Decorator: call ``check`` with the arguments first.

    ``check`` raises ``UsageError`` for arguments the function cannot
    take, and returns the positional arguments to call it with.
    """
    def decorate(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            return func(*check(*args, **kwargs))
        return wrapper
    return decorate


# ------------------------------------------------------------ checks

def _check_corr2d(X, K):
    if len(X.shape) != 2 or len(K.shape) != 2:
        raise UsageError('corr2d needs 2-D X and K, got shapes %s and %s'
                         % (X.shape, K.shape))
    if K.shape[0] > X.shape[0] or K.shape[1] > X.shape[1]:
        raise UsageError('kernel %s is larger than the input %s'
                         % (K.shape, X.shape))
    return X, K


def _check_comp_conv2d(conv2d, X):
    if len(X.shape) != 2:
        raise UsageError('X must be one (height, width) image, got shape %s'
                         % (X.shape,))
    return conv2d, X


def _check_multi_in(X, K):
    if len(X.shape) != 3 or len(K.shape) != 3 or X.shape[0] != K.shape[0]:
        raise UsageError('need X (c_i, h, w) and K (c_i, kh, kw) with the '
                         'same c_i, got shapes %s and %s'
                         % (X.shape, K.shape))
    return X, K


def _check_multi_in_out(X, K):
    if len(K.shape) != 4:
        raise UsageError('K must be (c_o, c_i, kh, kw), got shape %s'
                         % (K.shape,))
    return X, K


def _check_1x1(X, K):
    if len(X.shape) != 3 or len(K.shape) != 4 or \
            K.shape[1:] != (X.shape[0], 1, 1):
        raise UsageError('need X (c_i, h, w) and K (c_o, c_i, 1, 1), got '
                         'shapes %s and %s' % (X.shape, K.shape))
    return X, K


def _check_pool2d(X, pool_size, mode='max'):
    if mode not in ('max', 'avg'):
        raise UsageError("mode must be 'max' or 'avg', got %r" % (mode,))
    if isinstance(pool_size, int):
        pool_size = (pool_size, pool_size)
    if len(X.shape) != 2 or len(pool_size) != 2 or min(pool_size) < 1:
        raise UsageError('need a 2-D X and a (height, width) pool_size, '
                         'got shapes %s and %s' % (X.shape, pool_size))
    if pool_size[0] > X.shape[0] or pool_size[1] > X.shape[1]:
        raise UsageError('pooling window %s is larger than the input %s'
                         % (tuple(pool_size), X.shape))
    return X, tuple(pool_size), mode


# ------------------------------------------------------- 5.1 - 5.4

@_guarded(_check_corr2d)
def corr2d(X, K):
    """Two-dimensional cross-correlation of ``X`` (h, w) with ``K`` (kh, kw).

    Output shape (h - kh + 1, w - kw + 1): the kernel slides over every
    position where it fits completely. Output element (i, j) is
    ``(X[i:i + kh, j:j + kw] * K).sum()``.
    """
    h, w = X.shape
    kh, kw = K.shape
    oh, ow = h - kh + 1, w - kw + 1
    Y = nd.zeros((oh, ow), ctx=X.context, dtype=X.dtype)
    for a in range(kh):
        for b in range(kw):
            # 每个输出元素 (i, j) 加上输入 (i + a, j + b) 乘 K[a, b]
            Y = Y + X[a:a + oh, b:b + ow] * K[a:a + 1, b:b + 1]
    return Y


class Conv2D(nn.Block):
    """A convolutional layer from scratch: ``corr2d(X, weight) + bias``.

    One input and one output channel; ``kernel_size`` is an int or a
    (height, width) pair. The weight is learnt, like any parameter; the
    bias starts at zero, as in Gluon's ``nn.Conv2D``.
    """

    def __init__(self, kernel_size, **kwargs):
        super(Conv2D, self).__init__(**kwargs)
        if isinstance(kernel_size, int):
            kernel_size = (kernel_size, kernel_size)
        self.weight = self.params.get('weight', shape=kernel_size)
        self.bias = self.params.get('bias', shape=(1,), init=init.Zero())

    def forward(self, x):
        return corr2d(x, self.weight.data()) + self.bias.data()


def learn_kernel(X, Y, kernel_size, lr=0.015, num_epochs=30,
                 train_bias=True):
    """Learn a ``Conv2D`` that maps ``X`` to ``Y`` by gradient descent.

    Squared loss summed over the output; plain gradient steps of size
    ``lr`` on the weight, and on the bias unless ``train_bias=False`` (the
    book updates the weight only). The bias sees every output element, so
    its gradient is large: on the 6x8 edge image the largest stable step
    is about 0.033 for the weight alone and 0.016 with the bias. Returns
    the layer and the loss of every epoch (before its step).
    """
    conv2d = Conv2D(kernel_size)
    conv2d.initialize()
    params = [conv2d.weight, conv2d.bias] if train_bias else [conv2d.weight]
    losses = []
    for _ in range(num_epochs):
        with autograd.record():
            Y_hat = conv2d(X)
            loss = ((Y_hat - Y) ** 2).sum()
        loss.backward()
        for param in params:
            param.data()[:] -= lr * param.grad()
        losses.append(loss.asscalar())
    return conv2d, losses


@_guarded(_check_comp_conv2d)
def comp_conv2d(conv2d, X):
    """Apply the Gluon layer ``conv2d`` to one (h, w) image ``X``.

    Initialises ``conv2d``, adds the batch and channel dimensions
    (1, 1, h, w) that Gluon expects, and drops them again, so the result
    is the (height, width) the padding and stride produce.
    """
    conv2d.initialize()
    Y = conv2d(X.reshape((1, 1) + X.shape))  # (1, 通道, 输出的高, 输出的宽)
    return Y.reshape(Y.shape[2:])


@_guarded(_check_multi_in)
def corr2d_multi_in(X, K):
    """Cross-correlate each input channel with its kernel and add them.

    ``X`` (c_i, h, w), ``K`` (c_i, kh, kw) -> (oh, ow).
    """
    return nd.add_n(*[corr2d(x, k) for x, k in zip(X, K)])


@_guarded(_check_multi_in_out)
def corr2d_multi_in_out(X, K):
    """One multi-input cross-correlation per output channel, stacked.

    ``X`` (c_i, h, w), ``K`` (c_o, c_i, kh, kw) -> (c_o, oh, ow).
    """
    return nd.stack(*[corr2d_multi_in(X, k) for k in K])


@_guarded(_check_1x1)
def corr2d_multi_in_out_1x1(X, K):
    """A 1x1 convolution as one matrix product.

    ``X`` (c_i, h, w), ``K`` (c_o, c_i, 1, 1) -> (c_o, h, w). Every pixel
    is a vector of c_i channels; the kernel is a (c_o, c_i) matrix that
    maps it to c_o channels, the same at every pixel, like a dense layer.
    """
    c_i, h, w = X.shape
    c_o = K.shape[0]
    X = X.reshape((c_i, h * w))
    K = K.reshape((c_o, c_i))
    Y = nd.dot(K, X)  # (c_o, h * w)
    return Y.reshape((c_o, h, w))


@_guarded(_check_pool2d)
def pool2d(X, pool_size, mode='max'):
    """Max or average pooling of ``X`` (h, w), window ``pool_size``, stride 1.

    ``pool_size`` is a (height, width) pair; ``mode`` is ``'max'`` or
    ``'avg'``. Output shape (h - ph + 1, w - pw + 1).
    """
    ph, pw = pool_size
    h, w = X.shape
    oh, ow = h - ph + 1, w - pw + 1
    # 一次取出每个窗口的第 (a, b) 个元素：ph * pw 个 (oh, ow) 的切片
    slices = [X[a:a + oh, b:b + ow] for a in range(ph) for b in range(pw)]
    if mode == 'avg':
        return nd.add_n(*slices) / (ph * pw)
    Y = slices[0].copy()
    for window in slices[1:]:
        Y = nd.maximum(Y, window)
    return Y
