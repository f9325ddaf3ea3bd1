"""Training as in d2l-zh 5.5: ``train_ch5`` and ``python -m d2l_cnn.train``.

``train_ch5(net, train_iter, test_iter, batch_size, trainer, ctx,
num_epochs)`` keeps the book's signature and printout, without its
quirks: it steps with the actual batch size (the last batch may be
smaller) and reads the loss and accuracy from the device once per epoch
instead of once per batch. ``ctx`` may be a list of devices (data
parallel, one gradient step per batch).

Next to ``try_gpu`` live the other pieces every training loop of the
package shares: ``parse_ctx`` (the ``--ctx`` grammar), ``seed_everything``,
``make_trainer`` and ``make_initializer`` (a registry recipe -> Gluon
objects).

The command line trains any registered network (``d2l_cnn.cli``)::

    python -m d2l_cnn.train nin                    # cpu recipe on a CPU
    python -m d2l_cnn.train batchnorm --data mnist5k --out runs/bn
"""
import collections
import contextlib
import math
import os
import random
import sys
import time

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon, nd
from mxnet.contrib import amp as mx_amp
from mxnet.gluon import loss as gloss
from tqdm import tqdm

from .errors import DivergenceError, UsageError

# How many batches the host may queue ahead of the device. Without a
# bound MXNet's asynchronous engine would accept a whole epoch of
# batches (and their memory) before computing the first one.
MAX_BATCHES_IN_FLIGHT = 2
# Seeds numpy accepts: 0 <= seed < 2**32.
MAX_SEED = 2 ** 32 - 1


def try_gpu():
    """``mx.gpu()`` if MXNet sees a GPU, otherwise ``mx.cpu()``."""
    return mx.gpu() if num_gpus() > 0 else mx.cpu()


def try_all_gpus():
    """Every GPU MXNet sees, or ``[mx.cpu()]`` when there is none."""
    n = num_gpus()
    return [mx.gpu(i) for i in range(n)] if n else [mx.cpu()]


def num_gpus():
    """How many GPUs MXNet sees (0 for a CPU-only build or no driver)."""
    try:
        return mx.context.num_gpus()
    except mx.base.MXNetError:
        return 0


def parse_ctx(text):
    """``cpu``, ``gpu``, ``gpu:1``, ``gpu:0,1``, ``cpu:0,1`` -> contexts.

    ``None`` means ``[try_gpu()]``; a context (or a list of them) is
    returned as a list. Raises ``UsageError`` for anything else, and for
    devices this machine does not have: GPUs MXNet does not see, and CPU
    numbers from ``cpu_limit()`` on (checked before anything is
    allocated).
    """
    if text is None:
        return [try_gpu()]
    if isinstance(text, mx.Context):
        return [text]
    if isinstance(text, (list, tuple)):
        return list(text)
    kind, _, ids = text.strip().lower().partition(':')
    if kind not in ('cpu', 'gpu'):
        raise UsageError('--ctx %r: use cpu, gpu, gpu:0,1 or cpu:0,1'
                         % text)
    try:
        ids = [int(i) for i in ids.split(',')] if ids else [0]
    except ValueError:
        raise UsageError('--ctx %r: device numbers must be whole numbers'
                         % text) from None
    if len(set(ids)) != len(ids) or min(ids) < 0:
        raise UsageError('--ctx %r: device numbers must be distinct and '
                         '0 or more' % text)
    if kind == 'cpu':
        limit = cpu_limit()
        if max(ids) >= limit:
            raise UsageError('--ctx %s: CPU devices are numbered 0 to %d '
                             'here (one per usable core, at least 2)'
                             % (text, limit - 1))
        return [mx.cpu(i) for i in ids]
    n = num_gpus()
    if n == 0:
        raise UsageError('--ctx %s: MXNet sees no GPU on this machine '
                         '(a CPU-only mxnet or no CUDA driver); use '
                         '--ctx cpu' % text)
    if max(ids) >= n:
        raise UsageError('--ctx %s: this machine has %d GPU(s), numbered '
                         '0 to %d' % (text, n, n - 1))
    return [mx.gpu(i) for i in ids]


def cpu_limit():
    """How many CPU devices ``--ctx cpu:0,1,...`` may name.

    MXNet's ``cpu(i)`` are labels of the same memory: any number works,
    but Gluon builds lists as long as the largest number. We allow one
    per core this process may use, and at least 2 (``cpu:0,1`` is how
    the multi-device code is tested on any machine).
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(2, cores)


def check_seed(seed):
    """``seed`` as an int if numpy and MXNet accept it (0 to 2**32 - 1)."""
    if (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
            or not 0 <= seed <= MAX_SEED):
        raise UsageError('seed must be a whole number from 0 to %d, not %r'
                         % (MAX_SEED, seed))
    return int(seed)


def net_ctx(net):
    """The contexts holding ``net``'s parameters, or None if not set up."""
    for param in net.collect_params().values():
        try:
            return param.list_ctx()
        except RuntimeError:  # not initialised yet
            return None
    return None


def seed_everything(seed):
    """One seed for MXNet, numpy and Python: a CPU run repeats exactly."""
    seed = check_seed(seed)
    mx.random.seed(seed)
    np.random.seed(seed)
    random.seed(seed)


class CenteredXavier(mx.init.Xavier):
    """Xavier weights with zero mean over each output unit's inputs.

    A unit fed by ReLUs sees inputs that are all >= 0, so its
    pre-activation is about ``mean(x) * sum(w)``: with plain Xavier the
    sign of ``sum(w)`` decides whether the unit is positive for almost
    every example or dead for all of them. Zero-sum weights leave only
    the part that depends on the example, and almost every unit starts
    alive for some examples (the observation behind centered weight
    normalization, Huang et al., 2017, applied once at initialization).
    """

    def _init_weight(self, name, arr):
        super()._init_weight(name, arr)
        if arr.ndim > 1:  # (out, in, kh, kw) or (out, in): center per out
            arr[:] = arr - arr.mean(axis=tuple(range(1, arr.ndim)),
                                    keepdims=True)


# Initializers known by a short name besides MXNet's own ('xavier', ...).
# 'he': He et al. (2015), Delving deep into rectifiers: Gaussian weights
# with variance 2 / fan_in, which keeps the scale of ReLU activations
# from layer to layer (Xavier keeps 1 / fan_avg).
# 'centered': Xavier, then each unit's weights shifted to sum to zero.
INITIALIZERS = {
    'he': lambda: mx.init.Xavier(rnd_type='gaussian', factor_type='in',
                                 magnitude=2),
    'centered': CenteredXavier,
}


def make_initializer(recipe):
    """The MXNet initializer named by ``recipe.init`` ('xavier', 'he'...)."""
    if recipe.init in INITIALIZERS:
        return INITIALIZERS[recipe.init]()
    try:
        return mx.init.create(recipe.init)
    except (AssertionError, ValueError, TypeError):
        raise UsageError('init %r is not an MXNet initializer (e.g. '
                         'xavier, he, centered, msraprelu, normal)'
                         % recipe.init) from None


class CentralizedTrainer(gluon.Trainer):
    """A ``gluon.Trainer`` with gradient centralization (Yong et al., 2020).

    Before the gradients are combined and the optimizer steps, each
    weight gradient (parameters with more than one axis: convolution
    and dense weights) loses its mean over the unit's inputs, all axes
    but the first. Plain SGD and momentum then keep every unit's weight
    sum as it started (zero with ``init='centered'``); Adam, which
    divides each weight's step by its own gradient scale, keeps it
    close: in tests/test_centralize.py the sums drift 4-5 times less.
    """

    def _allreduce_grads(self):
        for param in self._params:
            if param.grad_req != 'null' and len(param.shape) > 1:
                for g in param.list_grad():  # (out, in, ...): per out
                    g[:] = g - g.mean(axis=tuple(range(1, g.ndim)),
                                      keepdims=True)
        super()._allreduce_grads()


def make_trainer(net, recipe, batches_per_epoch, kvstore=None,
                 lr_steps=(), lr_factor=0.1):
    """A ``gluon.Trainer`` for ``net`` as ``recipe`` says.

    ``recipe.optimizer`` is 'sgd' (the book), 'momentum' (SGD with
    momentum 0.9) or 'adam', with ``recipe.lr`` and ``recipe.wd``;
    ``recipe.lr_schedule`` 'cosine' decays the lr to 0 over the run
    (``mx.lr_scheduler.CosineScheduler``), after ``recipe.warmup_epochs``
    of linear warm-up from 0 (which also works with 'constant').
    ``lr_steps`` (epochs) multiply a constant lr by ``lr_factor`` at
    each step. ``kvstore`` (a name or a KVStore) combines gradients.
    ``recipe.centralize`` centralizes the weight gradients first
    (``CentralizedTrainer``).
    """
    steps = max(1, batches_per_epoch)
    total = steps * recipe.num_epochs
    warmup = int(round(recipe.warmup_epochs * steps))
    lr = recipe.lr
    params = {'learning_rate': lr}
    if recipe.wd:
        params['wd'] = recipe.wd
    ramp = dict(warmup_steps=warmup, warmup_begin_lr=0.0) if warmup else {}
    if recipe.lr_schedule == 'cosine':
        if lr_steps:
            raise UsageError('--lr-steps is a step schedule: use it with '
                             '--lr-schedule constant')
        params['lr_scheduler'] = mx.lr_scheduler.CosineScheduler(
            max_update=max(total, warmup + 1), base_lr=lr, final_lr=0.0,
            **ramp)
    elif lr_steps:
        params['lr_scheduler'] = mx.lr_scheduler.MultiFactorScheduler(
            step=[e * steps for e in lr_steps], factor=lr_factor,
            base_lr=lr, **ramp)
    elif warmup:
        # constant after the warm-up: a factor schedule that never decays
        params['lr_scheduler'] = mx.lr_scheduler.FactorScheduler(
            step=total + 1, factor=1.0, base_lr=lr, **ramp)
    optimizer = recipe.optimizer
    if optimizer == 'momentum':
        optimizer, params['momentum'] = 'sgd', 0.9
    kwargs = {}
    if kvstore is not None:
        kwargs['kvstore'] = kvstore
        kind = kvstore if isinstance(kvstore, str) else kvstore.type
        if 'dist' not in kind:
            # the optimizer runs here, so its states can be saved; under
            # dist_sync it must run on the servers: with
            # update_on_kvstore=False, MXNet 1.9.1 summed a worker's
            # first gradients wrongly in 9 of 30 loopback runs
            kwargs['update_on_kvstore'] = False
    cls = CentralizedTrainer if recipe.centralize else gluon.Trainer
    return cls(net.collect_params(), optimizer, params, **kwargs)


def _as_list(ctx):
    return list(ctx) if isinstance(ctx, (list, tuple)) else [ctx]


def _split(X, y, ctx):
    """Split a batch over the devices; one device: move it there.

    A batch smaller than the number of devices (a last batch of one
    example) goes to as many devices as it has examples.
    """
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
    ctx = _as_list(ctx or mx.cpu())
    data_iter = _on_device(data_iter, ctx[0])
    hits = [nd.zeros((1,), ctx=c) for c in ctx]
    n = 0
    for X, y in data_iter:
        Xs, ys = _split(X, y, ctx)
        for i, (Xi, yi) in enumerate(zip(Xs, ys)):
            hits[i] += (net(Xi).argmax(axis=1) == yi.astype('float32')).sum()
        n += y.shape[0]
    if n == 0:
        return float('nan')
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
    ctx = _as_list(ctx)
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
        record = collections.OrderedDict(
            epoch=epoch + 1, loss=train_l_sum / n,
            train_acc=train_acc_sum / n, test_acc=test_acc,
            time=seconds, examples_per_sec=n / seconds)
        history.append(record)
        if verbose:
            print('epoch %d, loss %.4f, train acc %.3f, test acc %.3f, '
                  'time %.1f sec, %.1f examples/sec'
                  % (record['epoch'], record['loss'], record['train_acc'],
                     record['test_acc'], seconds, record['examples_per_sec']))
        for callback in callbacks:
            callback(record)
    return history


def seed_epoch(seed, epoch):
    """Seed MXNet's generators (dropout, flips) for ``epoch`` of a run."""
    mx.random.seed((seed * 100003 + epoch * 7919 + 1) % (2 ** 31))


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
            for j, (y_hat, yi) in enumerate(zip(y_hats, ys)):  # devices
                train_l_sum[j] += batch_l[j]
                train_acc_sum[j] += (y_hat.argmax(axis=1) ==
                                     yi.astype('float32')).sum()
            n += X.shape[0]
            in_flight.append((i, batch_l))
            if len(in_flight) > MAX_BATCHES_IN_FLIGHT:
                # the oldest batch is long done: reading it costs nothing
                _check_finite(*in_flight.popleft(), epoch=epoch)
            bar.update(1)
            for callback in batch_callbacks:
                callback(epoch, i, n)
        while in_flight:
            _check_finite(*in_flight.popleft(), epoch=epoch)
    if n == 0:
        raise UsageError('the training data is empty')
    return (sum(s.asscalar() for s in train_l_sum),
            sum(s.asscalar() for s in train_acc_sum), n)


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


if __name__ == '__main__':
    # ``python -m d2l_cnn.train``: this file runs as the script
    # ``__main__``; the library module d2l_cnn.train never imports the
    # command line, so the two do not import each other.
    from d2l_cnn.cli import main
    sys.exit(main())
