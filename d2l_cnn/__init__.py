"""d2l_cnn: the convolutional networks of d2l-zh chapter 5 in MXNet Gluon.

>>> import d2l_cnn
>>> net = d2l_cnn.get_model('nin')
>>> d2l_cnn.get_recipe('nin')['lr']
0.1

``import d2l_cnn as d2l`` can stand in for the first edition's
``import d2lzh as d2l`` in chapter 5: ``d2l.try_gpu()``,
``d2l.load_data_fashion_mnist(batch_size, resize=224)``,
``d2l.train_ch5(net, train_iter, test_iter, batch_size, trainer, ctx,
num_epochs)``, ``d2l.corr2d(X, K)``, ``d2l.Residual`` ... (see
``d2l_cnn.book`` for what differs).
"""
__version__ = '0.1.0'

from . import compat  # noqa: E402

# First, before anything imports mxnet: one line on an unsupported
# Python or machine, and numpy's removed names that MXNet reads.
compat.prepare()

from .threads import quiet_interrupts, set_default_threads  # noqa: E402

# ``python -m d2l_cnn.COMMAND``: Ctrl-C while MXNet loads is one line.
quiet_interrupts()

# Before MXNet loads: OpenMP on every physical core, not half of them.
set_default_threads()

# mxnet itself, or one line naming what it misses (libgomp, CUDA ...)
compat.start()

from .errors import D2LError, DataError, UsageError  # noqa: E402
from .registry import (Recipe, get_entry, get_model,  # noqa: E402
                       get_recipe, list_models, register_model)
from . import models  # noqa: E402,F401  (registers the networks)
# The book's d2lzh names. d2l_cnn.book imports the loop, never
# d2l_cnn.train, so ``python -m d2l_cnn.train`` runs that file once.
from .book import (Residual, book_options, corr2d,  # noqa: E402,F401
                   evaluate_accuracy, get_fashion_mnist_labels,
                   last_history, load_data_fashion_mnist, resnet18,
                   train_ch5, try_all_gpus, try_gpu)

BOOK_NAMES = ('Residual', 'book_options', 'corr2d', 'evaluate_accuracy',
              'get_fashion_mnist_labels', 'last_history',
              'load_data_fashion_mnist', 'resnet18', 'train_ch5',
              'try_all_gpus', 'try_gpu')


def __getattr__(name):
    # ``d2l_cnn.train`` (the book's names for notebooks) loads on first
    # use: imported here, ``python -m d2l_cnn.train`` would run it twice.
    if name == 'train':
        import importlib
        return importlib.import_module('.train', __name__)
    raise AttributeError('module %r has no attribute %r' % (__name__, name))


__all__ = ['D2LError', 'DataError', 'Recipe', 'UsageError', 'get_entry',
           'get_model',
           'get_recipe', 'list_models', 'register_model', *BOOK_NAMES]
