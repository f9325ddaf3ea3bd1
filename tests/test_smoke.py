"""The smoke set: what CI runs on every supported Python but the reference.

``python -m pytest -q -m smoke tests/test_compat.py tests/test_smoke.py``
(a few minutes): the import and numpy's names (test_compat.py), every
network's forward pass, one short training run from the command line,
an ONNX export checked by onnxruntime, ``doctor``, and one notebook.
The reference Python (3.11) runs them too, inside the full suite.
"""
import json
import os
import re
import subprocess
import sys

import mxnet as mx
import numpy as np
import pytest

import d2l_cnn
from conftest import ROOT, channels, subprocess_env

pytestmark = pytest.mark.smoke


@pytest.mark.parametrize('name', d2l_cnn.list_models())
def test_forward(name):
    resize = d2l_cnn.get_recipe(name, 'cpu').resize
    net = d2l_cnn.get_model(name)
    net.initialize(mx.init.Xavier())
    X = mx.nd.random.uniform(shape=(2, channels(name), resize, resize))
    y_hat = net(X)
    assert y_hat.shape == (2, 10)
    assert np.isfinite(y_hat.asnumpy()).all()


def test_a_short_training_run_learns(tmp_path):
    # LeNet-BN's cpu recipe on the embedded digits, two epochs
    out = tmp_path / 'run'
    r = subprocess.run(
        [sys.executable, '-m', 'd2l_cnn.train', 'batchnorm', '--data',
         'mnist5k', '--num-epochs', '2', '--out', str(out), '--no-progress'],
        capture_output=True, text=True, env=subprocess_env(), timeout=600,
        cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr[-2000:]
    accs = [float(a) for a in re.findall(r'test acc ([0-9.]+)', r.stdout)]
    assert len(accs) == 2 and accs[-1] >= 0.8, r.stdout
    assert json.loads((out / 'run.json').read_text())


def test_onnx_export_matches_mxnet(tmp_path):
    pytest.importorskip('onnx')
    pytest.importorskip('onnxruntime')
    from d2l_cnn import export
    net = d2l_cnn.get_model('batchnorm')
    net.initialize(mx.init.Xavier())
    net.hybridize()
    X = mx.nd.random.uniform(shape=(3, 1, 28, 28))
    y_hat = net(X).asnumpy()
    path = export.export_onnx(net, str(tmp_path / 'lenet_bn.onnx'),
                              (1, 1, 28, 28))
    y_onnx = export.run_onnx(path, X)
    np.testing.assert_allclose(y_onnx, y_hat, rtol=1e-4,
                               atol=1e-4 * np.abs(y_hat).max())


def test_doctor_says_this_python_is_supported():
    r = subprocess.run([sys.executable, '-m', 'd2l_cnn.doctor'],
                       capture_output=True, text=True, env=subprocess_env(),
                       timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    python = '%d.%d' % sys.version_info[:2]
    assert re.search(r'^Python\s+%s\.\d+ \(supported' % re.escape(python),
                     r.stdout, re.M), r.stdout
    assert re.search(r'^numpy\s+%s \(' % re.escape(np.__version__),
                     r.stdout, re.M), r.stdout
    assert 'ready: python -m d2l_cnn.train nin runs here' in r.stdout


def test_a_training_notebook_runs(tmp_path, monkeypatch):
    # the quick setting (CI=1): LeNet-BN's cpu recipe, as nbmake runs it
    nbformat = pytest.importorskip('nbformat')
    nbclient = pytest.importorskip('nbclient')
    monkeypatch.setenv('CI', '1')
    monkeypatch.setenv('PYTHONPATH', subprocess_env()['PYTHONPATH'])
    folder = os.path.join(ROOT, 'notebooks')
    nb = nbformat.read(os.path.join(folder, '05_10_batchnorm.ipynb'), 4)
    nbclient.NotebookClient(nb, timeout=600, kernel_name='python3',
                            resources={'metadata': {'path': str(tmp_path)}}
                            ).execute()
    text = '\n'.join(out.get('text', '') for cell in nb.cells
                     for out in cell.get('outputs', ()))
    assert re.search(r'test acc 0\.9\d\d', text), text[-2000:]
