"""The step-speed benchmark's sides, each run in its own process.

``python -m benchmarks.workers SPEC`` runs the side ``SPEC['side']``
(JSON) and prints its ``BENCH_RESULT`` line: (a) d2l_cnn, (b) d2l
1.0.3's ``train_ch6``, (c) a d2lzh-style loop, (d) PyTorch, and
``layers`` (every convolution and dense layer timed alone). Only the
standard library is imported at module level: each side imports its
own framework.
"""
import sys
import time

from benchmarks.common import (load_digits, matmul_peak, max_rss_mib,
                               median, median_gflops, time_steps,
                               worker_main, MATMUL_N)


def _worker_a(spec):
    """d2l_cnn: train_ch5 epochs, then the training step alone."""
    import d2l_cnn  # first: numpy's names for MXNet
    import mxnet as mx
    from mxnet import autograd, gluon, init, nd

    from d2l_cnn import data, train
    result = {}
    (X_train, y_train), (X_test, y_test) = load_digits(spec)
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
    result['peak_rss_mib'] = max_rss_mib()
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
        result['step_times'] = time_steps(step, nd.waitall, spec['steps'])
    if spec.get('peak', True):
        result['peak'] = matmul_peak()  # last: out of the peak RSS
    return result


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

    import d2l_cnn  # first: numpy's names for MXNet
    import mxnet as mx
    from mxnet import autograd, gluon, init, np, npx
    from d2l import mxnet as d2l

    npx.set_np()
    # Outside Jupyter the Animator would print a figure object at every
    # update: drop the display calls, keep the plotting in the loop.
    d2l.display = types.SimpleNamespace(display=lambda *a, **k: None,
                                        clear_output=lambda *a, **k: None)
    (X_train, y_train), (X_test, y_test) = load_digits(spec)
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
    return {'epoch_times': times, 'peak_rss_mib': max_rss_mib(),
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
    import d2l_cnn  # first: numpy's names for MXNet
    import mxnet as mx
    from mxnet import autograd, gluon, init, nd

    (X_train, y_train), (X_test, y_test) = load_digits(spec)
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
            'peak_rss_mib': max_rss_mib()}


def _worker_d(spec):
    """PyTorch: the same network and batched resize, a plain loop."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    from benchmarks.torch_models import torch_model
    torch.set_num_threads(spec['threads'])
    torch.manual_seed(0)
    (X_train, y_train), (X_test, y_test) = load_digits(spec)
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
              'peak_rss_mib': max_rss_mib(),
              'threads': torch.get_num_threads(),
              'params': sum(p.numel() for p in net.parameters())}
    if spec['steps'] > 0:
        net.train()
        X, y = next(batches(X_train, y_train, False, 0))

        def step():
            optimizer.zero_grad()
            loss(net(X), y).backward()
            optimizer.step()
        result['step_times'] = time_steps(step, lambda: None,
                                          spec['steps'])
        a = torch.rand(MATMUL_N, MATMUL_N)
        result['torch_mm_gflops'] = median_gflops(
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
    import d2l_cnn  # first: numpy's names for MXNet
    import mxnet as mx
    from mxnet import autograd, nd

    from d2l_cnn import cost
    bs, r = spec['batch_size'], spec['resize']
    net = d2l_cnn.get_model(spec['model'])
    table = cost.cost_table(net, (bs, 1, r, r))
    blocks = {b.name: b for b in named_blocks(net)}
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
        fwd = median(time_steps(forward, nd.waitall, spec['steps']))
        step = median(time_steps(both, nd.waitall, spec['steps']))
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
    return {'layers': rows, 'peak': matmul_peak()}


WORKERS = {'a': _worker_a, 'b': _worker_b, 'c': _worker_c, 'd': _worker_d,
           'layers': _worker_layers}


def named_blocks(block):
    """``block`` and every block inside it, depth first."""
    yield block
    for child in block._children.values():
        yield from named_blocks(child)


if __name__ == '__main__':
    sys.exit(worker_main(WORKERS))
