"""Benchmark: d2l_cnn against the book's two training paths and PyTorch.

``python -m benchmarks.bench`` (or ``python benchmarks/bench.py`` from a
clone) trains each network at the book's input size on the same digits
(the embedded MNIST digits, resized), with the same batch size, four
ways:

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

Each side runs in its own subprocess (``python -m benchmarks.workers
SPEC``), so that the numpy interface of (b) stays out of the
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
smoke run; ``--report FILE [--markdown]`` prints a saved result. The
time to a trained network is ``python -m benchmarks.tta``.
"""
if __name__ == '__main__' and not __package__:
    # ``python benchmarks/bench.py``: run it as ``python -m
    # benchmarks.bench`` from the clone, so that the workers and this
    # clone's d2l_cnn are found without editing sys.path
    import os
    import sys
    _root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    os.execve(sys.executable,
              [sys.executable, '-m', 'benchmarks.bench'] + sys.argv[1:],
              dict(os.environ, PYTHONPATH=os.pathsep.join(
                  [_root, os.environ.get('PYTHONPATH', '')]).rstrip(
                      os.pathsep)))

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from benchmarks.common import (MATMUL_N, load_summary,  # noqa: E402
                               machine_info, median, ratio, run_worker,
                               write_digits, recipe)
from benchmarks.reports import (SIDE_NAMES, SIDES,  # noqa: E402
                                markdown_report, print_layer_profile,
                                print_report, print_scaling)
from benchmarks.torch_models import TORCH_MODELS  # noqa: E402
from d2l_cnn.threads import physical_cores  # noqa: E402
from d2l_cnn.errors import D2LError, UsageError  # noqa: E402
from d2l_cnn.registry import list_models  # noqa: E402

DEFAULT_MODELS = ('nin', 'alexnet', 'vgg', 'batchnorm')
TARGETS = {'step_fraction_of_peak': 0.75, 'speedup_vs_b': 2.0,
           'speedup_vs_b_batchnorm': 3.0, 'speedup_vs_d': 1.3}


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


def summarize(model, runs, batch_size, images, flops):
    """Medians per side, ratios, achieved GFLOP/s and the targets."""
    out = {'sides': {}, 'ratios': {}}
    for side, results in runs.items():
        ok = [r for r in results if 'error' not in r]
        s = {'runs': len(ok), 'errors': [r['error'] for r in results
                                         if 'error' in r]}
        epochs = [t for r in ok for t in r.get('epoch_times', [])]
        if epochs:
            s['epoch_seconds'] = median(epochs)
            s['epoch_times'] = epochs
            s['examples_per_sec'] = images / s['epoch_seconds']
        s['peak_rss_mib'] = median([r.get('peak_rss_mib') for r in ok])
        steps = [t for r in ok for t in r.get('step_times', [])]
        if steps:
            s['step_seconds'] = median(steps)
            s['step_images_per_sec'] = batch_size / s['step_seconds']
            s['step_gflops'] = (s['step_images_per_sec'] *
                                flops['train_flops_per_image'] / 1e9)
            # against the peak measured in the same process, run by run
            fractions = [
                batch_size / median(r['step_times']) *
                flops['train_flops_per_image'] / 1e9 /
                r['peak']['mxnet_dot_gflops']
                for r in ok if r.get('step_times') and r.get('peak')]
            if fractions:
                s['step_fraction_of_peak'] = median(fractions)
        for key in ('train_loss', 'reported_examples_per_sec',
                    'torch_mm_gflops', 'params'):
            values = [r[key] for r in ok if r.get(key) is not None]
            if values and isinstance(values[0], list):
                values = [v for vs in values for v in vs if v is not None]
            if values:
                s[key] = (median(values) if key != 'params'
                          else values[0])
        out['sides'][side] = s
    sides = out['sides']
    a = sides.get('a', {})
    for other in ('b', 'c', 'd'):
        if other in sides:
            out['ratios']['speedup_vs_' + other] = ratio(
                sides[other].get('epoch_seconds'), a.get('epoch_seconds'))
    if 'd' in sides:
        out['ratios']['step_speedup_vs_d'] = ratio(
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
    book = recipe(model)
    return book['batch_size'] if book['resize'] <= 32 else 32


def benchmark(models, sides, batch_size, repeats, epochs, num_batches,
              test_batches, steps, threads, hybridize='static',
              timeout=900, log=print):
    """Run the interleaved benchmark; returns the results dict.

    ``batch_size`` None: ``default_batch_size`` of each network.
    """
    from d2l_cnn import cost, get_model
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
        book = recipe(model)
        r = book['resize']
        table = cost.cost_table(get_model(model), (1, 1, r, r))['totals']
        flops[model] = {
            'resize': r, 'lr': book['lr'],
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
    peak = {k: median([p[k] for p in peaks])
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
    results['load_average'] = load_summary(
        [r for m in runs.values() for v in m.values() for r in v])
    results['elapsed_seconds'] = time.time() - started
    return results


def _brief(result):
    if 'error' in result:
        return 'error: ' + result['error']
    parts = []
    if result.get('epoch_times'):
        parts.append('epoch %.2f s' % median(result['epoch_times']))
    if result.get('step_times'):
        parts.append('step %.1f ms' % (1e3 * median(result['step_times'])))
    if result.get('peak'):
        parts.append('dot %.0f GFLOP/s' % result['peak']['mxnet_dot_gflops'])
    return ', '.join(parts)


def scaling(model, batch_sizes, sizes, repeats, images, threads,
            steps=0, timeout=900, log=print):
    """(a) epoch time against batch size and against input size."""
    from d2l_cnn import cost, get_model
    book = recipe(model)
    base_bs = book['batch_size'] if book['batch_size'] in \
        batch_sizes else batch_sizes[len(batch_sizes) // 2]
    base_size = book['resize']
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
                            lr=book['lr'], batch_size=bs,
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
        epoch = median([t for r in ok for t in r['epoch_times']])
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
    out = {}
    for model in models:
        spec = dict(side='layers', model=model,
                    resize=recipe(model)['resize'],
                    batch_size=batch_size or default_batch_size(model),
                    steps=steps, threads=threads)
        result = run_worker(spec, timeout)
        result['batch_size'], result['resize'] = (spec['batch_size'],
                                                  spec['resize'])
        out[model] = result
        log('layers of %s: %s' % (model, _brief(result)))
    return out


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
        prog='python -m benchmarks.bench',
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
    if args.report:
        return _print_saved(args.report, args.markdown)
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
    sys.exit(main())
