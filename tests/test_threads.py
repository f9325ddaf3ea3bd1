"""OpenMP threads: every physical core, even when mxnet was imported first."""
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

from d2l_cnn import threads

# Imports mxnet first, then (or not) d2l_cnn, then runs convolutions and
# prints how many threads did at least a quarter of the busiest's work.
PROBE = '''
import os, sys
import mxnet as mx
from mxnet import nd
if sys.argv[1] == 'fix':
    import d2l_cnn
def ticks():
    out = {}
    for t in os.listdir('/proc/self/task'):
        with open('/proc/self/task/%s/stat' % t) as f:
            fields = f.read().rsplit(')', 1)[1].split()
        out[t] = int(fields[11]) + int(fields[12])
    return out
X = nd.random.uniform(shape=(32, 64, 28, 28))
W = nd.random.uniform(shape=(64, 64, 5, 5))
def conv():
    nd.Convolution(X, W, no_bias=True, kernel=(5, 5),
                   num_filter=64).wait_to_read()
conv()
before = ticks()
for _ in range(10):
    conv()
after = ticks()
busy = sorted((after[t] - before.get(t, 0) for t in after), reverse=True)
print(sum(b >= busy[0] / 4 for b in busy))
'''


def _busy_threads(mode):
    env = {k: v for k, v in os.environ.items()
           if k not in ('OMP_NUM_THREADS', 'OMP_WAIT_POLICY')}
    proc = subprocess.run([sys.executable, '-c', PROBE, mode], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return int(proc.stdout.split()[-1])


@pytest.mark.skipif(not os.path.exists('/proc/self/task'),
                    reason='counts threads through /proc')
@pytest.mark.skipif(threads.physical_cores() < 2,
                    reason='one physical core')
@pytest.mark.skipif(np.lib.NumpyVersion(np.__version__) >= '1.24.0',
                    reason='on numpy >= 1.24 MXNet 1.9.1 cannot be imported '
                           'before d2l_cnn (d2l_cnn/compat.py)')
def test_mxnet_imported_first_still_gets_every_core():
    assert _busy_threads('plain') == 1  # MXNet alone: half of 2 cores
    assert _busy_threads('fix') >= 2


# Changing the worker's OpenMP threads under MXNet's feet, after this
# test process has built many MKLDNN kernels, crashed a later test: the
# check runs in its own process, and training afterwards must still work.
SETTER = '''
from d2l_cnn import threads, get_model
import mxnet as mx
from mxnet import autograd, gluon, init, nd
n = threads.physical_cores()
seen = [threads.set_engine_threads(k) for k in (n, 1, n)]
net = get_model('batchnorm')
net.initialize(init.Xavier())
trainer = gluon.Trainer(net.collect_params(), 'sgd',
                        {'learning_rate': 0.1, 'momentum': 0.9})
X, y = nd.random.uniform(shape=(64, 1, 28, 28)), nd.arange(64) % 10
for _ in range(5):
    with autograd.record():
        l = gluon.loss.SoftmaxCrossEntropyLoss()(net(X), y)
    l.backward()
    trainer.step(64)
print(n, *seen, float(l.mean().asscalar()) > 0)
'''


def test_set_engine_threads_reports_the_workers_count():
    proc = subprocess.run([sys.executable, '-c', SETTER],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    n, *seen, trained = proc.stdout.split()
    assert seen == [n, '1', n] and trained == 'True'


def test_warns_once_with_the_fix_when_it_cannot(monkeypatch):
    import mxnet  # noqa: F401
    monkeypatch.delenv('OMP_NUM_THREADS', raising=False)
    monkeypatch.setattr(threads, 'physical_cores', lambda: 4)
    monkeypatch.setattr(threads, 'set_engine_threads', lambda n: None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        assert threads.set_default_threads() == 4
    assert len(caught) == 1
    assert 'OMP_NUM_THREADS=4' in str(caught[0].message)


def test_user_setting_is_kept(monkeypatch):
    monkeypatch.setenv('OMP_NUM_THREADS', '1')
    monkeypatch.setattr(threads, 'set_engine_threads',
                        lambda n: pytest.fail('must not touch the engine'))
    assert threads.set_default_threads() == 1
