"""The training loop of d2l-zh 5.5: ``train_ch5``, ``evaluate_accuracy``.

``train_ch5(net, train_iter, test_iter, batch_size, trainer, ctx,
num_epochs)`` keeps the book's signature and printout, without its
quirks: it steps with the actual batch size (the last batch may be
smaller) and reads the loss and accuracy from the device once per epoch
instead of once per batch. ``ctx`` may be a list of devices (data
parallel, one gradient step per batch).
"""
import collections
import contextlib
import math
import sys
import time

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon, nd
from mxnet.contrib import amp as mx_amp
from mxnet.gluon import loss as gloss
from tqdm import tqdm

from .devices import check_ctx, seed_epoch
from .errors import DataError, DivergenceError, UsageError

# How many batches the host may queue ahead of the device. Without a
# bound MXNet's asynchronous engine would accept a whole epoch of
# batches (and their memory) before computing the first one.
MAX_BATCHES_IN_FLIGHT = 2


def epoch_line(record, speed=True):
    """The book's line for one epoch of ``train_ch5``, speed appended.

    ``epoch 1, loss 2.3021, train acc 0.101, test acc 0.100, time 1.2
    sec, 512.3 examples/sec`` (without the speed when ``speed`` is False).
    """
    line = ('epoch %d, loss %.4f, train acc %.3f, test acc %.3f, '
            'time %.1f sec' % (record['epoch'], record['loss'],
                               record['train_acc'], record['test_acc'],
                               record['time']))
    if speed:
        line += ', %.1f examples/sec' % record['examples_per_sec']
    return line


def _as_nd(a):
    """A batch's ``X`` or ``y`` as an NDArray (float32 from numpy)."""
    if isinstance(a, nd.NDArray):
        return a
    if isinstance(a, np.ndarray):
        return nd.array(a, dtype='float32')
    raise UsageError('batches must be (X, y) of NDArrays or numpy arrays, '
                     'got a %s' % type(a).__name__)


def _bad_labels(y, y_hat):
    """How many labels of ``y`` are not class numbers of ``y_hat`` (NDArray).

    ``SoftmaxCrossEntropyLoss`` would clip them silently to a class.
    """
    k = y_hat.shape[1]
    y = y.astype('float32', copy=False)
    return ((y < 0) + (y >= k) + (y != y.floor()) > 0).sum()


def _check_labels(bad, num_classes, where):
    count = int(sum(b.asscalar() for b in bad))
    if count:
        raise DataError('%d labels %s are not class numbers 0 to %d (the '
                        'network has %d outputs); check the data'
                        % (count, where, num_classes - 1, num_classes))


def _split(X, y, ctx):
    """Split a batch over the devices; one device: move it there.

    A batch smaller than the number of devices (a last batch of one
    example) goes to as many devices as it has examples. numpy batches
    become float32 NDArrays.
    """
    X, y = _as_nd(X), _as_nd(y)
    ctx = ctx[:max(1, min(len(ctx), X.shape[0]))]
    if len(ctx) == 1:
        return [X.as_in_context(ctx[0])], [y.as_in_context(ctx[0])]
    return (gluon.utils.split_and_load(X, ctx, even_split=False),
            gluon.utils.split_and_load(y, ctx, even_split=False))


def _on_device(data_iter, ctx):
    """Have in-memory iterators make their batches on ``ctx`` directly."""
    if hasattr(data_iter, 'as_in_context'):
        return data_iter.as_in_context(ctx)
    return data_iter


def evaluate_accuracy(data_iter, net, ctx=None):
    """Accuracy of ``net`` on ``data_iter`` (one host read at the end)."""
    ctx = check_ctx(ctx or mx.cpu())
    data_iter = _on_device(data_iter, ctx[0])
    hits = [nd.zeros((1,), ctx=c) for c in ctx]
    bad = [nd.zeros((1,), ctx=c) for c in ctx]
    n = num_classes = 0
    for X, y in data_iter:
        Xs, ys = _split(X, y, ctx)
        for i, (Xi, yi) in enumerate(zip(Xs, ys)):
            y_hat = net(Xi)
            yi = yi.astype('float32')
            hits[i] += (y_hat.argmax(axis=1) == yi).sum()
            bad[i] += _bad_labels(yi, y_hat)
            num_classes = y_hat.shape[1]
        n += y.shape[0]
    if n == 0:
        return float('nan')
    _check_labels(bad, num_classes, 'of the evaluation data')
    return sum(h.asscalar() for h in hits) / n


def _describe(ctx):
    return ctx[0] if len(ctx) == 1 else ctx


def train_ch5(net, train_iter, test_iter, batch_size, trainer, ctx,
              num_epochs, loss=None, callbacks=(), verbose=True,
              start_epoch=0, seed=None, progress=None, batch_scale=1,
              batch_callbacks=(), amp=False, fixed_batch=False):
    """Train ``net`` and evaluate it after every epoch, as d2l-zh 5.5.

    Prints ``training on cpu(0)`` and, per epoch, the book's line with
    the speed added. Returns the history: one dict per epoch with
    ``epoch, loss, train_acc, test_acc, time, examples_per_sec``; every
    callback is called with that dict after each epoch (a notebook feeds
    its live plot this way). ``batch_size`` is the book's argument; each
    step uses the batch's real size.

    ``start_epoch`` and ``seed`` make runs repeatable and resumable:
    with a seed, epoch ``e`` reseeds MXNet's generator and the data
    order from ``(seed, e)`` alone. ``progress`` shows a tqdm bar (by
    default when stderr is a terminal). ``batch_scale`` multiplies the
    step's batch size: the number of workers under ``dist_sync``.
    ``test_iter=None`` skips evaluation (test acc is NaN), and each of
    ``batch_callbacks`` is called as ``f(epoch, batch, examples)`` after
    every batch is queued (it must not read device values). ``amp=True``
    scales the loss for float16 training after ``mxnet.contrib.amp``'s
    ``init()`` and ``init_trainer(trainer)`` (GPU only; untested here).

    ``fixed_batch=True`` steps with ``batch_size`` every time, as
    ``dist_sync`` requires (the servers' optimizer keeps the scale of
    the first step): a smaller last batch of ``b`` examples has its loss
    multiplied by ``batch_size / b``, so its step is still the mean
    gradient over the examples it holds. All workers' shards have the
    same size, so their last batches have the same ``b``.
    """
    ctx = check_ctx(ctx)
    loss = loss or gloss.SoftmaxCrossEntropyLoss()
    train_iter = _on_device(train_iter, ctx[0])
    if progress is None:
        progress = verbose and sys.stderr.isatty()
    if verbose:
        print('training on', _describe(ctx))
    history = []
    for epoch in range(start_epoch, num_epochs):
        if seed is not None:
            seed_epoch(seed, epoch)
            if hasattr(train_iter, 'set_epoch'):
                train_iter.set_epoch(epoch)
        start = time.time()
        train_l_sum, train_acc_sum, n = _train_epoch(
            net, train_iter, trainer, ctx, loss, epoch, progress,
            batch_scale, batch_callbacks, amp,
            batch_size if fixed_batch else None)
        if test_iter is None:
            test_acc = float('nan')
        else:
            test_acc = evaluate_accuracy(test_iter, net, ctx)
        seconds = time.time() - start
        # float(): on numpy 2 a float32 sum over an int stays float32,
        # which json cannot write
        record = collections.OrderedDict(
            epoch=epoch + 1, loss=float(train_l_sum / n),
            train_acc=float(train_acc_sum / n), test_acc=float(test_acc),
            time=seconds, examples_per_sec=n / seconds)
        history.append(record)
        if verbose:
            print(epoch_line(record))
        for callback in callbacks:
            callback(record)
    return history


def _train_epoch(net, train_iter, trainer, ctx, loss, epoch, progress,
                 batch_scale, batch_callbacks, amp=False, fixed_batch=None):
    """One pass over ``train_iter``; returns host floats (l, hits, n).

    ``fixed_batch``: step with this batch size always, rescaling the
    loss of a smaller batch (see ``train_ch5``).
    """
    train_l_sum = [nd.zeros((1,), ctx=c) for c in ctx]
    train_acc_sum = [nd.zeros((1,), ctx=c) for c in ctx]
    in_flight = collections.deque()
    n = 0
    bar = _progress_bar(train_iter, epoch, progress)
    with bar:
        for i, (X, y) in enumerate(train_iter):
            Xs, ys = _split(X, y, ctx)
            step = X.shape[0]
            with autograd.record():
                y_hats = [net(Xi) for Xi in Xs]
                ls = [loss(y_hat, yi) for y_hat, yi in zip(y_hats, ys)]
                grads = ls
                if fixed_batch and step != fixed_batch:
                    # the mean over this batch, stepped as a full one
                    grads = [l * (fixed_batch / step) for l in ls]
                    step = fixed_batch
            if amp:
                with mx_amp.scale_loss(grads, trainer) as scaled:
                    autograd.backward(scaled)
            else:
                for g in grads:
                    g.backward()
            trainer.step(step * batch_scale)
            batch_l = [l.sum() for l in ls]
            bad = [_bad_labels(yi, y_hat) for y_hat, yi in zip(y_hats, ys)]
            for j, (y_hat, yi) in enumerate(zip(y_hats, ys)):  # devices
                train_l_sum[j] += batch_l[j]
                train_acc_sum[j] += (y_hat.argmax(axis=1) ==
                                     yi.astype('float32')).sum()
            n += X.shape[0]
            in_flight.append((i, batch_l, bad, y_hats[0].shape[1]))
            if len(in_flight) > MAX_BATCHES_IN_FLIGHT:
                # the oldest batch is long done: reading it costs nothing
                _check_batch(*in_flight.popleft(), epoch=epoch)
            bar.update(1)
            for callback in batch_callbacks:
                callback(epoch, i, n)
        while in_flight:
            _check_batch(*in_flight.popleft(), epoch=epoch)
    if n == 0:
        raise UsageError('the training data is empty')
    return (sum(s.asscalar() for s in train_l_sum),
            sum(s.asscalar() for s in train_acc_sum), n)


def _check_batch(batch, batch_l, bad, num_classes, epoch):
    _check_labels(bad, num_classes, 'in epoch %d, batch %d'
                  % (epoch + 1, batch + 1))
    _check_finite(batch, batch_l, epoch)


def _check_finite(batch, batch_l, epoch):
    value = sum(b.asscalar() for b in batch_l)
    if not math.isfinite(value):
        raise DivergenceError(
            'the loss became %s in epoch %d, batch %d: training diverged; '
            'try a smaller learning rate (--lr)'
            % (value, epoch + 1, batch + 1))


def _progress_bar(train_iter, epoch, enabled):
    if not enabled:
        return _NoBar()
    total = len(train_iter) if hasattr(train_iter, '__len__') else None
    return tqdm(total=total, desc='epoch %d' % (epoch + 1), unit='batch',
                leave=False, file=sys.stderr)


class _NoBar(contextlib.nullcontext):
    def update(self, n=1):
        pass
