"""A run's settings (recipe + overrides), trainer, folder and curves."""
import json
import os
import time

import mxnet as mx
import numpy as np
import pytest
from mxnet import init, nd

import d2l_cnn
from d2l_cnn import fit, plots, rundir, train
from d2l_cnn.errors import DataError, UsageError
from d2l_cnn.registry import Recipe
from d2l_cnn.settings import make_settings


# ----------------------------------------------------------- settings

def test_auto_is_the_book_on_a_gpu_and_cpu_on_a_cpu():
    s = make_settings('nin', 'auto', ctx=mx.cpu())
    assert (s.kind, s.reason) == ('cpu', 'no GPU was found')
    assert s.recipe == d2l_cnn.get_recipe('nin', 'cpu') and s.quick
    s = make_settings('nin', 'auto', ctx=mx.gpu(0))
    assert (s.kind, s.reason) == ('book', 'a GPU was found')
    assert s.recipe == d2l_cnn.get_recipe('nin') and not s.quick
    s = make_settings('nin', 'book', ctx=mx.cpu())
    assert s.kind == 'book' and s.reason == '--recipe book'
    with pytest.raises(UsageError, match="unknown recipe 'gpu'"):
        make_settings('nin', 'gpu', ctx=mx.cpu())


def test_recipe_fields_read_through_and_replace():
    s = make_settings('lenet', 'cpu', ctx=mx.cpu())
    cpu = d2l_cnn.get_recipe('lenet', 'cpu')
    for name in Recipe.names():
        assert getattr(s, name) == cpu[name]
    t = s.replace(lr=0.01, batch_size=64, seed=3)
    assert (t.lr, t.batch_size, t.seed) == (0.01, 64, 3)
    assert t.overrides == ('batch_size', 'lr')
    assert s.lr == cpu.lr and s.overrides == ()  # frozen: s unchanged
    assert s.replace(lr=cpu.lr).overrides == ()  # the same value
    with pytest.raises(UsageError, match='cannot change why'):
        s.replace(why='because')
    with pytest.raises(UsageError, match='lr must be positive'):
        s.replace(lr=0)
    with pytest.raises(UsageError, match='optimizer must be one of'):
        s.replace(optimizer='rmsprop')


def test_data_sizes_come_from_the_catalogue():
    s = make_settings('lenet', 'cpu', ctx=mx.cpu())
    assert (s.num_train, s.num_test) == (4000, 1000)
    assert (s.in_channels, s.num_classes) == (1, 10)
    assert s.batches_per_epoch == 4000 // 32
    assert s.replace(num_examples=100).num_train == 100
    assert make_settings('nin_cifar10', 'book',
                         ctx=mx.cpu()).in_channels == 3
    with pytest.raises(UsageError, match="unknown dataset 'imagenet'"):
        make_settings('lenet', ctx=mx.cpu(), data='imagenet')


def test_header_shows_both_recipes_side_by_side():
    s = make_settings('nin', 'cpu', ctx=mx.cpu(), reason='CI is set')
    text = str(s)
    lines = text.splitlines()
    assert lines[0] == s.headline()
    why = d2l_cnn.get_recipe('nin', 'cpu').why
    assert lines[0] == ("run: the cpu recipe, not the book's "
                        "(because CI is set). " + why)
    table = {line.split()[0]: line.split()[1:] for line in lines
             if line.split()[:1] and line.split()[0] in Recipe.names()}
    assert table['resize'] == ['99', '224']
    assert table['optimizer'] == ['adam', 'sgd']
    assert 'recipe' in text and 'cpu (runs)' in text and 'book' in text
    book = str(make_settings('nin', 'book', ctx=mx.cpu()))
    assert book.startswith("run: the BOOK's recipe (because --recipe book)")
    assert 'why the cpu recipe differs: ' + why[:40] in book
    changed = str(s.replace(lr=0.5))
    assert 'changed: lr' in changed and 'this run' in changed


def test_load_data_and_trainer_of_the_settings():
    s = make_settings('lenet', 'cpu', ctx=mx.cpu(), num_examples=256)
    train_iter, test_iter = s.load_data()
    assert train_iter.num_examples == 256 and len(train_iter) == 8
    assert test_iter.num_examples == 1000
    X, y = next(iter(train_iter))
    assert X.shape == (32, 1, 28, 28)
    net = d2l_cnn.get_model('lenet')
    net.initialize(s.initializer)
    trainer = s.make_trainer(net)
    assert type(trainer._optimizer).__name__ == 'Adam'
    assert trainer.learning_rate == s.lr


# ------------------------------------------------------------ trainer

def _trainer(**fields):
    net = d2l_cnn.get_model('lenet')
    net.initialize(init.Xavier())
    net(nd.zeros((1, 1, 28, 28)))
    recipe = Recipe(**fields)
    return train.make_trainer(net, recipe, batches_per_epoch=10)


def _lr_at(trainer, step):
    return trainer._optimizer.lr_scheduler(step)


def test_make_trainer_optimizers_and_weight_decay():
    t = _trainer(optimizer='sgd', lr=0.5)
    assert type(t._optimizer).__name__ == 'SGD'
    assert t._optimizer.momentum == 0 and t._optimizer.wd == 0
    t = _trainer(optimizer='momentum', lr=0.5, wd=5e-4)
    assert t._optimizer.momentum == 0.9 and t._optimizer.wd == 5e-4
    assert type(_trainer(optimizer='adam', lr=1e-3)._optimizer).__name__ \
        == 'Adam'


def test_cosine_schedule_with_warmup():
    # 4 epochs of 10 steps, 1 epoch of warm-up from 0
    t = _trainer(lr=0.4, lr_schedule='cosine', warmup_epochs=1,
                 num_epochs=4)
    assert _lr_at(t, 0) == 0.0
    assert _lr_at(t, 5) == pytest.approx(0.2)
    assert _lr_at(t, 10) == pytest.approx(0.4)
    assert _lr_at(t, 25) == pytest.approx(0.2)  # half-way down
    assert _lr_at(t, 40) == pytest.approx(0.0, abs=1e-9)


def test_constant_with_warmup_and_without():
    t = _trainer(lr=0.4, warmup_epochs=0.5, num_epochs=3)
    assert _lr_at(t, 0) == 0.0 and _lr_at(t, 5) == pytest.approx(0.4)
    assert _lr_at(t, 29) == pytest.approx(0.4)
    assert _trainer(lr=0.4)._optimizer.lr_scheduler is None


def test_step_schedule():
    net = d2l_cnn.get_model('lenet')
    net.initialize()
    t = train.make_trainer(net, Recipe(lr=1.0, num_epochs=5), 10,
                           lr_steps=(2, 4), lr_factor=0.5)
    sched = t._optimizer.lr_scheduler
    assert [sched(s) for s in (5, 21, 41)] == [1.0, 0.5, 0.25]
    with pytest.raises(UsageError, match='--lr-steps'):
        train.make_trainer(net, Recipe(lr_schedule='cosine'), 10,
                           lr_steps=(2,))


def test_initializer_by_name():
    assert type(train.make_initializer(Recipe())).__name__ == 'Xavier'
    assert type(train.make_initializer(Recipe(init='msraprelu'))
                ).__name__ == 'MSRAPrelu'
    with pytest.raises(UsageError, match="init 'nope'"):
        train.make_initializer(Recipe(init='nope'))
    # 'he': Gaussian weights of variance 2 / fan_in (He et al., 2015)
    W = mx.nd.zeros((256, 512))
    he = train.make_initializer(Recipe(init='he'))
    he(mx.init.InitDesc('w_weight'), W)
    assert abs(W.asnumpy().var() * 512 / 2 - 1) < 0.05


def test_centered_initializer_gives_zero_sum_filters():
    centered = train.make_initializer(Recipe(init='centered'))
    W = mx.nd.zeros((64, 32, 3, 3))  # (out, in, kh, kw)
    centered(mx.init.InitDesc('conv0_weight'), W)
    W = W.asnumpy()
    # every output unit's weights sum to zero ...
    assert np.abs(W.sum(axis=(1, 2, 3))).max() < 1e-4
    # ... and keep Xavier's scale: uniform, variance 2 / (fan_in + fan_out)
    fan_in, fan_out = 32 * 9, 64 * 9
    assert abs(W.var() * (fan_in + fan_out) / 2 - 1) < 0.05
    b = mx.nd.ones((64,))  # biases still start at zero
    centered(mx.init.InitDesc('conv0_bias'), b)
    assert b.asnumpy().max() == 0
    # a unit fed by all-positive inputs is positive for some of them
    X = mx.nd.random.uniform(shape=(256, 288))  # ReLU outputs: all >= 0
    Wd = mx.nd.zeros((64, 288))
    centered(mx.init.InitDesc('dense0_weight'), Wd)
    alive = (mx.nd.dot(X, Wd.T) > 0).mean(axis=0).asnumpy()
    assert alive.min() > 0 and alive.max() < 1


def test_parse_ctx_one_grammar():
    assert train.parse_ctx('cpu') == [mx.cpu()]
    assert train.parse_ctx('cpu:0,1') == [mx.cpu(0), mx.cpu(1)]
    assert train.parse_ctx(mx.cpu(1)) == [mx.cpu(1)]
    assert train.parse_ctx(None) == [mx.cpu()]  # no GPU here
    for bad, message in (('tpu', 'use cpu, gpu'), ('cpu:a', 'whole'),
                         ('cpu:1,1', 'distinct'), ('gpu:1', 'no GPU')):
        with pytest.raises(UsageError, match=message):
            train.parse_ctx(bad)


# ------------------------------------------------------------- folder

def test_slow_run_note(capsys):
    note = fit.SlowRunNote([mx.cpu()], batches_per_epoch=10 ** 7,
                           num_epochs=5, start_epoch=0, model='nin')
    for batch in range(5):
        time.sleep(0.01)  # 10 ms a batch, 5 x 10**7 batches: 139 hours
        note(0, batch, batch * 128)
    err = capsys.readouterr().err
    assert err.startswith('note: at ') and 'hours on the CPU' in err
    assert 'python -m d2l_cnn.train nin --data mnist5k' in err
    assert '--recipe cpu' in err


def test_default_out_is_a_new_folder_per_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = rundir.default_out('nin', resume=False)
    assert first == os.path.join('runs', 'nin')
    os.makedirs(os.path.join('runs', 'nin'))
    assert rundir.default_out('nin', resume=False).endswith('nin-2')
    assert rundir.default_out('nin', resume=True).endswith('nin')
    os.makedirs(os.path.join('runs', 'nin-2'))
    assert rundir.default_out('nin', resume=True).endswith('nin-2')
    assert rundir.default_out('nin', resume=False).endswith('nin-3')


def record(epoch):
    return dict(epoch=epoch, loss=2.0 / epoch, train_acc=0.3 * epoch,
                test_acc=0.25 * epoch, time=1.0, examples_per_sec=100.0)


def test_metrics_and_curves_written_and_read_back(tmp_path):
    history = [record(1), record(2)]
    rundir.write_metrics(str(tmp_path), history)
    assert rundir.read_metrics(str(tmp_path)) == history
    rows = (tmp_path / 'metrics.csv').read_text().splitlines()
    assert rows[0] == ','.join(rundir.METRICS) and len(rows) == 3
    assert (tmp_path / 'curves.png').read_bytes()[:4] == b'\x89PNG'
    assert rundir.read_metrics(str(tmp_path / 'none')) == []


def test_one_drawing_function_for_files_and_live_plots():
    fig = plots.curves_figure([record(1), record(2)], num_epochs=5,
                              title='t')
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.get_lines()] == [
        'train loss', 'train acc', 'test acc']
    assert ax.get_xlim() == (0.5, 5.5) and ax.get_title() == 't'
    again = plots.curves_figure([record(1), record(2), record(3)], 5,
                                fig=fig)
    assert again is fig and len(fig.axes[0].get_lines()[0].get_xdata()) == 3


def test_train_run_writes_a_folder_that_reads_back(tmp_path):
    out = str(tmp_path / 'run')
    s = make_settings('batchnorm', 'cpu', ctx=mx.cpu(),
                      num_examples=256, batch_size=64, num_epochs=1)
    history = fit.train_run(s, out, command=['test'])
    assert len(history) == 1 and rundir.is_finished(out)
    info = rundir.read_run(out)
    assert info['recipe']['kind'] == 'cpu' and info['command'] == ['test']
    assert info['final'] == history[-1]
    assert rundir.last_saved(out).endswith('epoch-0001')
    assert rundir.last_saved(str(tmp_path / 'none')) is None
    net, info = rundir.load_run(out)
    assert net(nd.zeros((2, 1, 28, 28))).shape == (2, 10)
    with pytest.raises(UsageError, match='already holds a run'):
        fit.train_run(s, out)
    assert not rundir.is_finished(str(tmp_path))
    (tmp_path / 'run.json').write_text(json.dumps([1]))
    with pytest.raises(DataError, match='does not describe a training'):
        rundir.read_run(str(tmp_path))
