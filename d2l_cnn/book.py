"""The names of the first edition's ``d2lzh`` package that chapter 5 uses.

With ``import d2l_cnn as d2l`` in place of ``import d2lzh as d2l`` the
chapter's code runs unchanged: the same names, argument names and
defaults, the same printed lines. The work is done by the library's own
functions (``d2l_cnn.train``, ``d2l_cnn.data``, ``d2l_cnn.layers``,
``d2l_cnn.models.resnet``); this module only keeps the book's surface:

- ``train_ch5`` prints the book's epoch line (no examples/sec) and
  returns None; the history of the last call is ``last_history()``.
- ``load_data_fashion_mnist(batch_size, resize=None, root=...)`` takes
  the book's default folder (``$MXNET_HOME`` still wins when set).
- ``book_options(step_size='batch_size')`` makes ``train_ch5`` step the
  last, partial batch with ``batch_size`` as the book does, and
  ``book_options(speed=True)`` adds examples/sec to the epoch line.

``d2l_cnn.train.train_ch5`` (what the notebooks use) is unchanged: it
prints the speed and returns the history.
"""
import os

import mxnet as mx
from mxnet.gluon import nn

from . import data as _data
from . import loop as _loop
from .errors import UsageError
from .layers import corr2d
from .models.resnet import Residual
from .devices import try_all_gpus, try_gpu

__all__ = ['book_options', 'corr2d', 'evaluate_accuracy',
           'get_fashion_mnist_labels', 'last_history',
           'load_data_fashion_mnist', 'Residual', 'resnet18', 'train_ch5',
           'try_all_gpus', 'try_gpu']

# d2lzh's default folder, written the way its signature writes it
BOOK_ROOT = os.path.join('~', '.mxnet', 'datasets', 'fashion-mnist')

_OPTIONS = {'step_size': 'real', 'speed': False}
_STEP_SIZES = ('real', 'batch_size')
_LAST = {'history': None}


def book_options(**changes):
    """Read or change how the book-facing ``train_ch5`` behaves.

    ``step_size='real'`` (default) divides each gradient by the batch's
    real size; ``'batch_size'`` by the ``batch_size`` argument, as the
    book does (its last batch of an epoch is smaller, so it takes a
    smaller step). ``speed=True`` appends ``%.1f examples/sec`` to each
    epoch line. Returns a copy of the options now in force.
    """
    for key, value in changes.items():
        if key not in _OPTIONS:
            raise UsageError('unknown book option %r; choose one of: %s'
                             % (key, ', '.join(sorted(_OPTIONS))))
        if key == 'step_size' and value not in _STEP_SIZES:
            raise UsageError("step_size must be 'real' or 'batch_size', "
                             "got %r" % (value,))
    _OPTIONS.update(changes)
    if 'speed' in changes:
        _OPTIONS['speed'] = bool(changes['speed'])
    return dict(_OPTIONS)


def last_history():
    """History of the last ``train_ch5`` call: one dict per epoch.

    Keys ``epoch, loss, train_acc, test_acc, time, examples_per_sec``,
    as ``d2l_cnn.train.train_ch5`` returns; None before the first call.
    """
    return _LAST['history']


def load_data_fashion_mnist(batch_size, resize=None, root=BOOK_ROOT,
                            **kwargs):
    """Fashion-MNIST ``(train_iter, test_iter)`` with the book's signature.

    Batches are float32 (batch_size, 1, resize, resize) in [0, 1] and
    float32 labels; the last, partial batch is kept, as in the book. The
    default ``root`` is the book's ``~/.mxnet/datasets/fashion-mnist``,
    or ``$MXNET_HOME/datasets/fashion-mnist`` when MXNET_HOME is set (as
    Gluon's own default). Other keywords (``ctx``, ``seed``, ...) go to
    ``d2l_cnn.data.load_data_fashion_mnist``.
    """
    if root == BOOK_ROOT:
        root = _data.default_root('fashion-mnist')
    else:
        root = os.path.expanduser(root)
    return _data.load_data_fashion_mnist(batch_size, resize=resize,
                                         root=root, **kwargs)


def get_fashion_mnist_labels(labels):
    """Text labels (English, as the book) of Fashion-MNIST label indices."""
    return _data.get_fashion_mnist_labels(labels)


def evaluate_accuracy(data_iter, net, ctx=[mx.cpu()]):  # the book's default
    """Accuracy of ``net`` on ``data_iter``; ``ctx`` one device or a list."""
    return _loop.evaluate_accuracy(data_iter, net, ctx)


class _BookStep:
    """A Trainer whose ``step`` always divides by ``batch_size``."""

    def __init__(self, trainer, batch_size):
        self._trainer, self._batch_size = trainer, batch_size

    def step(self, batch_size, ignore_stale_grad=False):
        self._trainer.step(self._batch_size, ignore_stale_grad)

    def __getattr__(self, name):
        return getattr(self._trainer, name)


def train_ch5(net, train_iter, test_iter, batch_size, trainer, ctx,
              num_epochs, **kwargs):
    """Train and evaluate ``net`` as d2l-zh 5.5, printing the book's lines.

    ``training on <ctx>``, then per epoch ``epoch 1, loss 2.3021, train
    acc 0.101, test acc 0.100, time 1.2 sec``. Returns None like the
    book's; ``last_history()`` has the epochs' records. ``ctx`` may be a
    list of devices. Other keywords (``loss``, ``callbacks``, ``seed``,
    ...) go to ``d2l_cnn.train.train_ch5``; see ``book_options`` for
    the step size of a partial batch and the speed column.
    """
    if kwargs.get('verbose') is not None:
        raise UsageError('the book-facing train_ch5 always prints; call '
                         'd2l_cnn.train.train_ch5 for verbose=False')
    speed = _OPTIONS['speed']
    if _OPTIONS['step_size'] == 'batch_size':
        trainer = _BookStep(trainer, batch_size)

    def show(record):
        print(_loop.epoch_line(record, speed))

    # the epochs done stay in last_history() even if training stops
    _LAST['history'] = history = []
    callbacks = [show, history.append] + list(kwargs.pop('callbacks', ()))
    print('training on', ctx)
    _loop.train_ch5(net, train_iter, test_iter, batch_size, trainer, ctx,
                    num_epochs, callbacks=callbacks, verbose=False,
                    progress=False, **kwargs)


def resnet18(num_classes):
    """d2lzh's ResNet-18 for small images (He et al., 2016).

    Unlike section 5.11's network (``d2l_cnn.get_model('resnet')``) it
    starts with a 3x3 convolution, stride 1, and no max pooling, so a
    32x32 input keeps its resolution until the second stage.
    """
    def resnet_block(num_channels, num_residuals, first_block=False):
        blk = nn.Sequential()
        for i in range(num_residuals):
            if i == 0 and not first_block:
                blk.add(Residual(num_channels, use_1x1conv=True, strides=2))
            else:
                blk.add(Residual(num_channels))
        return blk

    net = nn.Sequential()
    net.add(nn.Conv2D(64, kernel_size=3, strides=1, padding=1),
            nn.BatchNorm(), nn.Activation('relu'))
    net.add(resnet_block(64, 2, first_block=True),   # (64, h, w)
            resnet_block(128, 2),                    # (128, h / 2, w / 2)
            resnet_block(256, 2),                    # (256, h / 4, w / 4)
            resnet_block(512, 2))                    # (512, h / 8, w / 8)
    net.add(nn.GlobalAvgPool2D(), nn.Dense(num_classes))
    return net
