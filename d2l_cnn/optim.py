"""A recipe -> Gluon objects: ``make_trainer``, ``make_initializer``.

The registry's ``Recipe`` names the optimizer, learning-rate schedule
and initializer; these turn it into a ``gluon.Trainer`` and an
``mx.init.Initializer`` (``CenteredXavier`` among them).
"""
import mxnet as mx
from mxnet import gluon

from .errors import UsageError


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
