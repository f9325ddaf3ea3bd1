"""The roofline of a network on the machine it runs on.

The roofline model (Williams, Waterman and Patterson, 2009) says a
layer that does ``F`` FLOPs while moving ``B`` bytes cannot run faster
than ``min(peak, bandwidth * F / B)`` FLOP/s: below the ridge point
``peak / bandwidth`` the memory roof binds, above it the compute roof.

* ``measure_roofs()`` measures the two roofs through MXNet with the
  threads training uses: the fp32 peak from a large matrix product, the
  bandwidth from a large array copy, each the median of several runs;
  ``roofs()`` caches them per machine in the user's cache folder.
* ``layer_times(net, shape)`` times each top-level layer (forward, or
  forward and backward) on its own input, with ``nd.waitall()``.
* ``place(table, times, ...)`` joins them with ``cost.cost_table``'s
  FLOPs and bytes (``cost.roofline_table(net, shape, ...)`` does both):
  achieved GFLOP/s per layer and which roof binds it;
  ``roofline_figure`` draws the classic log-log picture.
"""
import hashlib
import json
import os
import re
import socket
import statistics
import time

import mxnet as mx
from matplotlib.figure import Figure
from mxnet import autograd, nd

from .checkpoint import atomic_write
from .errors import D2LError, UsageError
from .figures import font, label
from .summary import human, initialize_if_needed
from .threads import cpu_model

# A matrix product of N x N by N x N does 2 N^3 FLOPs; 4096 takes a few
# tenths of a second on a laptop, long enough to time, and 192 MiB.
MATMUL_SIZE = 4096
# The copy reads and writes 256 MiB each: far larger than any cache.
COPY_BYTES = 256 * 2 ** 20
REPEATS = 5


def _median_seconds(run, repeats):
    run()  # warm up: allocations, kernel selection
    nd.waitall()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        nd.waitall()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure_peak(size=MATMUL_SIZE, repeats=REPEATS, ctx=None):
    """fp32 GFLOP/s of a ``size`` x ``size`` matrix product (median).

    The product runs as MXNet's ``FullyConnected``, the path dense layers
    train on (oneDNN in the pip wheel); ``nd.dot`` goes through OpenBLAS,
    which on some processors is several times slower than that.
    """
    ctx = ctx or mx.cpu()
    X = nd.random.uniform(shape=(size, size), ctx=ctx)
    W = nd.random.uniform(shape=(size, size), ctx=ctx)
    seconds = _median_seconds(lambda: nd.FullyConnected(
        X, W, num_hidden=size, no_bias=True), repeats)
    return 2 * size ** 3 / seconds / 1e9


def measure_bandwidth(nbytes=COPY_BYTES, repeats=REPEATS, ctx=None):
    """GB/s of streaming an ``nbytes`` fp32 array (median).

    The better of a copy (read + write, counted as twice the bytes) and
    a sum (read only): a dense layer at batch 1 mostly reads its
    weights, and a copy's write costs more than a read.
    """
    ctx = ctx or mx.cpu()
    X = nd.random.uniform(shape=(nbytes // 4,), ctx=ctx)
    Y = nd.zeros_like(X)
    copy = _median_seconds(lambda: X.copyto(Y), repeats)
    read = _median_seconds(lambda: X.sum(), repeats)
    return max(2 * X.size * 4 / copy, X.size * 4 / read) / 1e9


def threads():
    """OpenMP threads MXNet computes with (``OMP_NUM_THREADS``)."""
    return int(os.environ.get('OMP_NUM_THREADS') or os.cpu_count() or 1)


def cache_path():
    """Where the roofs of this machine and thread count are cached."""
    root = os.environ.get('XDG_CACHE_HOME') or os.path.join(
        os.path.expanduser('~'), '.cache')
    key = '%s|%s|%d' % (socket.gethostname(), cpu_model(), threads())
    digest = hashlib.sha1(key.encode('utf-8')).hexdigest()[:12]
    return os.path.join(root, 'd2l_cnn', 'roofs-%s.json' % digest)


def measure_roofs(repeats=REPEATS):
    """``{'peak_gflops', 'bandwidth_gbs', 'cpu', 'threads', ...}``."""
    return dict(peak_gflops=measure_peak(repeats=repeats),
                bandwidth_gbs=measure_bandwidth(repeats=repeats),
                cpu=cpu_model(), threads=threads(),
                host=socket.gethostname(), mxnet=mx.__version__,
                measured=time.strftime('%Y-%m-%d %H:%M:%S'))


def _read_cache(path):
    try:
        with open(path, encoding='utf-8') as f:
            found = json.load(f)
    except (OSError, ValueError):
        return None
    ok = (isinstance(found, dict)
          and all(isinstance(found.get(k), (int, float))
                  and not isinstance(found.get(k), bool) and found[k] > 0
                  for k in ('peak_gflops', 'bandwidth_gbs')))
    return found if ok else None


def roofs(measure=False):
    """This machine's roofs: cached, or measured (and cached) anew."""
    path = cache_path()
    found = None if measure else _read_cache(path)
    if found:
        return dict(found, cached=path)
    found = measure_roofs()
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        atomic_write(path, json.dumps(found, indent=1) + '\n')
    except OSError:
        pass  # an unwritable cache costs a measurement next time
    return dict(found, cached=None)


def flops_per_cycle():
    """fp32 FLOPs one core can do per cycle, from its vector units.

    Two fused multiply-add units per core (each FMA: 2 FLOPs per lane),
    16 fp32 lanes with AVX-512, 8 with AVX2, 4 with SSE: an upper bound
    for the processors of this decade.
    """
    flags = set()
    try:
        with open('/proc/cpuinfo', encoding='utf-8') as f:
            for line in f:
                if line.startswith('flags'):
                    flags = set(line.split(':', 1)[1].split())
                    break
    except OSError:
        pass
    lanes = 16 if 'avx512f' in flags else 8 if 'avx2' in flags else 4
    return 2 * 2 * lanes


def peak_bound_gflops(cores=None):
    """An upper bound of the fp32 peak: cores x GHz x FLOPs per cycle.

    The clock is the largest the kernel reports (with 50% added for a
    turbo it does not report); None when it reports none.
    """
    mhz = []
    for path in ('/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq',):
        try:
            with open(path, encoding='utf-8') as f:
                mhz.append(int(f.read()) / 1000)
        except (OSError, ValueError):
            pass
    try:
        with open('/proc/cpuinfo', encoding='utf-8') as f:
            mhz += [float(m) * 1.5 for m in re.findall(
                r'^cpu MHz\s*:\s*([\d.]+)', f.read(), re.M)]
    except OSError:
        pass
    if not mhz:
        return None
    cores = cores or os.cpu_count() or 1
    return cores * max(mhz) / 1000 * flops_per_cycle()


# ------------------------------------------------------------- layers

def layer_times(net, shape, backward=False, repeats=REPEATS, ctx=None):
    """Median seconds of each top-level layer on its own input.

    ``[(name, seconds), ...]`` in the order of ``net``; with
    ``backward`` the time of forward and backward together (the input
    gets a gradient, as inside a network).
    """
    ctx = ctx or mx.cpu()
    X = nd.random.uniform(shape=shape, ctx=ctx)
    initialize_if_needed(net, ctx)
    net(X).wait_to_read()  # shapes known, parameters allocated
    times = []
    for layer in net:
        Y = layer(X)

        def forward(layer=layer, X=X):
            with autograd.predict_mode():
                layer(X)

        def both(layer=layer, X=X):
            X.attach_grad()
            with autograd.record():
                out = layer(X)
            out.backward()
        times.append((layer.name, _median_seconds(
            both if backward else forward, repeats)))
        X = Y.detach()
    return times


def place(table, times, peak_gflops, bandwidth_gbs, backward=False):
    """One row per top-level layer: cost, time, achieved, bound roof.

    ``table`` is ``cost.cost_table``'s result and ``times`` the
    ``layer_times`` of the same network and input. Each row has the
    table's ``name, kind``, ``flops`` (with ``other_flops``),
    ``moved_bytes`` and ``intensity`` (forward; ``backward`` counts 3x
    the FLOPs and 2x the bytes, the usual estimate), ``seconds``,
    ``gflops`` (achieved), ``attainable`` (the roofline at its
    intensity) and ``bound`` ('memory' or 'compute').
    """
    if not (peak_gflops > 0 and bandwidth_gbs > 0):
        raise UsageError('the roofs must be positive')
    times = dict(times)
    ridge = peak_gflops / bandwidth_gbs
    rows = []
    for r in table['rows']:
        work = r['flops'] + r['other_flops']
        moved = r['moved_bytes']
        if backward:
            work, moved = 3 * work, 2 * moved
        intensity = work / moved if moved else 0.0
        seconds = times[r['name']]
        attainable = min(peak_gflops, bandwidth_gbs * intensity)
        rows.append(dict(
            name=r['name'], kind=r['kind'], flops=work, moved_bytes=moved,
            intensity=intensity, seconds=seconds,
            gflops=work / seconds / 1e9 if seconds > 0 else 0.0,
            attainable=attainable,
            bound='compute' if intensity >= ridge else 'memory'))
    return dict(shape=table['shape'], rows=rows, ridge=ridge,
                peak_gflops=peak_gflops, bandwidth_gbs=bandwidth_gbs,
                backward=backward)


def format_roofline(result):
    """The roofline as a text table, one line per layer."""
    fmt = '%-20s %9s %9s %8s %9s %9s %7s %s'
    lines = [fmt % ('layer', 'FLOPs', 'bytes', 'FLOP/B', 'GFLOP/s',
                    'roof', '% roof', 'bound by')]
    for r in result['rows']:
        if not r['flops']:
            continue  # dropout, flatten: nothing to compute
        lines.append(fmt % (
            r['name'][:20], human(r['flops']),
            human(r['moved_bytes']), '%.1f' % r['intensity'],
            '%.1f' % r['gflops'], '%.1f' % r['attainable'],
            '%.0f' % (100 * r['gflops'] / r['attainable'])
            if r['attainable'] else '-', r['bound']))
    lines.append('roofs: peak %.1f GFLOP/s, bandwidth %.1f GB/s, ridge '
                 '%.1f FLOP/B; input %s, %s'
                 % (result['peak_gflops'], result['bandwidth_gbs'],
                    result['ridge'],
                    str(result['shape']).replace(' ', ''),
                    'forward and backward' if result['backward']
                    else 'forward'))
    return '\n'.join(lines)


def roofline_figure(results, titles=None):
    """The log-log roofline with each layer as a labelled point.

    ``results`` is one ``roofline()`` result or a list of them (e.g.
    batch 1 and batch 128, drawn side by side on the same roofs).
    """
    if isinstance(results, dict):
        results = [results]
    fig = Figure(figsize=(7.5 * len(results), 6))
    for i, result in enumerate(results):
        ax = fig.add_subplot(1, len(results), i + 1)
        points = [r for r in result['rows'] if r['flops']]
        if not points:
            raise D2LError('no layer of this network computes anything')
        peak, bw = result['peak_gflops'], result['bandwidth_gbs']
        lows = [r['intensity'] for r in points] + [result['ridge']]
        x_lo = min(lows) / 4
        x_hi = max(lows) * 4
        xs = [x_lo, result['ridge'], x_hi]
        ax.loglog(xs, [min(peak, bw * x) for x in xs], color='black',
                  linewidth=2)
        ax.axvline(result['ridge'], color='gray', linestyle=':')
        ax.text(result['ridge'], peak * 1.15, label(
            '脊点 %.1f FLOP/B' % result['ridge'],
            'ridge %.1f FLOP/B' % result['ridge']),
            ha='center', fontproperties=font(11))
        ax.text(x_hi, peak * 0.8, label('计算峰值 %.0f GFLOP/s' % peak,
                                        'peak %.0f GFLOP/s' % peak),
                ha='right', va='top', fontproperties=font(11))
        ax.text(x_lo * 1.3, bw * x_lo * 1.6, label(
            '内存带宽 %.1f GB/s' % bw, 'bandwidth %.1f GB/s' % bw),
            rotation=35, fontproperties=font(11))
        for r in points:
            color = '#d62728' if r['bound'] == 'memory' else '#1f77b4'
            ax.plot(r['intensity'], max(r['gflops'], 1e-3), 'o',
                    color=color, markersize=8)
            ax.annotate(r['name'], (r['intensity'], max(r['gflops'], 1e-3)),
                        textcoords='offset points', xytext=(5, 4),
                        fontsize=10)
        ax.set_xlabel(label('运算强度（FLOP/字节）', 'intensity (FLOP/byte)'),
                      fontproperties=font(13))
        ax.set_ylabel(label('达到的 GFLOP/s', 'achieved GFLOP/s'),
                      fontproperties=font(13))
        ax.tick_params(labelsize=11)
        achieved = [max(r['gflops'], 1e-3) for r in points]
        ax.set_ylim(min(achieved + [bw * x_lo]) / 3,
                    max(achieved + [peak]) * 2.5)
        if titles:
            ax.set_title(titles[i], fontproperties=font(14))
    fig.tight_layout()
    return fig
