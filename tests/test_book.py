"""``import d2l_cnn as d2l`` in place of the first edition's ``d2lzh``.

Each name is called the way chapter 5's code calls it, on small
Fashion-MNIST-format files the tests write, and compared with the real
``d2lzh`` 1.0.0 where both are deterministic.
"""
import gzip
import hashlib
import inspect
import os
import re
import subprocess
import sys

import mxnet as mx
import numpy as np
import pytest
from mxnet import gluon, init, nd
from mxnet.gluon import nn

import d2l_cnn as d2l
import d2l_cnn.data
import d2l_cnn.train
from d2l_cnn import book
from d2l_cnn.errors import UsageError

from conftest import ROOT as ROOT_DIR

d2lzh = pytest.importorskip('d2lzh')

BOOK_NAMES = ('try_gpu', 'try_all_gpus', 'load_data_fashion_mnist',
              'train_ch5', 'evaluate_accuracy', 'corr2d', 'Residual',
              'resnet18', 'get_fashion_mnist_labels')
FILES = ('train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz',
         't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz')
NUM_TRAIN, NUM_TEST = 300, 100
EPOCH_LINE = re.compile(r'^epoch \d+, loss \d+\.\d{4}, train acc \d\.\d{3}, '
                        r'test acc \d\.\d{3}, time \d+\.\d sec$')


def write_idx(path, array):
    """Write a uint8 array as a gzipped IDX file (type 0x08)."""
    head = bytes([0, 0, 8, array.ndim]) + b''.join(
        int(d).to_bytes(4, 'big') for d in array.shape)
    with open(path, 'wb') as f:
        f.write(gzip.compress(head + array.astype(np.uint8).tobytes()))


def write_fashion_mnist(folder, num_train=NUM_TRAIN, num_test=NUM_TEST):
    """Fashion-MNIST-format files: a bright band per class, plus noise."""
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(0)
    for prefix, n in (('train', num_train), ('t10k', num_test)):
        y = rng.integers(0, 10, n)
        X = rng.integers(0, 60, (n, 28, 28))
        for i, c in enumerate(y):
            X[i, 2 * c:2 * c + 8] += 150
        write_idx(os.path.join(folder, prefix + '-images-idx3-ubyte.gz'), X)
        write_idx(os.path.join(folder, prefix + '-labels-idx1-ubyte.gz'), y)
    return folder


@pytest.fixture
def local_files(monkeypatch):
    """Let both loaders take the test's files as the real data set.

    Our loader takes them as they are (``D2L_CNN_VERIFY=0``, or it is
    told their SHA-1 sums); Gluon's FashionMNIST (used by d2lzh) takes
    any present file instead of downloading.
    """
    def accept(folder):
        sums = {f: hashlib.sha1(open(os.path.join(folder, f), 'rb').read())
                .hexdigest() for f in FILES}
        if hasattr(d2l_cnn.data, 'SHA1'):  # a loader that insists on them
            monkeypatch.setitem(d2l_cnn.data.SHA1, 'fashion-mnist', sums)
        return folder

    from mxnet.gluon.data.vision import datasets
    monkeypatch.setattr(
        datasets, 'download', lambda url, path=None, sha1_hash=None, **k:
        os.path.join(path, url.split('/')[-1]))
    monkeypatch.setenv('D2L_CNN_VERIFY', '0')
    return accept


@pytest.fixture
def root(tmp_path, local_files):
    return local_files(write_fashion_mnist(str(tmp_path / 'fashion-mnist')))


@pytest.fixture(autouse=True)
def default_options():
    saved = d2l.book_options()
    yield
    d2l.book_options(**saved)


def lenet():
    """Section 5.5's LeNet (sigmoid), built here."""
    net = nn.Sequential()
    net.add(nn.Conv2D(6, kernel_size=5, activation='sigmoid'),
            nn.MaxPool2D(pool_size=2, strides=2),
            nn.Conv2D(16, kernel_size=5, activation='sigmoid'),
            nn.MaxPool2D(pool_size=2, strides=2),
            nn.Dense(120, activation='sigmoid'),
            nn.Dense(84, activation='sigmoid'), nn.Dense(10))
    return net


def copy_params(src, dst, X):
    """Initialise both nets on ``X`` and give ``dst`` the values of ``src``."""
    for net in (src, dst):
        net.initialize(init.Xavier(), force_reinit=True)
        net(X)
    a = list(src.collect_params().values())
    b = list(dst.collect_params().values())
    assert len(a) == len(b)
    for p, q in zip(a, b):
        assert p.shape == q.shape
        q.set_data(p.data())


# ------------------------------------------------------------- surface

@pytest.mark.parametrize('name', BOOK_NAMES)
def test_book_names_have_the_books_signature(name):
    ours, theirs = getattr(d2l, name), getattr(d2lzh, name)
    if inspect.isclass(ours):
        ours, theirs = ours.__init__, theirs.__init__
    p_ours = inspect.signature(ours).parameters
    p_theirs = inspect.signature(theirs).parameters
    named = [p for p in p_ours.values() if p.kind != p.VAR_KEYWORD]
    assert [p.name for p in named] == [
        p.name for p in p_theirs.values() if p.kind != p.VAR_KEYWORD]
    for p in named:
        default = p_theirs[p.name].default
        if isinstance(default, list):  # evaluate_accuracy's [mx.cpu()]
            assert list(p.default) == default
        else:
            assert p.default == default, p.name


def test_library_functions_keep_their_behaviour():
    # the notebooks' train_ch5 is not the book-facing one
    assert d2l.train_ch5 is not d2l_cnn.train.train_ch5
    assert d2l.corr2d is d2l_cnn.layers.corr2d
    assert d2l.Residual is d2l_cnn.models.resnet.Residual


def test_try_gpu_as_the_book(monkeypatch):
    ctx = d2l.try_gpu()
    assert ctx == d2lzh.try_gpu() == mx.cpu()  # this machine has no GPU
    assert d2l.try_all_gpus() == d2lzh.try_all_gpus() == [mx.cpu()]
    monkeypatch.setattr(mx.context, 'num_gpus', lambda: 2)
    assert d2l.try_gpu() == mx.gpu(0)
    assert d2l.try_all_gpus() == [mx.gpu(0), mx.gpu(1)]


# ----------------------------------------------------------- 5.1, 5.3

def test_corr2d_as_in_5_1():
    X = nd.array([[0, 1, 2], [3, 4, 5], [6, 7, 8]])
    K = nd.array([[0, 1], [2, 3]])
    Y = d2l.corr2d(X, K)
    assert Y.shape == (2, 2)
    np.testing.assert_array_equal(Y.asnumpy(), [[19, 25], [37, 43]])
    np.testing.assert_array_equal(Y.asnumpy(),
                                  d2lzh.corr2d(X, K).asnumpy())


@pytest.mark.parametrize('shape,kernel', [((6, 8), (1, 2)), ((5, 7), (3, 2)),
                                          ((4, 4), (4, 4))])
def test_corr2d_matches_the_book_on_random_data(shape, kernel):
    rng = np.random.default_rng(sum(shape + kernel))
    X = nd.array(rng.normal(size=shape))
    K = nd.array(rng.normal(size=kernel))
    np.testing.assert_allclose(d2l.corr2d(X, K).asnumpy(),
                               d2lzh.corr2d(X, K).asnumpy(), rtol=1e-5,
                               atol=1e-5)


def test_corr2d_through_d2l_in_5_3s_multi_channel_sum():
    X = nd.array([[[0, 1, 2], [3, 4, 5], [6, 7, 8]],
                  [[1, 2, 3], [4, 5, 6], [7, 8, 9]]])
    K = nd.array([[[0, 1], [2, 3]], [[1, 2], [3, 4]]])
    ours = nd.add_n(*[d2l.corr2d(x, k) for x, k in zip(X, K)])
    theirs = nd.add_n(*[d2lzh.corr2d(x, k) for x, k in zip(X, K)])
    np.testing.assert_array_equal(ours.asnumpy(), [[56, 72], [104, 120]])
    np.testing.assert_array_equal(ours.asnumpy(), theirs.asnumpy())


# --------------------------------------------------------------- 5.11

@pytest.mark.parametrize('args,kwargs,out_shape', [
    ((3,), {}, (4, 3, 6, 6)),
    ((6,), {'use_1x1conv': True, 'strides': 2}, (4, 6, 3, 3))])
def test_residual_as_in_5_11(args, kwargs, out_shape):
    X = nd.random.uniform(shape=(4, 3, 6, 6))
    blk = d2l.Residual(*args, **kwargs)
    blk.initialize()
    assert blk(X).shape == out_shape
    # with the book's block's parameters, the same numbers
    theirs = d2lzh.Residual(*args, **kwargs)
    copy_params(theirs, blk, X)
    with mx.autograd.train_mode():  # batch statistics, as in training
        np.testing.assert_allclose(blk(X).asnumpy(), theirs(X).asnumpy(),
                                   rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(blk(X).asnumpy(), theirs(X).asnumpy(),
                               rtol=1e-5, atol=1e-6)


def test_resnet18_matches_the_books():
    X = nd.random.uniform(shape=(2, 3, 32, 32))
    ours, theirs = d2l.resnet18(10), d2lzh.resnet18(10)
    copy_params(theirs, ours, X)
    assert ours(X).shape == (2, 10)
    np.testing.assert_allclose(ours(X).asnumpy(), theirs(X).asnumpy(),
                               rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- data

def test_load_data_fashion_mnist_as_in_5_5(root):
    batch_size = 256
    train_iter, test_iter = d2l.load_data_fashion_mnist(
        batch_size=batch_size, root=root)
    b_train, b_test = d2lzh.load_data_fashion_mnist(batch_size, root=root)
    for ours, theirs in ((train_iter, b_train), (test_iter, b_test)):
        shapes = [(X.shape, y.shape) for X, y in ours]
        assert shapes == [(X.shape, y.shape) for X, y in theirs]
    assert [X.shape[0] for X, _ in train_iter] == [256, NUM_TRAIN - 256]
    # the test split is not shuffled: the very same pixels and labels
    (X, y), = list(test_iter)
    (bX, by), = list(b_test)
    assert X.dtype == bX.dtype == np.float32
    np.testing.assert_allclose(X.asnumpy(), bX.asnumpy(), atol=1e-6)
    np.testing.assert_array_equal(y.asnumpy(), by.asnumpy())


def test_load_data_fashion_mnist_resize_as_in_5_6(root):
    train_iter, test_iter = d2l.load_data_fashion_mnist(16, resize=224,
                                                        root=root)
    _, b_test = d2lzh.load_data_fashion_mnist(16, resize=224, root=root)
    X, y = next(iter(test_iter))
    bX, by = next(iter(b_test))
    assert X.shape == bX.shape == (16, 1, 224, 224)
    np.testing.assert_array_equal(y.asnumpy(), by.asnumpy())
    # one batched bilinear resize instead of OpenCV's, image by image
    assert np.abs(X.asnumpy() - bX.asnumpy()).mean() < 0.01
    assert next(iter(train_iter))[0].shape == (16, 1, 224, 224)


def test_default_folder_is_the_books(tmp_path, monkeypatch, local_files):
    home = tmp_path / 'home'
    local_files(write_fashion_mnist(
        str(home / '.mxnet' / 'datasets' / 'fashion-mnist'), num_train=20,
        num_test=10))
    monkeypatch.setenv('HOME', str(home))
    monkeypatch.delenv('MXNET_HOME', raising=False)
    train_iter, test_iter = d2l.load_data_fashion_mnist(8)
    assert sum(X.shape[0] for X, _ in test_iter) == 10
    # MXNET_HOME, when set, wins (as for Gluon's data sets)
    other = tmp_path / 'mxhome'
    local_files(write_fashion_mnist(
        str(other / 'datasets' / 'fashion-mnist'), num_train=20,
        num_test=7))
    monkeypatch.setenv('MXNET_HOME', str(other))
    _, test_iter = d2l.load_data_fashion_mnist(8)
    assert sum(X.shape[0] for X, _ in test_iter) == 7


def test_get_fashion_mnist_labels():
    assert d2l.get_fashion_mnist_labels([0, 9, 3]) == \
        d2lzh.get_fashion_mnist_labels([0, 9, 3])


# ------------------------------------------------------------ training

def batches(root, batch_size):
    """The data as lists of batches: the same order for every consumer."""
    train_iter, test_iter = d2l.load_data_fashion_mnist(batch_size,
                                                        root=root)
    return list(train_iter), list(test_iter)


def test_evaluate_accuracy_matches_the_books(root):
    _, test_batches = batches(root, 32)
    net = lenet()
    net.initialize(init.Xavier())
    ours = d2l.evaluate_accuracy(test_batches, net)
    assert ours == pytest.approx(
        float(d2lzh.evaluate_accuracy(test_batches, net)))
    assert d2l.evaluate_accuracy(test_batches, net, mx.cpu()) == ours
    assert d2l.evaluate_accuracy(test_batches, net, [mx.cpu()]) == ours


def test_train_ch5_prints_the_books_lines_and_returns_none(root, capsys):
    batch_size, num_epochs = 256, 2
    train_iter, test_iter = d2l.load_data_fashion_mnist(batch_size,
                                                        root=root)
    net = lenet()
    ctx = d2l.try_gpu()
    net.initialize(force_reinit=True, ctx=ctx, init=init.Xavier())
    trainer = gluon.Trainer(net.collect_params(), 'sgd',
                            {'learning_rate': 0.9})
    result = d2l.train_ch5(net, train_iter, test_iter, batch_size, trainer,
                           ctx, num_epochs)
    assert result is None
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == 'training on cpu(0)'
    assert len(lines) == 1 + num_epochs
    assert all(EPOCH_LINE.match(line) for line in lines[1:]), lines
    history = d2l.last_history()
    assert [r['epoch'] for r in history] == [1, 2]
    for line, record in zip(lines[1:], history):
        assert 'loss %.4f' % record['loss'] in line
        assert 'test acc %.3f' % record['test_acc'] in line
    # the book's own train_ch5 prints lines of the same form
    d2lzh.train_ch5(net, train_iter, test_iter, batch_size, trainer, ctx, 1)
    theirs = capsys.readouterr().out.splitlines()
    assert theirs[0] == lines[0] and EPOCH_LINE.match(theirs[1]), theirs


def test_speed_option_adds_examples_per_sec(root, capsys):
    train_b, test_b = batches(root, 128)
    net = lenet()
    net.initialize(init=init.Xavier())
    trainer = gluon.Trainer(net.collect_params(), 'sgd',
                            {'learning_rate': 0.9})
    d2l.book_options(speed=True)
    d2l.train_ch5(net, train_b, test_b, 128, trainer, mx.cpu(), 1)
    line = capsys.readouterr().out.splitlines()[1]
    assert re.match(EPOCH_LINE.pattern[:-1] + r', \d+\.\d examples/sec$',
                    line), line


def train_both(root, step_size, num_epochs=2):
    """Params after d2lzh's and our train_ch5 from the same start."""
    batch_size = 128  # 300 examples: the last batch has 44
    train_b, test_b = batches(root, batch_size)
    nets = [lenet(), lenet()]
    copy_params(nets[0], nets[1], train_b[0][0])
    trainers = [gluon.Trainer(n.collect_params(), 'sgd',
                              {'learning_rate': 0.9}) for n in nets]
    d2lzh.train_ch5(nets[0], train_b, test_b, batch_size, trainers[0],
                    mx.cpu(), num_epochs)
    d2l.book_options(step_size=step_size)
    d2l.train_ch5(nets[1], train_b, test_b, batch_size, trainers[1],
                  mx.cpu(), num_epochs)
    return [[p.data().asnumpy() for p in n.collect_params().values()]
            for n in nets]


def test_step_size_batch_size_trains_exactly_as_the_book(root):
    theirs, ours = train_both(root, 'batch_size')
    for a, b in zip(theirs, ours):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_default_step_size_is_the_real_batch(root):
    theirs, ours = train_both(root, 'real', num_epochs=1)
    assert max(np.abs(a - b).max() for a, b in zip(theirs, ours)) > 1e-4


def test_train_ch5_passes_library_options(root, capsys):
    train_b, test_b = batches(root, 128)
    net = lenet()
    net.initialize(init=init.Xavier())
    trainer = gluon.Trainer(net.collect_params(), 'sgd',
                            {'learning_rate': 0.9})
    seen = []
    d2l.train_ch5(net, train_b, test_b, 128, trainer, [mx.cpu()], 2,
                  callbacks=[seen.append])
    assert seen == d2l.last_history() and len(seen) == 2
    assert capsys.readouterr().out.startswith('training on [cpu(0)]\n')
    with pytest.raises(UsageError, match='always prints'):
        d2l.train_ch5(net, train_b, test_b, 128, trainer, mx.cpu(), 1,
                      verbose=False)


def test_library_train_ch5_still_returns_the_history(root, capsys):
    train_b, test_b = batches(root, 128)
    net = lenet()
    net.initialize(init=init.Xavier())
    trainer = gluon.Trainer(net.collect_params(), 'sgd',
                            {'learning_rate': 0.9})
    history = d2l_cnn.train.train_ch5(net, train_b, test_b, 128, trainer,
                                      mx.cpu(), 1)
    assert len(history) == 1
    assert 'examples/sec' in capsys.readouterr().out


def test_book_options_are_checked():
    assert d2l.book_options() == {'step_size': 'real', 'speed': False}
    with pytest.raises(UsageError, match='unknown book option'):
        d2l.book_options(steps='book')
    with pytest.raises(UsageError, match="'real' or 'batch_size'"):
        d2l.book_options(step_size='book')
    assert d2l.book_options() == {'step_size': 'real', 'speed': False}
    assert book.last_history is d2l.last_history


def test_epochs_done_stay_in_last_history_when_training_stops(
        root, capsys):
    from mxnet.gluon import loss as gloss
    from d2l_cnn.errors import DivergenceError
    train_b, test_b = batches(root, 128)
    ce = gloss.SoftmaxCrossEntropyLoss()
    calls = []

    def loss(y_hat, y):  # NaN from the second epoch on
        calls.append(1)
        l = ce(y_hat, y)
        return l * float('nan') if len(calls) > len(train_b) else l

    net = lenet()
    net.initialize(init=init.Xavier())
    trainer = gluon.Trainer(net.collect_params(), 'sgd',
                            {'learning_rate': 0.9})
    with pytest.raises(DivergenceError, match='epoch 2, batch 1'):
        d2l.train_ch5(net, train_b, test_b, 128, trainer, mx.cpu(), 3,
                      loss=loss)
    assert [r['epoch'] for r in d2l.last_history()] == [1]
    assert len(capsys.readouterr().out.splitlines()) == 2


def test_the_book_names_load_on_use_so_the_command_runs_without_warning():
    # importing the training module with the package would make
    # ``python -m d2l_cnn.train`` print runpy's RuntimeWarning
    code = ('import sys, d2l_cnn as d2l; '
            'assert "d2l_cnn.train" not in sys.modules; '
            'assert d2l.train_ch5.__module__ == "d2l_cnn.book"')
    env = dict(os.environ, PYTHONPATH=ROOT_DIR)
    subprocess.run([sys.executable, '-c', code], check=True, env=env)
    proc = subprocess.run(
        [sys.executable, '-m', 'd2l_cnn.train', '--help'], env=env,
        capture_output=True, text=True, check=True)
    assert proc.stderr == ''
    assert 'usage: python -m d2l_cnn.train' in proc.stdout
