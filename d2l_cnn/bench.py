"""Benchmark: d2l_cnn against the book's two training paths and PyTorch.

``python -m d2l_cnn.bench`` trains each network at the book's input size
on the same digits (the embedded MNIST digits, resized), with the same
batch size, four ways:

a. d2l_cnn: ``train_ch5`` over ``d2l_cnn.data`` iterators (hybridized
   with ``static_alloc`` as the command line does; whole epochs with
   evaluation and data), then the training step alone (hybridized with
   ``static_alloc`` and ``static_shape``, one batch already on the
   device);
b. the second edition: ``d2l.train_ch6`` of d2l 1.0.3 with the numpy
   interface (``npx.set_np()``) and the book's per-example ``Resize`` +
   ``ToTensor`` DataLoader (4 workers);
c. the first edition: a d2lzh-style loop in classic ``nd``, imperative,
   the same per-example DataLoader, ``as_in_context`` and two
   ``asscalar()`` host reads per batch;
d. PyTorch (when installed): the same architecture, a plain loop, the
   same batched bilinear resize as (a).

Each side runs in its own subprocess (``python d2l_cnn/bench.py
--worker SPEC``), so that the numpy interface of (b) stays out of the
others, every side gets the same pinned threads (``OMP_NUM_THREADS`` =
physical cores, ``torch.set_num_threads``) and its own peak memory
(``VmHWM``, the main process only, not DataLoader workers). Runs are
interleaved, a b c d a b c d ..., and the report gives medians and
ratios. An "epoch" is a fixed number of
batches of the training digits plus a fixed number of test batches, so
that the whole benchmark fits in minutes; every (a) run also measures
the machine's fp32 matrix product peak (MXNet ``nd.dot`` and numpy,
2048^3) against which the training step's analytic FLOPs
(``d2l_cnn.cost``, training ~ 3x forward) are compared.

``--layers`` also times every convolution and dense layer alone (what
keeps a step from the peak); ``--scaling`` times (a) over batch sizes
and input sizes for one network instead; ``--quick`` is a seconds-long
smoke run; ``--report FILE [--markdown]`` prints a saved result.
"""
import argparse
import importlib.util
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time

RESULT = 'BENCH_RESULT '
SIDES = ('a', 'b', 'c', 'd')
SIDE_NAMES = {'a': 'd2l_cnn train_ch5', 'b': 'd2l 1.0.3 train_ch6',
              'c': 'd2lzh-style loop', 'd': 'PyTorch loop'}
SIDE_NAMES_SHORT = {'a': 'd2l_cnn', 'b': 'd2l 1.0.3 (2nd ed)',
                    'c': 'd2lzh loop (1st)', 'd': 'PyTorch'}
DEFAULT_MODELS = ('nin', 'alexnet', 'vgg', 'batchnorm')
# Networks with a PyTorch twin here (same layers, same parameter count).
TORCH_MODELS = ('lenet', 'batchnorm', 'alexnet', 'vgg', 'nin', 'resnet')
MATMUL_N = 2048
TARGETS = {'step_fraction_of_peak': 0.75, 'speedup_vs_b': 2.0,
           'speedup_vs_b_batchnorm': 3.0, 'speedup_vs_d': 1.3}


# ------------------------------------------------------------ workers
# Everything below up to "the driver" runs in the subprocesses; only
# the standard library is imported at module level.

def _max_rss_mib():
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


def _median_gflops(fn, flops, repeats):
    """Run ``fn`` once to warm up, then ``repeats`` times; GFLOP/s."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return flops / statistics.median(times) / 1e9


def _matmul_peak(n=MATMUL_N, repeats=5):
    """fp32 GFLOP/s of an n^3 matrix product: MXNet ``nd.dot``, numpy."""
    import mxnet as mx
    import numpy as np
    from mxnet import nd
    flops = 2.0 * n ** 3
    A = nd.random.uniform(shape=(n, n), ctx=mx.cpu())
    B = nd.random.uniform(shape=(n, n), ctx=mx.cpu())
    peak = {'mxnet_dot_gflops': _median_gflops(
        lambda: nd.dot(A, B).wait_to_read(), flops, repeats)}
    a, b = A.asnumpy(), B.asnumpy()
    peak['numpy_dot_gflops'] = _median_gflops(lambda: np.dot(a, b), flops,
                                              repeats)
    return peak


def _load_digits(spec):
    """The shared digits: uint8 (N, 1, 28, 28) images and labels."""
    import numpy as np
    n, m = spec.get('num_train'), spec.get('num_test')
    with np.load(spec['data']) as f:
        return ((f['X_train'][:n], f['y_train'][:n]),
                (f['X_test'][:m], f['y_test'][:m]))


def _worker_a(spec):
    """d2l_cnn: train_ch5 epochs, then the training step alone."""
    import mxnet as mx
    from mxnet import autograd, gluon, init, nd

    import d2l_cnn
    from d2l_cnn import data, train
    result = {}
    (X_train, y_train), (X_test, y_test) = _load_digits(spec)
    bs, r, ctx = spec['batch_size'], spec['resize'], mx.cpu()
    net = d2l_cnn.get_model(spec['model'])
    net.initialize(init.Xavier(), ctx=ctx)
    hybrid = d2l_cnn.get_entry(spec['model']).hybrid
    if hybrid and spec.get('hybridize', 'static') == 'static':
        net.hybridize(static_alloc=True)  # as the command line does
    elif hybrid and spec.get('hybridize') == 'plain':
        net.hybridize()
    trainer = gluon.Trainer(net.collect_params(), 'sgd',
                            {'learning_rate': spec['lr']})

    def iters(n_train, n_test):
        return (data.ArrayDataIter(X_train[:n_train], y_train[:n_train], bs,
                                   shuffle=True, seed=0, resize=r, ctx=ctx),
                data.ArrayDataIter(X_test[:n_test], y_test[:n_test], bs,
                                   resize=r, ctx=ctx))
    # warm up: build the graphs of training and evaluation
    train.train_ch5(net, *iters(bs, bs), bs, trainer, ctx, 1,
                    verbose=False)
    train_iter, test_iter = iters(len(y_train), len(y_test))
    stamps = []
    start = time.perf_counter()
    history = train.train_ch5(
        net, train_iter, test_iter, bs, trainer, ctx, spec['epochs'],
        callbacks=[lambda record: stamps.append(time.perf_counter())],
        verbose=False)
    result['epoch_times'] = [t1 - t0 for t0, t1 in
                             zip([start] + stamps[:-1], stamps)]
    result['train_loss'] = history[-1]['loss']
    result['peak_rss_mib'] = _max_rss_mib()
    # The step alone: one batch on the device, fixed shapes.
    if spec['steps'] > 0:
        if hybrid:
            net.hybridize(static_alloc=True, static_shape=True)
        X, y = next(iter(train_iter))
        loss = gluon.loss.SoftmaxCrossEntropyLoss()

        def step():
            with autograd.record():
                l = loss(net(X), y)
            l.backward()
            trainer.step(bs)
        result['step_times'] = _time_steps(step, nd.waitall, spec['steps'])
    if spec.get('peak', True):
        result['peak'] = _matmul_peak()  # last: out of the peak RSS
    return result


def _time_steps(step, sync, steps, windows=2):
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


def _per_example_loaders(gluon, X_train, y_train, X_test, y_test, bs,
                         resize, as_array, workers):
    """The books' DataLoaders: per-example Resize + ToTensor, workers.

    ``as_array`` turns the uint8 (N, 28, 28, 1) images into the
    framework's arrays, as Gluon's FashionMNIST data set holds them. As
    in the books, there is no Resize when the images keep their size.
    """
    transforms = gluon.data.vision.transforms
    trans = [transforms.ToTensor()]
    if resize != X_train.shape[-1]:
        trans.insert(0, transforms.Resize(resize))
    trans = transforms.Compose(trans)

    def loader(X, y, shuffle):
        dataset = gluon.data.ArrayDataset(
            as_array(X.transpose(0, 2, 3, 1)), y.astype('int32'))
        return gluon.data.DataLoader(dataset.transform_first(trans), bs,
                                     shuffle=shuffle, num_workers=workers)
    return loader(X_train, y_train, True), loader(X_test, y_test, False)


def _worker_b(spec):
    """The second edition: d2l 1.0.3's train_ch6, numpy interface."""
    import types

    import mxnet as mx
    from mxnet import autograd, gluon, init, np, npx
    from d2l import mxnet as d2l

    import d2l_cnn
    npx.set_np()
    # Outside Jupyter the Animator would print a figure object at every
    # update: drop the display calls, keep the plotting in the loop.
    d2l.display = types.SimpleNamespace(display=lambda *a, **k: None,
                                        clear_output=lambda *a, **k: None)
    (X_train, y_train), (X_test, y_test) = _load_digits(spec)
    bs = spec['batch_size']
    train_iter, test_iter = _per_example_loaders(
        gluon, X_train, y_train, X_test, y_test, bs, spec['resize'],
        lambda a: np.array(a, dtype='uint8'), d2l.get_dataloader_workers())
    if len(train_iter) < 5:
        raise SystemExit('train_ch6 needs at least 5 batches per epoch '
                         '(it divides by num_batches // 5)')
    net = d2l_cnn.get_model(spec['model'])
    device = d2l.try_gpu()
    # warm up: one step and one evaluation batch
    net.initialize(init.Xavier(), ctx=device)
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), 'sgd',
                            {'learning_rate': spec['lr']})
    for X, y in train_iter:
        with autograd.record():
            l = loss(net(X.as_in_ctx(device)), y.as_in_ctx(device))
        l.backward()
        trainer.step(bs)
        break
    d2l.evaluate_accuracy_gpu(net, [next(iter(test_iter))])
    mx.nd.waitall()
    times, reported = [], []
    for _ in range(spec['epochs']):
        out = _Capture()
        start = time.perf_counter()
        with out:
            d2l.train_ch6(net, train_iter, test_iter, 1, spec['lr'], device)
        times.append(time.perf_counter() - start)
        reported.append(out.examples_per_sec())
    return {'epoch_times': times, 'peak_rss_mib': _max_rss_mib(),
            'reported_examples_per_sec': reported,
            'dataloader_workers': d2l.get_dataloader_workers()}


class _Capture:
    """Collect what train_ch6 prints (its loss line and its speed)."""

    def __enter__(self):
        import contextlib
        import io
        self.buffer = io.StringIO()
        self._redirect = contextlib.redirect_stdout(self.buffer)
        self._redirect.__enter__()
        return self

    def __exit__(self, *exc):
        return self._redirect.__exit__(*exc)

    def examples_per_sec(self):
        """d2l's own figure: examples / seconds inside the batch loop."""
        for line in self.buffer.getvalue().splitlines():
            if 'examples/sec' in line:
                return float(line.split()[0])
        return None


def _worker_c(spec):
    """The first edition: a d2lzh-style imperative loop in classic nd."""
    import mxnet as mx
    from mxnet import autograd, gluon, init, nd

    import d2l_cnn
    (X_train, y_train), (X_test, y_test) = _load_digits(spec)
    bs, ctx = spec['batch_size'], mx.cpu()
    # d2lzh: 4 workers except on Windows
    train_iter, test_iter = _per_example_loaders(
        gluon, X_train, y_train, X_test, y_test, bs, spec['resize'],
        lambda a: nd.array(a, dtype='uint8'), 4)
    net = d2l_cnn.get_model(spec['model'])  # not hybridized, as in 5.5
    net.initialize(init.Xavier(), ctx=ctx)
    trainer = gluon.Trainer(net.collect_params(), 'sgd',
                            {'learning_rate': spec['lr']})
    loss = gluon.loss.SoftmaxCrossEntropyLoss()

    def accuracy(data_iter):
        acc_sum, n = 0.0, 0
        for X, y in data_iter:
            X, y = X.as_in_context(ctx), y.as_in_context(ctx)
            y = y.astype('float32')
            acc_sum += (net(X).argmax(axis=1) == y).sum().asscalar()
            n += y.size
        return acc_sum / n

    def epoch(data_iter, test):
        train_l_sum, train_acc_sum, n = 0.0, 0.0, 0
        for X, y in data_iter:
            X, y = X.as_in_context(ctx), y.as_in_context(ctx)
            with autograd.record():
                y_hat = net(X)
                l = loss(y_hat, y).sum()
            l.backward()
            trainer.step(bs)
            y = y.astype('float32')
            train_l_sum += l.asscalar()  # waits for the batch
            train_acc_sum += (y_hat.argmax(axis=1) == y).sum().asscalar()
            n += y.size
        return train_l_sum / n, accuracy(test)
    epoch([next(iter(train_iter))], [next(iter(test_iter))])  # warm up
    times = []
    for _ in range(spec['epochs']):
        start = time.perf_counter()
        train_loss, _ = epoch(train_iter, test_iter)
        times.append(time.perf_counter() - start)
    return {'epoch_times': times, 'train_loss': train_loss,
            'peak_rss_mib': _max_rss_mib()}


def torch_model(name, num_classes=10):
    """A PyTorch twin of a registered network (same layers and sizes)."""
    from torch import nn
    if name in ('lenet', 'batchnorm'):
        bn = name == 'batchnorm'

        def norm(c, dims):
            if not bn:
                return []
            return [nn.BatchNorm2d(c) if dims == 4 else nn.BatchNorm1d(c)]
        return nn.Sequential(
            nn.Conv2d(1, 6, 5), *norm(6, 4), nn.Sigmoid(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), *norm(16, 4), nn.Sigmoid(),
            nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(256, 120), *norm(120, 2), nn.Sigmoid(),
            nn.Linear(120, 84), *norm(84, 2), nn.Sigmoid(),
            nn.Linear(84, num_classes))
    if name == 'alexnet':
        return nn.Sequential(
            nn.Conv2d(1, 96, 11, stride=4), nn.ReLU(), nn.MaxPool2d(3, 2),
            nn.Conv2d(96, 256, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
            nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(),
            nn.Conv2d(384, 384, 3, padding=1), nn.ReLU(),
            nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(3, 2), nn.Flatten(),
            nn.Linear(6400, 4096), nn.ReLU(), nn.Dropout(0.5),
            nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(0.5),
            nn.Linear(4096, num_classes))
    if name == 'vgg':
        layers, c_in = [], 1
        for num_convs, c in ((1, 16), (1, 32), (2, 64), (2, 128), (2, 128)):
            for _ in range(num_convs):
                layers += [nn.Conv2d(c_in, c, 3, padding=1), nn.ReLU()]
                c_in = c
            layers.append(nn.MaxPool2d(2, 2))
        return nn.Sequential(
            *layers, nn.Flatten(),
            nn.Linear(c_in * 7 * 7, 4096), nn.ReLU(), nn.Dropout(0.5),
            nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(0.5),
            nn.Linear(4096, num_classes))
    if name == 'nin':
        def nin_block(c_in, c, k, s, p):
            return [nn.Conv2d(c_in, c, k, s, p), nn.ReLU(),
                    nn.Conv2d(c, c, 1), nn.ReLU(), nn.Conv2d(c, c, 1),
                    nn.ReLU()]
        return nn.Sequential(
            *nin_block(1, 96, 11, 4, 0), nn.MaxPool2d(3, 2),
            *nin_block(96, 256, 5, 1, 2), nn.MaxPool2d(3, 2),
            *nin_block(256, 384, 3, 1, 1), nn.MaxPool2d(3, 2),
            nn.Dropout(0.5), *nin_block(384, num_classes, 3, 1, 1),
            nn.AdaptiveAvgPool2d(1), nn.Flatten())
    if name == 'resnet':
        return _torch_resnet18(num_classes)
    raise ValueError('no PyTorch version of %r; one of: %s'
                     % (name, ', '.join(TORCH_MODELS)))


def _torch_resnet18(num_classes):
    import torch
    from torch import nn

    class Residual(nn.Module):
        def __init__(self, c_in, c, use_1x1conv=False, stride=1):
            super().__init__()
            self.conv1 = nn.Conv2d(c_in, c, 3, stride, 1)
            self.conv2 = nn.Conv2d(c, c, 3, padding=1)
            self.conv3 = (nn.Conv2d(c_in, c, 1, stride) if use_1x1conv
                          else None)
            self.bn1, self.bn2 = nn.BatchNorm2d(c), nn.BatchNorm2d(c)

        def forward(self, X):
            Y = torch.relu(self.bn1(self.conv1(X)))
            Y = self.bn2(self.conv2(Y))
            if self.conv3 is not None:
                X = self.conv3(X)
            return torch.relu(Y + X)
    layers = [nn.Conv2d(1, 64, 7, 2, 3), nn.BatchNorm2d(64), nn.ReLU(),
              nn.MaxPool2d(3, 2, 1)]
    c_in = 64
    for i, c in enumerate((64, 128, 256, 512)):
        first = i > 0
        layers += [Residual(c_in, c, first, 2 if first else 1),
                   Residual(c, c)]
        c_in = c
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(512, num_classes))


def _worker_d(spec):
    """PyTorch: the same network and batched resize, a plain loop."""
    import numpy as np
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(spec['threads'])
    torch.manual_seed(0)
    (X_train, y_train), (X_test, y_test) = _load_digits(spec)
    bs, r = spec['batch_size'], spec['resize']
    net = torch_model(spec['model'])
    for m in net.modules():  # Xavier, as init.Xavier() in MXNet
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
            torch.nn.init.xavier_uniform_(m.weight)
            torch.nn.init.zeros_(m.bias)
    optimizer = torch.optim.SGD(net.parameters(), lr=spec['lr'])
    loss = torch.nn.CrossEntropyLoss()

    def batches(X, y, shuffle, seed):
        order = (np.random.default_rng(seed).permutation(len(y)) if shuffle
                 else np.arange(len(y)))
        for i in range(0, len(y), bs):
            idx = order[i:i + bs]
            Xb = torch.from_numpy(X[idx]).float() / 255
            if Xb.shape[2:] != (r, r):
                Xb = F.interpolate(Xb, size=(r, r), mode='bilinear',
                                   align_corners=False)
            yield Xb, torch.from_numpy(y[idx].astype(np.int64))

    def epoch(train_data, test_data):
        net.train()
        train_l_sum, n = 0.0, 0
        for X, y in train_data:
            optimizer.zero_grad()
            l = loss(net(X), y)
            l.backward()
            optimizer.step()
            train_l_sum += l.item() * len(y)
            n += len(y)
        net.eval()
        hits = 0
        with torch.no_grad():
            for X, y in test_data:
                hits += (net(X).argmax(dim=1) == y).sum().item()
        return train_l_sum / n
    epoch(batches(X_train[:bs], y_train[:bs], True, 0),
          batches(X_test[:bs], y_test[:bs], False, 0))  # warm up
    times = []
    for e in range(spec['epochs']):
        start = time.perf_counter()
        train_loss = epoch(batches(X_train, y_train, True, e + 1),
                           batches(X_test, y_test, False, 0))
        times.append(time.perf_counter() - start)
    result = {'epoch_times': times, 'train_loss': train_loss,
              'peak_rss_mib': _max_rss_mib(),
              'threads': torch.get_num_threads(),
              'params': sum(p.numel() for p in net.parameters())}
    if spec['steps'] > 0:
        net.train()
        X, y = next(batches(X_train, y_train, False, 0))

        def step():
            optimizer.zero_grad()
            loss(net(X), y).backward()
            optimizer.step()
        result['step_times'] = _time_steps(step, lambda: None,
                                           spec['steps'])
        a = torch.rand(MATMUL_N, MATMUL_N)
        result['torch_mm_gflops'] = _median_gflops(
            lambda: torch.mm(a, a), 2.0 * MATMUL_N ** 3, 5)
    return result


def _worker_layers(spec):
    """Each convolution and dense layer of a network timed alone.

    Every layer runs hybridized (``static_alloc``, ``static_shape``) on a
    random input of its shape in the network at this batch size: forward,
    then forward + backward (the gradient with respect to the input too,
    except for the first layer, whose input is the image). Set beside
    the matrix product peak, this shows which layers keep the training
    step from it.
    """
    import mxnet as mx
    from mxnet import autograd, nd

    import d2l_cnn
    from d2l_cnn import cost
    bs, r = spec['batch_size'], spec['resize']
    net = d2l_cnn.get_model(spec['model'])
    table = cost.cost_table(net, (bs, 1, r, r))
    blocks = {b.name: b for b in cost._blocks(net)}
    rows, first = [], True
    for row in table['layers']:
        if not row['flops']:
            continue
        layer = blocks[row['name']]
        layer.hybridize(static_alloc=True, static_shape=True)
        X = nd.random.uniform(shape=row['in_shape'], ctx=mx.cpu())
        if not first:
            X.attach_grad()

        def forward():
            with autograd.record():
                return layer(X)

        def both():
            forward().backward()
        fwd = _median(_time_steps(forward, nd.waitall, spec['steps']))
        step = _median(_time_steps(both, nd.waitall, spec['steps']))
        # the first layer computes no gradient for its input
        bwd_flops = row['flops'] * (1 if first else 2)
        bwd = max(step - fwd, 0.0)
        rows.append({'name': row['name'], 'in_shape': row['in_shape'],
                     'out_shape': row['out_shape'], 'flops': row['flops'],
                     'forward_seconds': fwd, 'backward_seconds': bwd,
                     'forward_gflops': row['flops'] / fwd / 1e9,
                     # too short to time apart from the forward pass
                     'backward_gflops': bwd_flops / bwd / 1e9
                     if bwd > 0.02 * step else None})
        first = False
    return {'layers': rows, 'peak': _matmul_peak()}


WORKERS = {'a': _worker_a, 'b': _worker_b, 'c': _worker_c, 'd': _worker_d,
           'layers': _worker_layers}


def worker_main(spec):
    """Run one side as described by ``spec``; print its result line."""
    result = WORKERS[spec['side']](spec)
    print(RESULT + json.dumps(result), flush=True)


# ------------------------------------------------------------- driver

def _cpu_model():
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(module):
    try:
        from importlib.metadata import version
        return version(module)
    except Exception:  # noqa: BLE001 - not installed
        return None


def machine_info(threads):
    """CPU model, cores, threads used and library versions."""
    from ._threads import physical_cores
    return {'cpu': _cpu_model(), 'physical_cores': physical_cores(),
            'logical_cpus': os.cpu_count(), 'threads': threads,
            'python': platform.python_version(),
            'platform': platform.platform(),
            'versions': {m: _version(m) for m in
                         ('mxnet', 'd2l', 'numpy', 'torch')}}


def available_sides(sides):
    """Drop (b) without d2l and (d) without torch; say why."""
    missing = {'b': 'd2l', 'd': 'torch'}
    keep, skipped = [], {}
    for side in sides:
        module = missing.get(side)
        if module and importlib.util.find_spec(module) is None:
            skipped[side] = '%s is not installed' % module
        else:
            keep.append(side)
    return keep, skipped


def write_digits(path, num_train, num_test):
    """Save ``num_train`` / ``num_test`` digits of mnist5k to ``path``.

    Takes the first examples of the fixed train and test splits,
    repeating them if more are asked for than there are.
    """
    import numpy as np

    from .data import mnist5k_arrays
    (X_train, y_train), (X_test, y_test) = mnist5k_arrays()

    def take(X, y, n):
        idx = np.arange(n) % len(y)
        return X[idx], y[idx]
    X_train, y_train = take(X_train, y_train, num_train)
    X_test, y_test = take(X_test, y_test, num_test)
    np.savez(path, X_train=X_train, y_train=y_train, X_test=X_test,
             y_test=y_test)


def run_worker(spec, timeout):
    """Run one side in a subprocess; its result dict (or an error)."""
    env = dict(os.environ)
    threads = str(spec['threads'])
    for var in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS',
                'OPENBLAS_NUM_THREADS'):
        env[var] = threads
    # bench.py run as a script: make ``import d2l_cnn`` find this copy
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env['PYTHONPATH'] = os.pathsep.join(
        [root] + [p for p in env.get('PYTHONPATH', '').split(os.pathsep)
                  if p])
    cmd = [sys.executable, os.path.abspath(__file__), '--worker',
           json.dumps(spec)]
    load = _load()
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return {'error': 'timed out after %d s' % timeout}
    wall = time.perf_counter() - start
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT):
            result = json.loads(line[len(RESULT):])
            result['process_seconds'] = wall
            # other programs competing for the cores show up here
            result['load_before'], result['load_after'] = load, _load()
            return result
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    return {'error': lines[-1] if lines else
            'exit status %d, no result' % proc.returncode}


def _load():
    """The 1-minute load average (None where the OS does not tell)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _ratio(a, b):
    return a / b if a and b else None


def summarize(model, runs, batch_size, images, flops):
    """Medians per side, ratios, achieved GFLOP/s and the targets."""
    out = {'sides': {}, 'ratios': {}}
    for side, results in runs.items():
        ok = [r for r in results if 'error' not in r]
        s = {'runs': len(ok), 'errors': [r['error'] for r in results
                                         if 'error' in r]}
        epochs = [t for r in ok for t in r.get('epoch_times', [])]
        if epochs:
            s['epoch_seconds'] = _median(epochs)
            s['epoch_times'] = epochs
            s['examples_per_sec'] = images / s['epoch_seconds']
        s['peak_rss_mib'] = _median([r.get('peak_rss_mib') for r in ok])
        steps = [t for r in ok for t in r.get('step_times', [])]
        if steps:
            s['step_seconds'] = _median(steps)
            s['step_images_per_sec'] = batch_size / s['step_seconds']
            s['step_gflops'] = (s['step_images_per_sec'] *
                                flops['train_flops_per_image'] / 1e9)
            # against the peak measured in the same process, run by run
            fractions = [
                batch_size / _median(r['step_times']) *
                flops['train_flops_per_image'] / 1e9 /
                r['peak']['mxnet_dot_gflops']
                for r in ok if r.get('step_times') and r.get('peak')]
            if fractions:
                s['step_fraction_of_peak'] = _median(fractions)
        for key in ('train_loss', 'reported_examples_per_sec',
                    'torch_mm_gflops', 'params'):
            values = [r[key] for r in ok if r.get(key) is not None]
            if values and isinstance(values[0], list):
                values = [v for vs in values for v in vs if v is not None]
            if values:
                s[key] = (_median(values) if key != 'params'
                          else values[0])
        out['sides'][side] = s
    sides = out['sides']
    a = sides.get('a', {})
    for other in ('b', 'c', 'd'):
        if other in sides:
            out['ratios']['speedup_vs_' + other] = _ratio(
                sides[other].get('epoch_seconds'), a.get('epoch_seconds'))
    if 'd' in sides:
        out['ratios']['step_speedup_vs_d'] = _ratio(
            sides['d'].get('step_seconds'), a.get('step_seconds'))
    return out


def _targets(model, summary, resize):
    """Each target that applies to ``model``: value, goal, met.

    The step's fraction of the matrix product peak is a target for the
    networks at 224 (NiN, AlexNet, VGG); the others are reported only.
    """
    targets = {}
    a = summary['sides'].get('a', {})
    if resize >= 224 and a.get('step_fraction_of_peak'):
        targets['step_fraction_of_peak'] = a['step_fraction_of_peak']
    goal_b = TARGETS['speedup_vs_b_batchnorm' if model == 'batchnorm'
                     else 'speedup_vs_b']
    out = {}
    for key, goal in (('step_fraction_of_peak',
                       TARGETS['step_fraction_of_peak']),
                      ('speedup_vs_b', goal_b),
                      ('speedup_vs_d', TARGETS['speedup_vs_d'])):
        value = targets.get(key, summary['ratios'].get(key))
        if value is not None:
            out[key] = {'value': value, 'goal': goal, 'met': value >= goal}
    return out


def default_batch_size(model):
    """The recipe's batch size at 28x28; 32 for the larger inputs.

    Five batches of 128 images at 224 would take minutes per side on two
    cores; 32 keeps the whole benchmark within a quarter of an hour.
    """
    from . import get_recipe
    recipe = get_recipe(model)
    return recipe['batch_size'] if recipe['resize'] <= 32 else 32


def benchmark(models, sides, batch_size, repeats, epochs, num_batches,
              test_batches, steps, threads, hybridize='static',
              timeout=900, log=print):
    """Run the interleaved benchmark; returns the results dict.

    ``batch_size`` None: ``default_batch_size`` of each network.
    """
    from . import cost, get_model, get_recipe
    sides, skipped = available_sides(sides)
    sizes = {m: batch_size or default_batch_size(m) for m in models}
    started = time.time()
    results = {
        'machine': machine_info(threads),
        'settings': {
            'models': list(models), 'sides': sides, 'skipped': skipped,
            'side_names': {s: SIDE_NAMES[s] for s in sides},
            'batch_size': sizes, 'repeats': repeats,
            'epochs_per_run': epochs, 'train_batches': num_batches,
            'test_batches': test_batches, 'steps': steps,
            'hybridize': hybridize,
            'data': 'the first mnist5k digits of each split, resized',
            'epoch': 'an epoch here is %d training batches plus %d test '
                     'batches, not the whole data set'
                     % (num_batches, test_batches)},
        'targets': dict(TARGETS), 'models': {}}
    flops = {}
    for model in models:
        recipe = get_recipe(model)
        r = recipe['resize']
        table = cost.cost_table(get_model(model), (1, 1, r, r))['totals']
        flops[model] = {
            'resize': r, 'lr': recipe['lr'],
            'forward_flops_per_image': table['total_flops'],
            'conv_dense_flops_per_image': table['flops'],
            'train_flops_per_image': table['train_flops'],
            'params': table['params'], 'batch_size': sizes[model],
            'images_per_epoch': num_batches * sizes[model]}
    with tempfile.TemporaryDirectory() as tmp:
        digits = os.path.join(tmp, 'digits.npz')
        most = max(sizes.values())
        write_digits(digits, num_batches * most, test_batches * most)
        runs = {m: {s: [] for s in sides} for m in models}
        peaks = []
        for rep in range(repeats):
            for model in models:
                for side in sides:
                    if side == 'd' and model not in TORCH_MODELS:
                        continue
                    spec = dict(side=side, model=model,
                                resize=flops[model]['resize'],
                                lr=flops[model]['lr'],
                                batch_size=sizes[model],
                                num_train=num_batches * sizes[model],
                                num_test=test_batches * sizes[model],
                                epochs=epochs, steps=steps, threads=threads,
                                data=digits, hybridize=hybridize)
                    result = run_worker(spec, timeout)
                    runs[model][side].append(result)
                    if 'peak' in result:
                        peaks.append(result['peak'])
                    log('repeat %d/%d %-10s %s: %s'
                        % (rep + 1, repeats, model, side,
                           _brief(result)))
    peak = {k: _median([p[k] for p in peaks])
            for k in ('mxnet_dot_gflops', 'numpy_dot_gflops')}
    results['matmul_peak'] = dict(peak, n=MATMUL_N, samples=peaks)
    for model in models:
        model_runs = {s: v for s, v in runs[model].items() if v}
        summary = summarize(model, model_runs, sizes[model],
                            flops[model]['images_per_epoch'], flops[model])
        summary.update(flops[model])
        summary['targets'] = _targets(model, summary,
                                      flops[model]['resize'])
        results['models'][model] = summary
    results['load_average'] = _load_summary(
        [r for m in runs.values() for v in m.values() for r in v])
    results['elapsed_seconds'] = time.time() - started
    return results


def _load_summary(results):
    """Median and largest 1-minute load average seen before the runs."""
    loads = [r['load_before'] for r in results
             if r.get('load_before') is not None]
    if not loads:
        return None
    return {'median_before_runs': _median(loads),
            'max_before_runs': max(loads)}


def _brief(result):
    if 'error' in result:
        return 'error: ' + result['error']
    parts = []
    if result.get('epoch_times'):
        parts.append('epoch %.2f s' % _median(result['epoch_times']))
    if result.get('step_times'):
        parts.append('step %.1f ms' % (1e3 * _median(result['step_times'])))
    if result.get('peak'):
        parts.append('dot %.0f GFLOP/s' % result['peak']['mxnet_dot_gflops'])
    return ', '.join(parts)


def scaling(model, batch_sizes, sizes, repeats, images, threads,
            steps=0, timeout=900, log=print):
    """(a) epoch time against batch size and against input size."""
    from . import cost, get_model, get_recipe
    recipe = get_recipe(model)
    base_bs = recipe['batch_size'] if recipe['batch_size'] in \
        batch_sizes else batch_sizes[len(batch_sizes) // 2]
    base_size = recipe['resize']
    configs = [(bs, base_size) for bs in batch_sizes] + \
        [(base_bs, s) for s in sizes if s != base_size]
    started = time.time()
    out = {'model': model, 'images_per_epoch': images, 'repeats': repeats,
           'test_images': max(batch_sizes),
           'machine': machine_info(threads), 'rows': []}
    with tempfile.TemporaryDirectory() as tmp:
        digits = os.path.join(tmp, 'digits.npz')
        write_digits(digits, images, max(batch_sizes))
        runs = {c: [] for c in configs}
        for rep in range(repeats):
            for bs, size in configs:
                n = max(1, images // bs)
                spec = dict(side='a', model=model, resize=size,
                            lr=recipe['lr'], batch_size=bs,
                            epochs=1, steps=steps, threads=threads,
                            data=digits, peak=False)
                result = run_worker(
                    _subset_spec(spec, tmp, digits, n, bs, max(batch_sizes)),
                    timeout)
                runs[(bs, size)].append(result)
                log('repeat %d/%d batch %d size %d: %s'
                    % (rep + 1, repeats, bs, size, _brief(result)))
    for bs, size in configs:
        ok = [r for r in runs[(bs, size)] if 'error' not in r]
        n = max(1, images // bs) * bs
        epoch = _median([t for r in ok for t in r['epoch_times']])
        flops = cost.cost_table(get_model(model),
                                (1, 1, size, size))['totals']
        row = {'batch_size': bs, 'resize': size, 'images': n,
               'epoch_seconds': epoch,
               'examples_per_sec': n / epoch if epoch else None,
               'train_flops_per_image': flops['train_flops'],
               'errors': [r['error'] for r in runs[(bs, size)]
                          if 'error' in r]}
        if row['examples_per_sec']:
            row['gflops'] = row['examples_per_sec'] * \
                flops['train_flops'] / 1e9
        out['rows'].append(row)
    out['elapsed_seconds'] = time.time() - started
    return out


def _subset_spec(spec, tmp, digits, num_batches, bs, num_test):
    """A spec whose data holds ``num_batches`` batches, ``num_test`` tests.

    The test set is the same for every batch size, so that epochs differ
    only in how the training images are batched.
    """
    import numpy as np
    path = os.path.join(tmp, 'digits_%d_%d.npz' % (num_batches, bs))
    if not os.path.exists(path):
        with np.load(digits) as f:
            np.savez(path, X_train=f['X_train'][:num_batches * bs],
                     y_train=f['y_train'][:num_batches * bs],
                     X_test=f['X_test'][:num_test],
                     y_test=f['y_test'][:num_test])
    return dict(spec, data=path)


def layer_profile(models, batch_size, steps, threads, timeout=900,
                  log=print):
    """Per-layer forward/backward GFLOP/s of each network (a worker)."""
    from . import get_recipe
    out = {}
    for model in models:
        spec = dict(side='layers', model=model,
                    resize=get_recipe(model)['resize'],
                    batch_size=batch_size or default_batch_size(model),
                    steps=steps, threads=threads)
        result = run_worker(spec, timeout)
        result['batch_size'], result['resize'] = (spec['batch_size'],
                                                  spec['resize'])
        out[model] = result
        log('layers of %s: %s' % (model, _brief(result)))
    return out


def print_layer_profile(profiles, file=None):
    """Per-layer table: time share and GFLOP/s against the dot peak."""
    file = file or sys.stdout
    fmt = '%-10s %-15s %7s %8s %8s %8s %8s %6s'
    for model, p in profiles.items():
        if 'error' in p:
            print('%s: error: %s' % (model, p['error']), file=file)
            continue
        peak = p['peak']['mxnet_dot_gflops']
        total = sum(r['forward_seconds'] + r['backward_seconds']
                    for r in p['layers'])
        print('%s at %d, batch %d: layers alone, dot peak %.0f GFLOP/s'
              % (model, p['resize'], p['batch_size'], peak), file=file)
        print(fmt % ('layer', 'output', 'GFLOP', 'fwd ms', 'bwd ms',
                     'fwd GF/s', 'bwd GF/s', 'time%'), file=file)
        for r in p['layers']:
            both = r['forward_seconds'] + r['backward_seconds']
            print(fmt % (r['name'], 'x'.join(map(str, r['out_shape'][1:])),
                         '%.2f' % (r['flops'] / 1e9),
                         '%.1f' % (1e3 * r['forward_seconds']),
                         '%.1f' % (1e3 * r['backward_seconds']),
                         '%.0f' % r['forward_gflops'],
                         _fmt(r['backward_gflops'], '%.0f'),
                         '%.0f' % (100 * both / total)), file=file)
        flops = sum(r['flops'] for r in p['layers'])
        print('  all layers: %.0f GFLOP/s forward+backward (%.0f%% of the '
              'dot peak), training FLOPs taken as 3x forward'
              % (3 * flops / total / 1e9, 300 * flops / total / 1e9 / peak),
              file=file)


def _fmt(x, pattern='%.2f'):
    return pattern % x if x is not None else '-'


def print_report(results, file=None):
    """The benchmark as a text table (medians, ratios, targets)."""
    file = file or sys.stdout
    m = results['machine']
    st = results['settings']
    peak = results['matmul_peak']
    print('machine: %s, %d physical cores, %d logical CPUs, %d threads '
          'per side' % (m['cpu'], m['physical_cores'], m['logical_cpus'],
                        m['threads']), file=file)
    print('matmul peak (fp32, %d^3): MXNet nd.dot %s GFLOP/s, numpy %s '
          'GFLOP/s' % (peak['n'], _fmt(peak['mxnet_dot_gflops'], '%.1f'),
                       _fmt(peak['numpy_dot_gflops'], '%.1f')), file=file)
    print('%s; medians of %d runs x %d epochs; sides run interleaved, '
          'each in its own process' % (st['epoch'], st['repeats'],
                                       st['epochs_per_run']), file=file)
    load = results.get('load_average')
    if load:
        print('1-minute load average before the runs: median %.1f, max %.1f'
              '%s' % (load['median_before_runs'], load['max_before_runs'],
                      ' (other programs competed for the cores)'
                      if load['max_before_runs'] > m['threads'] + 1
                      else ''), file=file)
    for side, why in st['skipped'].items():
        print('side %s (%s) skipped: %s' % (side, SIDE_NAMES[side], why),
              file=file)
    fmt = '%-16s %-18s %8s %8s %8s %8s %9s %8s %8s'
    print(fmt % ('net@size/batch', 'side', 'epoch s', 'img/s', 'a faster',
                 'step ms', 'step img/s', 'GFLOP/s', 'peak MiB'),
          file=file)
    for model, s in results['models'].items():
        a = s['sides'].get('a', {})
        for side, v in s['sides'].items():
            if side == 'a':
                speed = ''
            else:
                speed = _fmt(_ratio(v.get('epoch_seconds'),
                                    a.get('epoch_seconds')), '%.2fx')
            print(fmt % ('%s@%d/%d' % (model, s['resize'], s['batch_size']),
                         SIDE_NAMES_SHORT[side],
                         _fmt(v.get('epoch_seconds')),
                         _fmt(v.get('examples_per_sec'), '%.1f'), speed,
                         _fmt(v.get('step_seconds') and
                              1e3 * v['step_seconds'], '%.1f'),
                         _fmt(v.get('step_images_per_sec'), '%.1f'),
                         _fmt(v.get('step_gflops'), '%.1f'),
                         _fmt(v.get('peak_rss_mib'), '%.0f')), file=file)
            for err in v.get('errors', [])[:1]:
                print('    error: %s' % err, file=file)
        for key, t in s['targets'].items():
            print('    target %s: %.2f (goal %.2f) %s'
                  % (key, t['value'], t['goal'],
                     'met' if t['met'] else 'MISSED'), file=file)


def markdown_report(results):
    """The benchmark as Markdown tables (for a README)."""
    m = results['machine']
    head = ('Machine: %s, %d physical cores, %d threads per side'
            % (m['cpu'], m['physical_cores'], m['threads']))
    peak = results.get('matmul_peak') or {}
    if peak.get('mxnet_dot_gflops'):
        head += ('; fp32 matmul peak (%d^3) %.0f GFLOP/s in MXNet, %.0f '
                 'in numpy' % (peak['n'], peak['mxnet_dot_gflops'],
                               peak['numpy_dot_gflops']))
    lines = [head + '.', '']
    if 'models' in results and results['models']:
        lines += ['| network (input, batch) | d2l_cnn epoch s | vs d2l 2nd '
                  'ed. | vs d2lzh loop | vs PyTorch | train step img/s | '
                  'GFLOP/s (% of peak) | peak MiB (a/b/c/d) |',
                  '|---|---|---|---|---|---|---|---|']
        for model, s in results['models'].items():
            sides, r = s['sides'], s['ratios']
            a = sides.get('a', {})
            rss = '/'.join(_fmt(sides[k].get('peak_rss_mib'), '%.0f')
                           if k in sides else '-' for k in SIDES)
            frac = a.get('step_fraction_of_peak')
            lines.append('| %s (%d, %d) | %s | %s | %s | %s | %s | %s%s | '
                         '%s |' % (
                             model, s['resize'], s['batch_size'],
                             _fmt(a.get('epoch_seconds')),
                             _fmt(r.get('speedup_vs_b'), '%.2fx'),
                             _fmt(r.get('speedup_vs_c'), '%.2fx'),
                             _fmt(r.get('speedup_vs_d'), '%.2fx'),
                             _fmt(a.get('step_images_per_sec'), '%.1f'),
                             _fmt(a.get('step_gflops'), '%.0f'),
                             ' (%.0f%%)' % (100 * frac) if frac else '',
                             rss))
    if 'scaling' in results:
        sc = results['scaling']
        lines += ['', 'Scaling of %s (d2l_cnn; an epoch: %d training '
                  'images, then %d test images):'
                  % (sc['model'], sc['images_per_epoch'],
                     sc.get('test_images', 0)), '',
                  '| batch | input | epoch s | img/s | GFLOP/s |',
                  '|---|---|---|---|---|']
        for row in sc['rows']:
            lines.append('| %d | %d | %s | %s | %s |' % (
                row['batch_size'], row['resize'],
                _fmt(row['epoch_seconds']),
                _fmt(row['examples_per_sec'], '%.1f'),
                _fmt(row.get('gflops'), '%.0f')))
    return '\n'.join(lines)


def print_scaling(out, file=None):
    """The scaling table: epoch time and speed per configuration."""
    file = file or sys.stdout
    print('scaling of %s (d2l_cnn train_ch5; an epoch: %d training '
          'images, then %d test images; medians of %d; GFLOP/s of the '
          'training images)' % (out['model'], out['images_per_epoch'],
                                out.get('test_images', 0), out['repeats']),
          file=file)
    print('%6s %6s %9s %9s %9s' % ('batch', 'size', 'epoch s', 'img/s',
                                   'GFLOP/s'), file=file)
    for r in out['rows']:
        print('%6d %6d %9s %9s %9s'
              % (r['batch_size'], r['resize'], _fmt(r['epoch_seconds']),
                 _fmt(r['examples_per_sec'], '%.1f'),
                 _fmt(r.get('gflops'), '%.1f')), file=file)


def _int_list(text):
    try:
        values = [int(v) for v in text.split(',') if v]
    except ValueError:
        raise argparse.ArgumentTypeError('expected integers separated by '
                                         'commas, got %r' % text) from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError('expected positive integers')
    return values


def _positive(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError('must be at least 1')
    return value


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog='python -m d2l_cnn.bench',
        description='Time d2l_cnn against the books\' training paths and '
                    'PyTorch (interleaved runs, medians, ratios).')
    p.add_argument('--models', default=','.join(DEFAULT_MODELS),
                   help='comma-separated registered networks (default: '
                        '%(default)s)')
    p.add_argument('--sides', default=','.join(SIDES),
                   help='which of a (d2l_cnn), b (d2l 1.0.3), c (d2lzh '
                        'loop), d (PyTorch) to run (default: all)')
    p.add_argument('--batch-size', type=_positive, default=None,
                   help="one batch size for all (default: the recipe's at "
                        '28x28, 32 for larger inputs)')
    p.add_argument('--repeats', type=_positive, default=3,
                   help='interleaved runs of every side (default 3)')
    p.add_argument('--epochs', type=_positive, default=1,
                   help='timed epochs per run (default 1)')
    p.add_argument('--batches', type=_positive, default=5,
                   help='training batches per epoch (default 5; d2l\'s '
                        'train_ch6 needs 5)')
    p.add_argument('--test-batches', type=_positive, default=1)
    p.add_argument('--steps', type=int, default=3,
                   help='steps per timing window of the step alone '
                        '(0: skip it)')
    p.add_argument('--threads', type=_positive, default=None,
                   help='OpenMP / torch threads per side (default: the '
                        'physical cores)')
    p.add_argument('--hybridize', choices=('static', 'plain', 'none'),
                   default='static', help='how side a hybridizes')
    p.add_argument('--json', default=None, help='write the results here')
    p.add_argument('--quick', action='store_true',
                   help='a seconds-long smoke run (batchnorm at 28)')
    p.add_argument('--layers', action='store_true',
                   help='also time every convolution and dense layer '
                        'alone (forward, backward, GFLOP/s)')
    p.add_argument('--scaling', action='store_true',
                   help='epoch time of side a against batch size and '
                        'input size, for --scaling-model')
    p.add_argument('--scaling-model', default='alexnet')
    p.add_argument('--batch-sizes', type=_int_list,
                   default=[16, 32, 64, 128])
    p.add_argument('--sizes', type=_int_list, default=[96, 160, 224])
    p.add_argument('--scaling-images', type=_positive, default=256,
                   help='images per epoch in --scaling (default 256)')
    p.add_argument('--report', default=None, metavar='JSON',
                   help='print the tables of a saved results file and '
                        'exit (with --markdown: as Markdown)')
    p.add_argument('--markdown', action='store_true')
    p.add_argument('--worker', default=None, help=argparse.SUPPRESS)
    p.add_argument('--debug', action='store_true')
    return p.parse_args(argv)


def _print_saved(path, markdown):
    """``--report PATH``: the tables of a results file."""
    try:
        with open(path) as f:
            results = json.load(f)
    except (OSError, ValueError) as e:
        print('error: cannot read %s: %s' % (path, e), file=sys.stderr)
        return 1
    if markdown:
        if 'machine' not in results and 'scaling' in results:
            results = dict(results, machine=results['scaling']['machine'])
        print(markdown_report(results))
        return 0
    if 'models' in results:
        print_report(results)
    if 'layer_profile' in results:
        print_layer_profile(results['layer_profile'])
    if 'scaling' in results:
        print_scaling(results['scaling'])
    return 0


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        worker_main(json.loads(args.worker))
        return 0
    if args.report:
        return _print_saved(args.report, args.markdown)
    from ._threads import physical_cores
    from .errors import D2LError, UsageError
    from .registry import list_models
    threads = args.threads or physical_cores()
    try:
        models = [m for m in args.models.split(',') if m]
        sides = [s for s in args.sides.split(',') if s]
        for m in models + ([args.scaling_model] if args.scaling else []):
            if m not in list_models():
                raise UsageError('unknown model %r; choose one of: %s'
                                 % (m, ', '.join(list_models())))
        for s in sides:
            if s not in SIDES:
                raise UsageError('unknown side %r; choose from a, b, c, d'
                                 % s)
        if 'b' in sides and args.batches < 5 and not args.scaling:
            raise UsageError("side b needs --batches >= 5 (d2l's "
                             "train_ch6 divides by num_batches // 5)")
        log = (lambda msg: print(msg, file=sys.stderr, flush=True))
        if args.scaling:
            out = scaling(args.scaling_model, args.batch_sizes, args.sizes,
                          args.repeats, args.scaling_images, threads,
                          log=log)
            print_scaling(out)
            results = {'scaling': out}
        else:
            if args.quick:
                models = ['batchnorm'] if args.models == ','.join(
                    DEFAULT_MODELS) else models
                args.repeats, args.epochs, args.batches = 1, 1, 5
                args.test_batches, args.steps = 1, 2
                args.batch_size = args.batch_size or 64
            results = benchmark(models, sides, args.batch_size,
                                args.repeats, args.epochs, args.batches,
                                args.test_batches, args.steps, threads,
                                hybridize=args.hybridize, log=log)
            results['settings']['quick'] = args.quick
            print_report(results)
            if args.layers:
                results['layer_profile'] = layer_profile(
                    models, args.batch_size, max(args.steps, 1), threads,
                    log=log)
                print_layer_profile(results['layer_profile'])
        if args.json:
            directory = os.path.dirname(os.path.abspath(args.json))
            os.makedirs(directory, exist_ok=True)
            with open(args.json, 'w') as f:
                json.dump(results, f, indent=1, sort_keys=True)
                f.write('\n')
    except D2LError as e:
        if args.debug:
            raise
        print('error: %s' % e, file=sys.stderr)
        return e.exit_code
    except OSError as e:
        if args.debug:
            raise
        print('error: %s' % e, file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    if '--worker' in sys.argv:
        # Run as a script: this folder must not shadow top-level modules.
        here = os.path.dirname(os.path.abspath(__file__))
        sys.path[:] = [p for p in sys.path
                       if os.path.abspath(p or '.') != here]
    sys.exit(main())
