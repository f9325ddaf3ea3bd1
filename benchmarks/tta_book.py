"""Time to accuracy, side (c): the book's own package, ``d2lzh`` 1.0.0.

``python -m benchmarks.tta_book SPEC`` trains with ``d2lzh.train_ch5``
(imperative, a host read per batch, its own printout) the network of
``SPEC['model']``, built with the book's code where ``d2lzh`` has it
(ResNet's ``Residual``) and with d2l_cnn's otherwise (the same layers
as the book's chapter), on the digits of ``SPEC['data']`` through a
Gluon ``DataLoader`` with the book's per-image ``Resize`` + ``ToTensor``
and 4 workers, the optimizer, learning rate and schedule of
``SPEC['recipe']``, and the same order of examples as d2l_cnn's
iterator. The driver reads the printed lines as they come.
"""
import random
import sys
import types

import d2l_cnn  # first: numpy's names for MXNet
import d2lzh
import mxnet as mx
import numpy as np
from mxnet import gluon, nd
from mxnet.gluon import nn

from benchmarks.common import load_digits, lr_at
from d2l_cnn.optim import CentralizedTrainer, make_initializer


class EpochOrder(gluon.data.Sampler):
    """Epoch e visits the examples as ``d2l_cnn.data.ArrayDataIter``."""

    def __init__(self, length, seed):
        self.length, self.seed, self.epoch = length, seed, 0

    def __iter__(self):
        order = np.random.default_rng((self.seed, self.epoch)).permutation(
            self.length)
        self.epoch += 1
        return iter(order.tolist())

    def __len__(self):
        return self.length


class RecipeSchedule(mx.lr_scheduler.LRScheduler):
    """The recipe's warm-up and constant or cosine schedule, per update."""

    def __init__(self, recipe, batches_per_epoch):
        super().__init__(base_lr=recipe['lr'])
        self.recipe, self.batches_per_epoch = recipe, batches_per_epoch

    def __call__(self, num_update):
        return lr_at(self.recipe, num_update, self.batches_per_epoch)


def book_resnet(num_classes=10):
    """ResNet-18 of the chapter, from ``d2lzh.Residual`` (a ``Block``)."""
    def resnet_block(num_channels, num_residuals, first_block=False):
        blk = nn.Sequential()
        for i in range(num_residuals):
            if i == 0 and not first_block:
                blk.add(d2lzh.Residual(num_channels, use_1x1conv=True,
                                       strides=2))
            else:
                blk.add(d2lzh.Residual(num_channels))
        return blk
    net = nn.Sequential()
    net.add(nn.Conv2D(64, kernel_size=7, strides=2, padding=3),
            nn.BatchNorm(), nn.Activation('relu'),
            nn.MaxPool2D(pool_size=3, strides=2, padding=1))
    net.add(resnet_block(64, 2, first_block=True), resnet_block(128, 2),
            resnet_block(256, 2), resnet_block(512, 2))
    net.add(nn.GlobalAvgPool2D(), nn.Dense(num_classes))
    return net


def build_net(name):
    if name == 'resnet':
        return book_resnet()
    return d2l_cnn.get_model(name)


def loaders(spec):
    """The book's DataLoaders over the shared digits."""
    (X_train, y_train), (X_test, y_test) = load_digits(spec)
    r, bs = spec['recipe']['resize'], spec['recipe']['batch_size']
    transforms = gluon.data.vision.transforms
    trans = [transforms.ToTensor()]
    if r != X_train.shape[-1]:
        trans.insert(0, transforms.Resize(r))
    trans = transforms.Compose(trans)

    def dataset(X, y):  # (N, 28, 28, 1) uint8, as Gluon's MNIST holds it
        return gluon.data.ArrayDataset(
            nd.array(X.transpose(0, 2, 3, 1), dtype='uint8'),
            y.astype('int32')).transform_first(trans)
    workers = spec.get('loader_workers', 4)  # d2lzh: 4 except on Windows
    train_iter = gluon.data.DataLoader(
        dataset(X_train, y_train), bs,
        sampler=EpochOrder(len(y_train), spec['seed']),
        num_workers=workers)
    test_iter = gluon.data.DataLoader(dataset(X_test, y_test), bs,
                                      shuffle=False, num_workers=workers)
    return train_iter, test_iter


def main(argv=None):
    import json
    spec = json.loads((sys.argv[1:] if argv is None else argv)[0])
    r = spec['recipe']
    mx.random.seed(spec['seed'])
    np.random.seed(spec['seed'])
    random.seed(spec['seed'])
    train_iter, test_iter = loaders(spec)
    net = build_net(spec['model'])
    # the recipe's initializer by name, as d2l_cnn resolves it ('he', ...)
    initializer = make_initializer(
        types.SimpleNamespace(init=r.get('init', 'xavier')))
    net.initialize(initializer, ctx=mx.cpu())
    params = {'learning_rate': r['lr'],
              'lr_scheduler': RecipeSchedule(r, len(train_iter))}
    if r.get('wd'):
        params['wd'] = r['wd']
    optimizer = r.get('optimizer', 'sgd')
    if optimizer == 'momentum':
        optimizer, params['momentum'] = 'sgd', 0.9
    # the recipe's gradient centralization (NiN), as d2l_cnn applies it
    cls = CentralizedTrainer if r.get('centralize') else gluon.Trainer
    trainer = cls(net.collect_params(), optimizer, params)
    d2lzh.train_ch5(net, train_iter, test_iter, r['batch_size'], trainer,
                    mx.cpu(), r['num_epochs'])
    return 0


if __name__ == '__main__':
    sys.exit(main())
