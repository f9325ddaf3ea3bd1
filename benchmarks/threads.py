"""OpenMP threads whatever the import order: convolution throughput.

``python -m benchmarks.threads`` runs a 5x5 convolution (batch 32, 64
to 64 channels, 28x28) in fresh processes, interleaved, with
``OMP_NUM_THREADS`` unset:

- ``mxnet first``: ``import mxnet`` alone (MXNet's default, half the
  cores);
- ``mxnet, then d2l_cnn``: the notebooks' order; ``import d2l_cnn``
  sets the thread count on MXNet's engine worker thread;
- ``d2l_cnn first``: ``OMP_NUM_THREADS`` set before MXNet loads;

and prints the median GFLOP/s and how many threads did at least a
quarter of the busiest thread's work (from ``/proc/self/task``).
"""
import json
import os
import subprocess
import sys

from benchmarks.common import ROOT, median, worker_env

PROBE = '''
import json, os, sys, time
order = sys.argv[1]
if order == 'd2l_cnn first':
    import d2l_cnn
import mxnet as mx
from mxnet import nd
if order == 'mxnet, then d2l_cnn':
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
before, times = ticks(), []
for _ in range(10):
    start = time.perf_counter()
    conv()
    times.append(time.perf_counter() - start)
after = ticks()
busy = sorted((after[t] - before.get(t, 0) for t in after), reverse=True)
flops = 2 * 32 * 64 * 64 * 24 * 24 * 25
print(json.dumps({'gflops': flops / sorted(times)[5] / 1e9,
                  'busy_threads': sum(b >= busy[0] / 4 for b in busy)}))
'''
ORDERS = ('mxnet first', 'mxnet, then d2l_cnn', 'd2l_cnn first')


def measure(order):
    env = worker_env(1)
    for var in ('OMP_NUM_THREADS', 'OMP_WAIT_POLICY', 'MKL_NUM_THREADS',
                'OPENBLAS_NUM_THREADS'):
        env.pop(var, None)
    proc = subprocess.run([sys.executable, '-c', PROBE, order], env=env,
                          cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    if proc.returncode:
        return {'error': (proc.stderr.strip().splitlines() or ['?'])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    repeats = int(argv[0]) if argv else 3
    runs = {order: [] for order in ORDERS}
    for _ in range(repeats):
        for order in ORDERS:
            runs[order].append(measure(order))
    print('5x5 convolution, OMP_NUM_THREADS unset, %d cores, medians of %d'
          % (os.cpu_count(), repeats))
    for order, results in runs.items():
        ok = [r for r in results if 'error' not in r]
        print('%-22s %6.1f GFLOP/s  busy threads %s%s' % (
            order, median([r['gflops'] for r in ok]) or 0,
            median([r['busy_threads'] for r in ok]),
            ''.join('  error: ' + r['error'] for r in results
                    if 'error' in r)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
