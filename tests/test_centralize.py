"""Gradient centralization (``Recipe.centralize``): the trainer, the CLI.

Yong et al. (2020): each weight gradient minus its mean over the unit's
inputs. With SGD or momentum a centered unit stays centered exactly;
with Adam its weight sum drifts far less than without.
"""
import json
import os
import shutil

import mxnet as mx
import pytest
from mxnet import autograd, gluon, nd

import d2l_cnn
from d2l_cnn import checkpoint, cli, optim
from d2l_cnn.registry import Recipe
from d2l_cnn.errors import UsageError

TINY = ['--data', 'synthetic', '--num-examples', '64', '--batch-size',
        '32', '--resize', '28', '--seed', '3']


def _unit_sums(optimizer, centralize, seed, steps=50):
    """Largest |sum of a unit's weights| after ``steps`` steps from 0."""
    mx.random.seed(seed)
    net = gluon.nn.Dense(8, in_units=64, activation='relu')
    net.initialize(optim.CenteredXavier())
    assert net.weight.data().sum(axis=1).abs().max().asscalar() < 1e-5
    trainer = optim.make_trainer(net, Recipe(
        optimizer=optimizer, lr=0.01, wd=1e-4, centralize=centralize), 10)
    assert isinstance(trainer, optim.CentralizedTrainer) == centralize
    for _ in range(steps):
        X = nd.random.uniform(shape=(32, 64))  # >= 0, as after a ReLU
        y = nd.random.uniform(shape=(32, 8))
        with autograd.record():
            l = ((net(X) - y) ** 2).sum()
        l.backward()
        trainer.step(32)
    bias = net.bias.data().abs().max().asscalar()
    assert bias > 0  # biases (one axis) still learn
    return net.weight.data().sum(axis=1).abs().max().asscalar()


@pytest.mark.parametrize('optimizer', ['sgd', 'momentum', 'adam'])
@pytest.mark.parametrize('seed', [0, 1])
def test_a_centered_unit_stays_centered(optimizer, seed):
    drift = _unit_sums(optimizer, False, seed)
    kept = _unit_sums(optimizer, True, seed)
    assert drift > 0.5  # every weight of a unit moves the same way
    if optimizer == 'adam':  # per-weight step sizes: close, not exact
        assert kept < drift / 3
    else:
        assert kept < 1e-4


def test_every_gradient_is_centered_over_devices():
    # two devices: each device's gradient, hence their sum, is centered
    ctx = [mx.cpu(0), mx.cpu(1)]
    net = gluon.nn.Conv2D(4, kernel_size=3, in_channels=2)
    net.initialize(ctx=ctx)
    trainer = optim.make_trainer(net, Recipe(optimizer='sgd', lr=0.1,
                                             centralize=True), 10)
    before = net.weight.data(ctx[0]).copy()
    Xs = gluon.utils.split_and_load(nd.random.uniform(
        shape=(4, 2, 5, 5)), ctx)
    with autograd.record():
        ls = [net(X).sum() for X in Xs]
    for l in ls:
        l.backward()
    trainer.step(4)
    step = net.weight.data(ctx[0]) - before  # (4, 2, 3, 3)
    assert step.abs().sum().asscalar() > 0
    assert step.mean(axis=(1, 2, 3)).abs().max().asscalar() < 1e-7
    assert (net.weight.data(ctx[0]) == net.weight.data(ctx[1])).min() == 1


def _half_done(out, *extra):
    """A 2-epoch run in ``out`` whose last checkpoint is epoch 1."""
    argv = ['lenet', *TINY, '--num-epochs', '2', '--out', str(out), *extra]
    assert cli.main(argv) == 0
    shutil.rmtree(checkpoint.latest(str(out)))  # as if killed in epoch 2
    assert checkpoint.read_meta(checkpoint.latest(str(out)))['epoch'] == 1
    return argv


def test_the_option_round_trips_through_run_json_and_resume(tmp_path,
                                                            capsys):
    assert Recipe().centralize is False
    with pytest.raises(UsageError, match='centralize must be True or'):
        Recipe(centralize='yes')
    out = tmp_path / 'run'
    argv = _half_done(out, '--centralize')
    first = capsys.readouterr().out.splitlines()[0]
    assert first.split('. ')[0].endswith(', centralize')
    run = json.loads((out / 'run.json').read_text())
    assert run['recipe']['centralize'] is True
    # resuming must keep it: --no-centralize is another recipe
    assert cli.main(argv[:-1] + ['--no-centralize', '--resume']) == 2
    err = capsys.readouterr().err
    assert 'other settings' in err and 'centralize true -> false' in err
    assert cli.main(argv + ['--resume']) == 0
    assert 'resuming from epoch 1' in capsys.readouterr().out
    assert json.loads((out / 'run.json').read_text())['recipe'][
        'centralize'] is True


def test_a_checkpoint_from_before_the_field_resumes(tmp_path, capsys):
    out = tmp_path / 'run'
    argv = _half_done(out)
    # as written before the field existed: no 'centralize' key
    meta_path = os.path.join(checkpoint.latest(str(out)), 'meta.json')
    with open(meta_path) as f:
        meta = json.load(f)
    del meta['settings']['centralize']
    with open(meta_path, 'w') as f:
        json.dump(meta, f)
    assert cli.main(argv + ['--resume']) == 0, capsys.readouterr().err
    assert 'resuming from epoch 1' in capsys.readouterr().out
    # but it cannot be switched on half-way without --allow-changes
    argv = _half_done(tmp_path / 'run2')
    assert cli.main(argv + ['--centralize', '--resume']) == 2
    assert 'centralize false -> true' in capsys.readouterr().err


def test_describe_and_compare_name_it():
    r = d2l_cnn.get_recipe('lenet', 'cpu').replace(centralize=True)
    assert 'centralized gradients' in r.describe()
    assert 'centralized' not in r.replace(centralize=False).describe()
