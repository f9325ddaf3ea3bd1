"""predict: run folders in, confusion matrix and a picture out."""
import json
import os
import subprocess
import sys

import mxnet as mx
import numpy as np
import pytest
from mxnet import init, nd

import d2l_cnn
from conftest import subprocess_env
from d2l_cnn import data, plots, predict as P, rundir
from d2l_cnn.errors import DataError, UsageError


def _run_dir(path, name='lenet', data_name='synthetic', num_classes=10,
             info=None):
    """A folder as ``python -m d2l_cnn.train --out`` leaves it."""
    path.mkdir(parents=True, exist_ok=True)
    net = d2l_cnn.get_model(name, num_classes=num_classes)
    mx.random.seed(0)
    net.initialize(init.Xavier())
    net(nd.zeros((1, 1, 28, 28)))
    net.save_parameters(str(path / 'model.params'))
    run = {'model': name, 'num_classes': num_classes, 'in_channels': 1,
           'data': data_name, 'resize': 28, 'seed': 0}
    run.update(info or {})
    (path / 'run.json').write_text(json.dumps(run))
    return net


def _expected(net, data_name):
    """Predictions computed here, independently of d2l_cnn.predict."""
    _, test_iter = data.load_data(data_name, 100, resize=28)
    preds = [net(X).argmax(axis=1).asnumpy() for X, _ in test_iter]
    return np.concatenate(preds).astype(int), test_iter.labels.astype(int)


def test_predict_in_process(tmp_path, capsys):
    run = tmp_path / 'run'
    net = _run_dir(run)
    res = P.predict(str(run), num=5)
    preds, labels = _expected(net, 'synthetic')
    np.testing.assert_array_equal(res.predictions, preds)
    np.testing.assert_array_equal(res.labels, labels)
    assert res.confusion.shape == (10, 10)
    assert res.confusion.sum() == len(labels) == 200
    # rows are the true classes, columns the predicted ones
    np.testing.assert_array_equal(res.confusion.sum(axis=1),
                                  np.bincount(labels, minlength=10))
    np.testing.assert_array_equal(res.confusion.sum(axis=0),
                                  np.bincount(preds, minlength=10))
    assert res.accuracy == pytest.approx(np.mean(preds == labels))
    assert res.png == str(run / 'predictions.png')
    with open(res.png, 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    out = capsys.readouterr()
    assert 'confusion matrix (rows: true class' in out.out
    assert 'test acc %.4f (%d/200)' % (res.accuracy,
                                       np.trace(res.confusion)) in out.out
    assert out.err == ''  # digits need no Chinese font, so no note


def test_confusion_matrix():
    c = P.confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], 3)
    np.testing.assert_array_equal(c, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    text = P.format_confusion(c, ('a', 'b', 'c')).splitlines()
    assert text[2].split() == ['0', 'a', '1', '1', '0']
    digits = P.format_confusion(c, ('0', '1', '2')).splitlines()
    assert digits[4].split() == ['2', '1', '0', '2']


def test_cli_subprocess(tmp_path):
    run = tmp_path / 'run'
    _run_dir(run, data_name='mnist5k')
    png = tmp_path / 'grid.png'
    r = subprocess.run(
        [sys.executable, '-m', 'd2l_cnn.predict', '--out', str(run),
         '--num', '18', '--png', str(png)], env=subprocess_env(),
        cwd=str(tmp_path), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ''
    assert png.stat().st_size > 1000
    rows = r.stdout.splitlines()[2:12]
    counts = [sum(int(x) for x in row.split()[1:]) for row in rows]
    assert counts == [100] * 10  # 100 test digits of each class


def test_fashion_labels_and_font_note(tmp_path, monkeypatch, capsys):
    # Fashion-MNIST labels, with the embedded digits standing in for the
    # download: the picture has Chinese only when a font has its glyphs
    run = tmp_path / 'run'
    _run_dir(run, data_name='fashion-mnist')
    load_data = data.load_data
    monkeypatch.setattr(P.data, 'load_data', lambda name, *a, **k:
                        load_data('mnist5k', *a, **k))
    monkeypatch.setattr(P, 'find_cjk_font', lambda text: None)
    res = P.predict(str(run), num=3)
    assert res.note == P.NO_CJK_NOTE
    err = capsys.readouterr().err
    assert err == 'note: %s\n' % P.NO_CJK_NOTE  # one line, no warnings
    res = P.predict(str(run), num=3, lang='en', verbose=False)
    assert res.note is None and os.path.isfile(res.png)
    titles = P._titles([0, 9], [1, 9], data.FASHION_MNIST_LABELS,
                       data.FASHION_MNIST_LABELS_ZH, chinese=True)
    assert titles == ['T恤 t-shirt\n裤子 trouser', '短靴 ankle boot\n'
                      '短靴 ankle boot']
    assert P._titles([0], [1], data.FASHION_MNIST_LABELS,
                     data.FASHION_MNIST_LABELS_ZH, chinese=False) == [
        't-shirt\ntrouser']


def test_find_cjk_font_is_consistent():
    assert P.find_cjk_font('abc') is not None  # any font has ASCII
    font = P.find_cjk_font()
    assert font is None or plots._covers(font, '裤子短靴')


def test_show_predictions_colour_images():
    images = np.zeros((4, 3, 8, 8), dtype=np.uint8)
    fig = P.show_predictions(images, [0, 1, 2, 3], [0, 1, 2, 0],
                             data.CIFAR10_LABELS, ncols=3)
    axes = fig.get_axes()
    assert len(axes) == 6
    assert [ax.get_title().split('\n') for ax in axes[:4]] == [
        ['airplane', 'airplane'], ['automobile', 'automobile'],
        ['bird', 'bird'], ['cat', 'airplane']]
    assert axes[3].title.get_color() == 'red'
    assert axes[0].title.get_color() == 'black'


def _error(argv, capsys):
    status = P.main(argv)
    err = capsys.readouterr().err
    assert err.startswith('error: ') and err.count('\n') == 1, err
    return status, err


def test_errors(tmp_path, capsys):
    run = tmp_path / 'run'
    # no such folder: a usage error
    status, err = _error(['--out', str(run)], capsys)
    assert status == 2 and 'does not exist' in err
    run.mkdir()
    status, err = _error(['--out', str(run)], capsys)
    assert status == 1 and 'run.json is missing' in err
    (run / 'run.json').write_text('{not json')
    status, err = _error(['--out', str(run)], capsys)
    assert status == 1 and 'cannot read' in err
    (run / 'run.json').write_text(json.dumps({'model': 'nim'}))
    status, err = _error(['--out', str(run)], capsys)
    assert status == 1 and "unknown model 'nim'" in err
    (run / 'run.json').write_text(json.dumps(
        {'model': 'lenet', 'data': 'synthetic', 'resize': 28}))
    status, err = _error(['--out', str(run)], capsys)
    assert status == 1 and 'model.params is missing' in err
    (run / 'model.params').write_bytes(b'garbage')
    status, err = _error(['--out', str(run)], capsys)
    assert status == 1 and 'does not hold the parameters of lenet' in err
    status, err = _error(['--out', str(run), '--ctx', 'tpu'], capsys)
    assert status == 2
    status, err = _error(['--out', str(run), '--num', '-1'], capsys)
    assert status == 2


def test_parameters_of_another_network(tmp_path, capsys):
    run = tmp_path / 'run'
    _run_dir(run, name='batchnorm', info={'model': 'lenet'})
    status, err = _error(['--out', str(run)], capsys)
    assert status == 1
    assert 'does not hold the parameters of lenet' in err
    with pytest.raises(DataError):
        rundir.load_run(str(run))
    # the right network with another number of classes
    other = tmp_path / 'other'
    _run_dir(other, num_classes=10, info={'num_classes': 5})
    status, err = _error(['--out', str(other)], capsys)
    assert status == 1 and 'num_classes=5' in err


def test_data_must_match_the_network(tmp_path, capsys):
    run = tmp_path / 'run'
    _run_dir(run)
    with pytest.raises(UsageError, match='3 channels'):
        P.predict(str(run), data_name='cifar10', verbose=False)
    status, err = _error(['--out', str(run), '--data', 'cifar10'], capsys)
    assert status == 2


def test_cli_error_subprocess(tmp_path):
    r = subprocess.run(
        [sys.executable, '-m', 'd2l_cnn.predict', '--out',
         str(tmp_path / 'missing')], env=subprocess_env(), capture_output=True,
        text=True, timeout=120)
    assert r.returncode == 2
    assert r.stderr.startswith('error: run folder') and \
        r.stderr.count('\n') == 1 and 'Traceback' not in r.stderr


@pytest.mark.slow
def test_train_then_predict(tmp_path):
    out = tmp_path / 'tmp'
    r = subprocess.run(
        [sys.executable, '-m', 'd2l_cnn.train', 'lenet', '--data',
         'mnist5k', '--num-epochs', '1', '--out', str(out)],
        env=subprocess_env(), cwd=str(tmp_path), capture_output=True,
        text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    r = subprocess.run(
        [sys.executable, '-m', 'd2l_cnn.predict', '--out', str(out)],
        env=subprocess_env(), cwd=str(tmp_path), capture_output=True,
        text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert (out / 'predictions.png').is_file()
    line = [s for s in r.stdout.splitlines() if s.startswith('test acc')]
    acc, frac = line[0].split()[2:4]
    right, total = frac.strip('()').split('/')
    assert int(total) == 1000
    # the training run's own evaluation of the same network agrees
    final = json.loads((out / 'run.json').read_text())['final']
    assert float(acc) == pytest.approx(final['test_acc'], abs=1e-4)
    assert int(right) == round(final['test_acc'] * 1000)
