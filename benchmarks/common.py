"""What the benchmarks share: subprocess workers, the digits, the machine.

Every measured side runs in its own process, started as ``python -m
benchmarks.<worker> SPEC`` (SPEC is JSON) from the clone's root, with
the same pinned threads; the worker prints one line ``BENCH_RESULT
{json}`` that ``run_worker`` reads back. Only the standard library is
imported here at module level, so that workers pay for nothing they do
not use.
"""
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

RESULT = 'BENCH_RESULT '
MATMUL_N = 2048
# the clone's root: workers run as ``python -m benchmarks.X`` from here
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
THREAD_VARS = ('OMP_NUM_THREADS', 'MKL_NUM_THREADS', 'OPENBLAS_NUM_THREADS')


def max_rss_mib():
    """This process's peak resident memory so far, MiB.

    Reads ``VmHWM`` (the high-water mark of this program's memory,
    reset by ``exec``); ``ru_maxrss`` would also count the parent's
    memory that a fresh subprocess inherits at fork.
    """
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) / 1024.0  # kB
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def median_gflops(fn, flops, repeats):
    """Run ``fn`` once to warm up, then ``repeats`` times; GFLOP/s."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return flops / statistics.median(times) / 1e9


def matmul_peak(n=MATMUL_N, repeats=5):
    """fp32 GFLOP/s of an n^3 matrix product: MXNet ``nd.dot``, numpy."""
    import d2l_cnn  # noqa: F401  numpy's names for MXNet first
    import mxnet as mx
    import numpy as np
    from mxnet import nd
    flops = 2.0 * n ** 3
    A = nd.random.uniform(shape=(n, n), ctx=mx.cpu())
    B = nd.random.uniform(shape=(n, n), ctx=mx.cpu())
    peak = {'mxnet_dot_gflops': median_gflops(
        lambda: nd.dot(A, B).wait_to_read(), flops, repeats)}
    a, b = A.asnumpy(), B.asnumpy()
    peak['numpy_dot_gflops'] = median_gflops(lambda: np.dot(a, b), flops,
                                             repeats)
    return peak


def time_steps(step, sync, steps, windows=2):
    """Seconds per step: median over ``windows`` runs of ``steps``."""
    for _ in range(2):
        step()
    sync()
    times = []
    for _ in range(windows):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        sync()
        times.append((time.perf_counter() - start) / steps)
    return times


def load_digits(spec):
    """The shared digits: uint8 (N, 1, 28, 28) images and labels."""
    import numpy as np
    n, m = spec.get('num_train'), spec.get('num_test')
    with np.load(spec['data']) as f:
        return ((f['X_train'][:n], f['y_train'][:n]),
                (f['X_test'][:m], f['y_test'][:m]))


def write_digits(path, num_train, num_test):
    """Save ``num_train`` / ``num_test`` digits of mnist5k to ``path``.

    Takes the first examples of the fixed train and test splits,
    repeating them if more are asked for than there are.
    """
    import numpy as np

    from d2l_cnn.data import mnist5k_arrays
    (X_train, y_train), (X_test, y_test) = mnist5k_arrays()

    def take(X, y, n):
        idx = np.arange(n) % len(y)
        return X[idx], y[idx]
    X_train, y_train = take(X_train, y_train, num_train)
    X_test, y_test = take(X_test, y_test, num_test)
    np.savez(path, X_train=X_train, y_train=y_train, X_test=X_test,
             y_test=y_test)


def worker_env(threads):
    """The environment of a worker: pinned threads, this clone first."""
    env = dict(os.environ)
    for var in THREAD_VARS:
        env[var] = str(threads)
    env['PYTHONPATH'] = os.pathsep.join(
        [ROOT] + [p for p in env.get('PYTHONPATH', '').split(os.pathsep)
                  if p and os.path.abspath(p) != ROOT])
    env['PYTHONUNBUFFERED'] = '1'  # epoch lines as they happen
    return env


def worker_main(workers, argv=None):
    """``python -m benchmarks.X SPEC``: run ``workers[spec['side']]``."""
    argv = sys.argv[1:] if argv is None else argv
    spec = json.loads(argv[0])
    result = workers[spec['side']](spec)
    print(RESULT + json.dumps(result), flush=True)
    return 0


def run_worker(spec, timeout, module='benchmarks.workers'):
    """Run one side in a subprocess; its result dict (or an error)."""
    cmd = [sys.executable, '-m', module, json.dumps(spec)]
    load = load_average()
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, env=worker_env(spec['threads']),
                              cwd=ROOT, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return {'error': 'timed out after %d s' % timeout}
    wall = time.perf_counter() - start
    result = parse_result(proc.stdout)
    if result is not None:
        result['process_seconds'] = wall
        # other programs competing for the cores show up here
        result['load_before'], result['load_after'] = load, load_average()
        return result
    return {'error': last_error(proc.stderr, proc.returncode)}


def parse_result(stdout):
    """The dict of the last ``BENCH_RESULT`` line, or None."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT):
            return json.loads(line[len(RESULT):])
    return None


def last_error(stderr, returncode):
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    return lines[-1] if lines else 'exit status %d, no result' % returncode


def load_average():
    """The 1-minute load average (None where the OS does not tell)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def load_summary(results):
    """Median and largest 1-minute load average seen before the runs."""
    loads = [r['load_before'] for r in results
             if r.get('load_before') is not None]
    if not loads:
        return None
    return {'median_before_runs': median(loads),
            'max_before_runs': max(loads)}


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def ratio(a, b):
    return a / b if a and b else None


def fmt(x, pattern='%.2f'):
    return pattern % x if x is not None else '-'


def version(module):
    try:
        from importlib.metadata import version
        return version(module)
    except Exception:  # noqa: BLE001 - not installed
        return None


def machine_info(threads):
    """CPU model, cores, threads used and library versions."""
    from d2l_cnn.threads import cpu_model, physical_cores
    return {'cpu': cpu_model(), 'physical_cores': physical_cores(),
            'logical_cpus': os.cpu_count(), 'threads': threads,
            'python': platform.python_version(),
            'platform': platform.platform(),
            'versions': {m: version(m) for m in
                         ('mxnet', 'd2l', 'd2lzh', 'numpy', 'torch')}}


def recipe(name, kind='book'):
    """A registered recipe (``registry.Recipe``) as a plain dict."""
    from d2l_cnn import registry
    return registry.get_recipe(name, kind).asdict()


def lr_at(r, num_update, batches_per_epoch):
    """The learning rate of update ``num_update`` (1, 2, ...) of recipe r.

    Linear warm-up from 0 over ``warmup_epochs``, then constant or a
    cosine decay to 0 at the end of ``num_epochs`` (MXNet's
    ``CosineScheduler`` counts updates from 1 the same way).
    """
    lr = r['lr']
    warmup = r.get('warmup_epochs', 0) * batches_per_epoch
    total = r['num_epochs'] * batches_per_epoch
    if warmup and num_update < warmup:
        return lr * num_update / warmup
    if r.get('lr_schedule', 'constant') == 'cosine':
        span = max(total - warmup, 1)
        done = min(max(num_update - warmup, 0), span)
        return lr * (1 + math.cos(math.pi * done / span)) / 2
    return lr
