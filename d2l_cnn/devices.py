"""Devices and seeds: ``try_gpu`` (d2l-zh 5.6), ``--ctx``, one seed.

``try_gpu``/``try_all_gpus`` as the book, ``parse_ctx`` (the ``--ctx``
grammar), ``check_ctx`` (devices this machine has), ``net_ctx`` (where
a network's parameters live), and ``seed_everything``/``seed_epoch`` (a
CPU run repeats exactly).
"""
import os
import random

import mxnet as mx
import numpy as np

from .errors import UsageError

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


def check_ctx(ctx):
    """``ctx`` as a list of devices this machine has; else UsageError.

    ``ctx`` is a context (``mx.gpu(0)``), a list of them, or the text of
    ``--ctx`` (``'cpu'``, ``'gpu:0,1'``, see ``parse_ctx``).
    """
    if isinstance(ctx, str):
        return parse_ctx(ctx)
    ctx = list(ctx) if isinstance(ctx, (list, tuple)) else [ctx]
    if not ctx or not all(isinstance(c, mx.Context) for c in ctx):
        raise UsageError('ctx must be a device (mx.cpu(), mx.gpu(0)), a '
                         'list of them, or text such as "cpu" or "gpu:0,1"; '
                         'got %r' % (ctx,))
    gpus = [c.device_id for c in ctx if c.device_type == 'gpu']
    if gpus and max(gpus) >= num_gpus():
        raise UsageError('ctx %s: MXNet sees %d GPU(s) on this machine; use '
                         'mx.cpu() (or d2l_cnn.try_gpu())'
                         % (ctx[0] if len(ctx) == 1 else ctx, num_gpus()))
    return ctx


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


def seed_epoch(seed, epoch):
    """Seed MXNet's generators (dropout, flips) for ``epoch`` of a run."""
    mx.random.seed((seed * 100003 + epoch * 7919 + 1) % (2 ** 31))
