"""Export to symbol files and ONNX: every registered network, both ways."""
import functools
import json
import os

import mxnet as mx
import numpy as np
import pytest
from mxnet import init, nd

import d2l_cnn
from conftest import channels
from d2l_cnn import export, summary
from d2l_cnn.errors import D2LError, UsageError

HYBRID = [n for n in d2l_cnn.list_models() if d2l_cnn.get_entry(n).hybrid]


@functools.lru_cache(maxsize=None)
def _size(name):
    # min_input_size may initialise a (non-hybrid) network: use a spare
    return max(28, summary.min_input_size(d2l_cnn.get_model(name),
                                          channels(name)))


def _net(name):
    """An initialised network with non-trivial batch-norm statistics."""
    c, size = channels(name), _size(name)
    net = d2l_cnn.get_model(name)
    mx.random.seed(0)
    net.initialize(init.Xavier())
    net(nd.zeros((1, c, size, size)))  # fixes the deferred shapes
    for param in net.collect_params().values():
        # moving statistics (nn.BatchNorm's running_*, the scratch
        # block's moving_*) as after some training, not 0 and 1
        if param.name.endswith(('running_mean', 'moving_mean')):
            param.set_data(nd.random.normal(0, 0.1, param.shape))
        elif param.name.endswith(('running_var', 'moving_var')):
            param.set_data(nd.random.uniform(0.5, 1.5, param.shape))
    return net


def _input(name, batch):
    c, size = channels(name), _size(name)
    mx.random.seed(batch)
    return nd.random.uniform(shape=(batch, c, size, size))


@pytest.mark.parametrize('name', HYBRID)
def test_symbol_round_trip(name, tmp_path):
    net = _net(name)
    X = _input(name, 2)
    y_hat = net(X).asnumpy()  # imperative, inference mode
    prefix = str(tmp_path / 'sub' / name)
    paths = export.export_symbol(net, prefix, X.shape)
    assert paths == (prefix + '-symbol.json', prefix + '-0000.params')
    assert all(os.path.isfile(p) for p in paths)
    loaded = export.load_symbol(prefix)
    np.testing.assert_allclose(loaded(X).asnumpy(), y_hat, rtol=1e-6,
                               atol=1e-7)
    # another batch size than the one exported
    X5 = _input(name, 5)
    np.testing.assert_allclose(loaded(X5).asnumpy(), net(X5).asnumpy(),
                               rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize('name', HYBRID)
def test_onnx_matches_mxnet(name, tmp_path):
    pytest.importorskip('onnx')
    pytest.importorskip('onnxruntime')
    net = _net(name)
    X = _input(name, 3)
    y_hat = net(X).asnumpy()
    path = export.export_onnx(net, str(tmp_path / (name + '.onnx')),
                              (1,) + X.shape[1:])
    y_onnx = export.run_onnx(path, X)  # batch 3: the batch axis is free
    assert y_onnx.shape == y_hat.shape
    scale = np.abs(y_hat).max()
    np.testing.assert_allclose(y_onnx, y_hat, rtol=1e-4, atol=1e-4 * scale)


def test_only_the_networks_that_are_not_hybrid_are_refused():
    names = set(d2l_cnn.list_models())
    not_hybrid = names - set(HYBRID)
    # every network that is hybrid exports (tested above); the others not
    assert not_hybrid == {'batchnorm_scratch'}
    with pytest.raises(UsageError, match='batchnorm_scratch cannot be'):
        export.check_exportable('batchnorm_scratch')
    for name in HYBRID:
        export.check_exportable(name)


def test_scratch_batchnorm_is_refused(tmp_path):
    net = _net('batchnorm_scratch')
    X = _input('batchnorm_scratch', 1)
    with pytest.raises(UsageError, match='not a HybridBlock.*Python'):
        export.export_symbol(net, str(tmp_path / 'bn'), X.shape)
    pytest.importorskip('onnx')
    with pytest.raises(UsageError, match='batchnorm'):
        export.export_onnx(net, str(tmp_path / 'bn.onnx'), X.shape)
    assert not os.listdir(tmp_path)


def test_bad_arguments(tmp_path):
    net = d2l_cnn.get_model('lenet')
    with pytest.raises(UsageError, match='initialise'):
        export.export_symbol(net, str(tmp_path / 'a'), (1, 1, 28, 28))
    net.initialize()
    for shape in [(1, 28, 28), (1, 1, 0, 28), (1, 1, 28.0, 28)]:
        with pytest.raises(UsageError, match='4 positive integers'):
            export.export_symbol(net, str(tmp_path / 'a'), shape)
    with pytest.raises(UsageError, match='does not fit'):
        export.export_symbol(_initialised('alexnet'), str(tmp_path / 'a'),
                             (1, 1, 28, 28))
    with pytest.raises(D2LError, match='missing'):
        export.load_symbol(str(tmp_path / 'nothing'))


def _initialised(name):
    net = d2l_cnn.get_model(name)
    net.initialize()
    return net


def _run_dir(tmp_path, name='lenet'):
    """A run folder as python -m d2l_cnn.train --out writes it."""
    out = tmp_path / 'run'
    out.mkdir()
    net = _net(name)
    net.save_parameters(str(out / 'model.params'))
    info = {'model': name, 'num_classes': 10, 'in_channels': 1,
            'data': 'mnist5k', 'resize': 28}
    (out / 'run.json').write_text(json.dumps(info))
    return out, net


def test_cli_exports_a_run(tmp_path, capsys):
    out, net = _run_dir(tmp_path)
    assert export.main(['--out', str(out)]) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(out / 'model-symbol.json'),
                       str(out / 'model-0000.params')]
    X = _input('lenet', 4)
    np.testing.assert_allclose(
        export.load_symbol(str(out / 'model'))(X).asnumpy(),
        net(X).asnumpy(), rtol=1e-6, atol=1e-7)
    pytest.importorskip('onnxruntime')
    assert export.main(['--out', str(out), '--onnx', '--prefix', 'x']) == 0
    np.testing.assert_allclose(export.run_onnx(str(out / 'x.onnx'), X),
                               net(X).asnumpy(), rtol=1e-4, atol=1e-5)


def test_cli_errors(tmp_path, capsys):
    assert export.main(['--out', str(tmp_path / 'none')]) == 2
    err = capsys.readouterr().err
    assert err.startswith('error: ') and err.count('\n') == 1
    assert export.main(['--out', str(tmp_path)]) == 1
    assert 'run.json' in capsys.readouterr().err
