"""``python -m d2l_cnn.train MODEL``: train a network with the book's recipe.

Writes into ``--out``: ``metrics.csv``/``metrics.json`` (per epoch),
``curves.png`` (the book's three curves), ``model.params`` (final
parameters), ``run.json`` (what ran, where, how long) and per-epoch
checkpoints that ``--resume`` continues from. Every error the user can
fix is one line on stderr: exit status 2 for bad arguments, 1 for
failures at run time, 130 after Ctrl-C; ``--debug`` shows tracebacks.
"""
import argparse
import csv
import io
import json
import math
import os
import platform
import random
import signal
import sys
import time
import traceback

import mxnet as mx
import numpy as np
from mxnet import gluon, init, nd

from . import __version__, checkpoint, data, summary
from .errors import D2LError, OneLineParser, UsageError
from .registry import get_entry, get_model, list_models
from .train import train_ch5, try_gpu

MAX_RESIZE = 512
OPTIMIZERS = ('sgd', 'momentum', 'adam')
KVSTORES = ('local', 'device', 'dist_sync', 'dist_device_sync')
# Say so when a run on the CPU would take longer than this (seconds).
SLOW_RUN = 20 * 60


def _positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                '%r is not a %s' % (text, 'number' if kind is float
                                    else 'whole number'))
        if not (value > 0 and math.isfinite(value)):
            raise argparse.ArgumentTypeError(
                'must be positive, not %s' % text)
        return value
    parse.__name__ = 'positive %s' % kind.__name__
    return parse


def _non_negative_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError('%r is not a whole number' % text)
    if value < 0:
        raise argparse.ArgumentTypeError('must be 0 or more, not %s' % text)
    return value


def build_parser():
    p = OneLineParser(
        prog='python -m d2l_cnn.train',
        description='Train a network of d2l-zh chapter 5 with the book\'s '
        'recipe (override any part of it).')
    p.add_argument('model', help='one of: ' + ', '.join(list_models()))
    p.add_argument('--data', default=None,
                   help='%s (default: the recipe\'s, fashion-mnist)'
                   % ', '.join(data.DATASETS))
    p.add_argument('--root', default=None,
                   help='folder of the data set\'s files (default: '
                   '$MXNET_HOME/datasets/NAME)')
    p.add_argument('--num-epochs', '--epochs', type=_positive(int),
                   dest='num_epochs')
    p.add_argument('--lr', type=_positive(float), help='learning rate')
    p.add_argument('--batch-size', type=_positive(int))
    p.add_argument('--resize', type=_positive(int),
                   help='input height and width')
    p.add_argument('--ctx', default=None,
                   help='cpu, gpu, gpu:0,1 or cpu:0,1 (default: gpu(0) '
                   'if there is one, else cpu)')
    p.add_argument('--seed', type=_non_negative_int, default=0)
    p.add_argument('--optimizer', choices=OPTIMIZERS, default=None,
                   help='sgd (the book), momentum (SGD, momentum 0.9, '
                   'weight decay, step schedule) or adam')
    p.add_argument('--wd', type=float, default=None, help='weight decay')
    p.add_argument('--lr-steps', default='',
                   help='epochs after which the lr is multiplied by '
                   '--lr-factor, e.g. 30,60')
    p.add_argument('--lr-factor', type=_positive(float), default=0.1)
    p.add_argument('--kvstore', choices=KVSTORES, default=None,
                   help='how gradients are combined (dist_* need '
                   'python -m d2l_cnn.launch)')
    p.add_argument('--num-examples', type=_positive(int), default=None,
                   help='use only the first N training examples')
    p.add_argument('--out', default=None,
                   help='folder for metrics, curves, checkpoints and '
                   'parameters (default: a new runs/MODEL[-N])')
    p.add_argument('--resume', action='store_true',
                   help='continue from the last checkpoint in --out')
    p.add_argument('--export', nargs='?', const='symbol', default=None,
                   choices=('symbol', 'onnx'),
                   help='after training also write the network as symbol '
                   'JSON + params (the default) or as model.onnx')
    p.add_argument('--no-hybridize', action='store_true')
    p.add_argument('--amp', action='store_true',
                   help='mixed precision (float16) with mxnet.contrib.amp; '
                   'GPU only, untested on this project\'s CPU machines')
    p.add_argument('--progress', dest='progress', action='store_true',
                   default=None, help='show a progress bar (default: on '
                   'a terminal)')
    p.add_argument('--no-progress', dest='progress', action='store_false')
    p.add_argument('--debug', action='store_true',
                   help='show the full traceback of errors')
    return p


def parse_ctx(text):
    """``cpu``, ``gpu``, ``gpu:0,1``, ``cpu:0,1`` -> list of contexts."""
    if text is None:
        return [try_gpu()]
    kind, _, ids = text.strip().lower().partition(':')
    if kind not in ('cpu', 'gpu'):
        raise UsageError('--ctx %r: use cpu, gpu, gpu:0,1 or cpu:0,1'
                         % text)
    try:
        ids = [int(i) for i in ids.split(',')] if ids else [0]
    except ValueError:
        raise UsageError('--ctx %r: device numbers must be whole numbers'
                         % text) from None
    if len(set(ids)) != len(ids) or min(ids) < 0:
        raise UsageError('--ctx %r: device numbers must be distinct and '
                         '0 or more' % text)
    if kind == 'cpu':
        return [mx.cpu(i) for i in ids]
    from .train import _num_gpus
    n = _num_gpus()
    if n == 0:
        raise UsageError('--ctx %s: MXNet sees no GPU on this machine '
                         '(a CPU-only mxnet or no CUDA driver); use '
                         '--ctx cpu' % text)
    if max(ids) >= n:
        raise UsageError('--ctx %s: this machine has %d GPU(s), numbered '
                         '0 to %d' % (text, n, n - 1))
    return [mx.gpu(i) for i in ids]


def make_trainer(net, optimizer, lr, wd, lr_steps, lr_factor,
                 batches_per_epoch, kvstore):
    """The book's plain SGD, or SGD with momentum and a step schedule."""
    params = {'learning_rate': lr}
    if wd:
        params['wd'] = wd
    if lr_steps:
        params['lr_scheduler'] = mx.lr_scheduler.MultiFactorScheduler(
            step=[e * batches_per_epoch for e in lr_steps],
            factor=lr_factor, base_lr=lr)
    if optimizer == 'momentum':
        optimizer, params['momentum'] = 'sgd', 0.9
    kwargs = {}
    if kvstore is not None:
        kwargs['kvstore'] = kvstore
        if 'dist' not in kvstore.type:
            # the optimizer runs here, so its states can be saved; under
            # dist_sync it must run on the servers: with
            # update_on_kvstore=False, MXNet 1.9.1 summed a worker's
            # first gradients wrongly in 9 of 30 loopback runs
            kwargs['update_on_kvstore'] = False
    return gluon.Trainer(net.collect_params(), optimizer, params, **kwargs)


def _parse_steps(text):
    try:
        steps = [int(s) for s in text.split(',') if s.strip()]
    except ValueError:
        raise UsageError('--lr-steps %r: give epochs like 30,60' % text)
    if any(s <= 0 for s in steps) or steps != sorted(set(steps)):
        raise UsageError('--lr-steps %r: positive, increasing epochs'
                         % text)
    return steps


def seed_everything(seed):
    """One seed for MXNet, numpy and Python: a CPU run repeats exactly."""
    mx.random.seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def prepare_out(out, resume):
    """Check that ``out`` is a writable folder that loses nothing."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise UsageError('--out %s is a file, not a folder' % out)
    try:
        os.makedirs(out, exist_ok=True)
        checkpoint.atomic_write(os.path.join(out, '.write-test'), 'ok')
        os.remove(os.path.join(out, '.write-test'))
    except OSError as e:
        raise D2LError('cannot write to --out %s (%s)'
                       % (out, e.strerror or e))
    held = [f for f in ('run.json', 'metrics.json', checkpoint.FOLDER)
            if os.path.exists(os.path.join(out, f))]
    if held and not resume:
        raise UsageError('--out %s already holds a run (%s); continue it '
                         'with --resume or choose another --out'
                         % (out, ', '.join(held)))


def default_out(model, resume):
    """``runs/MODEL``, or ``runs/MODEL-2``, ... : a new folder per run.

    With ``resume``, the newest of them (the run to continue).
    """
    base = os.path.join('runs', model)
    names = [base] + ['%s-%d' % (base, i) for i in range(2, 10000)]
    existing = [n for n in names[:1000] if os.path.exists(n)]
    if resume:
        return existing[-1] if existing else base
    for name in names:
        if not os.path.exists(name):
            return name
    raise UsageError('runs/ holds too many runs of %s; give --out' % model)


def settings(args):
    """The run's settings: the model's recipe, overridden by the options."""
    entry = get_entry(args.model)
    s = dict(entry.recipe)
    for key in ('data', 'lr', 'batch_size', 'resize', 'num_epochs',
                'optimizer'):
        if getattr(args, key) is not None:
            s[key] = getattr(args, key)
    info = data.dataset_info(s['data'])
    s['in_channels'], s['num_classes'] = info.shape[0], info.num_classes
    if args.wd is not None:
        s['wd'] = args.wd
    else:
        s['wd'] = 5e-4 if s['optimizer'] == 'momentum' else 0.0
    s['lr_steps'] = _parse_steps(args.lr_steps)
    s['lr_factor'] = args.lr_factor
    s['seed'] = args.seed
    s['num_examples'] = args.num_examples
    return entry, s


def check_resize(name, s):
    """Refuse input sizes the network cannot take, with the minimum."""
    net = get_model(name, num_classes=s['num_classes'])
    smallest = summary.min_input_size(net, s['in_channels'])
    if s['resize'] < smallest:
        raise UsageError('--resize %d is too small for %s: its smallest '
                         'input is %dx%d' % (s['resize'], name, smallest,
                                             smallest))
    if s['resize'] > MAX_RESIZE:
        raise UsageError('--resize %d is larger than %d; the book trains '
                         '%s at %d' % (s['resize'], MAX_RESIZE, name,
                                       get_entry(name).recipe['resize']))


class SlowRunNote:
    """After a few batches, estimate the run's length; say if it is long."""

    def __init__(self, ctx, batches_per_epoch, num_epochs, start_epoch,
                 model, after=3):
        self.ctx, self.after = ctx, after
        self.total = batches_per_epoch * (num_epochs - start_epoch)
        self.model, self.start, self.done = model, None, False

    def __call__(self, epoch, batch, examples):
        if self.done or self.ctx[0].device_type != 'cpu':
            return
        if batch == 0:
            nd.waitall()  # the first batch builds the graph: not counted
            self.start = time.time()
        elif batch == self.after and self.start is not None:
            nd.waitall()
            per_batch = (time.time() - self.start) / self.after
            self.done = True
            eta = per_batch * self.total
            if eta > SLOW_RUN:
                print('note: at %.2f s per batch this run will take about '
                      '%s on the CPU; for a quick run try: python -m '
                      'd2l_cnn.train %s --data mnist5k --num-epochs 3 '
                      '(or a smaller --resize)'
                      % (per_batch, _duration(eta), self.model),
                      file=sys.stderr)


def _duration(seconds):
    if seconds >= 3600:
        return '%.1f hours' % (seconds / 3600)
    return '%d minutes' % round(seconds / 60)


def write_metrics(out, history):
    """Per-epoch metrics as CSV and JSON, and the curves as a PNG."""
    checkpoint.atomic_write(os.path.join(out, 'metrics.json'),
                            json.dumps(history, indent=1))
    buf = io.StringIO()
    fields = ['epoch', 'loss', 'train_acc', 'test_acc', 'time',
              'examples_per_sec']
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator='\n')
    writer.writeheader()
    for record in history:
        writer.writerow({k: record[k] for k in fields})
    checkpoint.atomic_write(os.path.join(out, 'metrics.csv'),
                            buf.getvalue())
    plot_curves(history, os.path.join(out, 'curves.png'))


def plot_curves(history, path, title=None):
    """Train loss, train acc and test acc against epochs (the book's)."""
    import matplotlib
    matplotlib.use('Agg', force=False)
    from matplotlib import pyplot as plt
    epochs = [r['epoch'] for r in history]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(epochs, [r['loss'] for r in history], '-', label='train loss')
    ax.plot(epochs, [r['train_acc'] for r in history], 'm--',
            label='train acc')
    ax.plot(epochs, [r['test_acc'] for r in history], 'g-.',
            label='test acc')
    ax.set_xlabel('epoch')
    ax.set_xlim(0.5, max(epochs) + 0.5)
    ax.grid(True)
    ax.legend()
    if title:
        ax.set_title(title)
    buf = io.BytesIO()
    fig.savefig(buf, format='png', dpi=100, bbox_inches='tight')
    plt.close(fig)
    checkpoint.atomic_write(path, buf.getvalue())


def versions():
    return {'d2l_cnn': __version__, 'mxnet': mx.__version__,
            'numpy': np.__version__, 'python': platform.python_version(),
            'omp_num_threads': os.environ.get('OMP_NUM_THREADS')}


def run(args, state=None):
    """Train as ``args`` say; returns the history.

    ``state`` (a dict) receives the kvstore, so that ``main`` can let a
    failing ``dist_sync`` worker exit without waiting for the others.
    """
    state = {} if state is None else state
    entry, s = settings(args)
    ctx = parse_ctx(args.ctx)
    check_resize(args.model, s)
    if args.export:
        from .export import check_exportable
        check_exportable(args.model)
    out = args.out = args.out or default_out(args.model, args.resume)
    kv, rank, num_workers = None, 0, 1
    if args.kvstore:
        kv = state['kv'] = mx.kv.create(args.kvstore)
        rank, num_workers = kv.rank, kv.num_workers
    distributed = kv is not None and 'dist' in kv.type
    if rank == 0:
        prepare_out(out, args.resume)
    if args.amp:
        if ctx[0].device_type != 'gpu':
            raise UsageError('--amp trains in float16 and needs a GPU '
                             '(--ctx gpu)')
        from mxnet.contrib import amp
        amp.init()  # before the network is built
    seed_everything(args.seed)
    train_iter, test_iter = data.load_data(
        s['data'], s['batch_size'], resize=s['resize'], root=args.root,
        ctx=ctx[0], seed=args.seed)
    if args.num_examples:
        train_iter = train_iter.subset(args.num_examples)
    if num_workers > 1:
        train_iter = train_iter.shard(num_workers, rank)
    net = get_model(args.model, num_classes=s['num_classes'])
    net.initialize(init.Xavier(), ctx=ctx)
    if entry.hybrid and not args.no_hybridize:
        net.hybridize(static_alloc=True)
    trainer = make_trainer(net, s['optimizer'], s['lr'], s['wd'],
                           s['lr_steps'], s['lr_factor'], len(train_iter),
                           kv)
    if args.amp:
        amp.init_trainer(trainer)
    expect = {'model': args.model, 'num_classes': s['num_classes'],
              'in_channels': s['in_channels']}
    history, start_epoch = [], 0
    if args.resume:
        folder = checkpoint.latest(out)
        if folder is None:
            raise UsageError('--resume: no checkpoint in %s; start a run '
                             'there without --resume' % out)
        # shapes are deferred until the first batch: run one to fix them
        _materialise(net, train_iter, ctx)
        meta = checkpoint.load(folder, net,
                               None if distributed else trainer, expect)
        history, start_epoch = meta['history'], meta['epoch']
        print('resuming from epoch %d (%s)' % (start_epoch, folder))
    run_info = dict(expect, data=s['data'], resize=s['resize'],
                    recipe=s, seed=args.seed, ctx=[str(c) for c in ctx],
                    kvstore=args.kvstore, num_workers=num_workers,
                    versions=versions(), command=sys.argv[:],
                    started=time.strftime('%Y-%m-%d %H:%M:%S'))
    started = time.time()

    def save_epoch(record):
        history.append(record)
        if rank != 0:
            return
        # dist_sync keeps the optimizer state on the servers: only the
        # parameters can be saved (momentum restarts after --resume)
        checkpoint.save(out, record['epoch'], net,
                        None if distributed else trainer,
                        dict(expect, history=history, seed=args.seed))
        write_metrics(out, history)

    print('%s on %s: lr %g, batch size %d, resize %d, %d epochs, %s'
          % (args.model, s['data'], s['lr'], s['batch_size'], s['resize'],
             s['num_epochs'], s['optimizer']))
    train_ch5(net, train_iter, test_iter if rank == 0 else None,
              s['batch_size'], trainer, ctx, s['num_epochs'],
              callbacks=[save_epoch], start_epoch=start_epoch,
              verbose=rank == 0,
              seed=args.seed, progress=args.progress,
              batch_scale=num_workers, amp=args.amp,
              batch_callbacks=[SlowRunNote(ctx, len(train_iter),
                                           s['num_epochs'], start_epoch,
                                           args.model)])
    if rank == 0:
        net.save_parameters(os.path.join(out, '.tmp-model.params'))
        os.replace(os.path.join(out, '.tmp-model.params'),
                   os.path.join(out, 'model.params'))
        shape = (1, s['in_channels'], s['resize'], s['resize'])
        if args.export == 'symbol':
            from .export import export_symbol
            export_symbol(net, os.path.join(out, 'model'), shape,
                          ctx=ctx[0])
        elif args.export == 'onnx':
            from .export import export_onnx
            export_onnx(net, os.path.join(out, 'model.onnx'), shape,
                        ctx=ctx[0])
        run_info.update(elapsed=time.time() - started,
                        finished=time.strftime('%Y-%m-%d %H:%M:%S'),
                        final=history[-1] if history else None)
        checkpoint.atomic_write(os.path.join(out, 'run.json'),
                                json.dumps(run_info, indent=1))
        print('wrote %s' % out)
    return history


def _materialise(net, train_iter, ctx):
    """Run one batch forward so deferred parameter shapes are known."""
    for X, _ in train_iter:
        net(X[:1].as_in_context(ctx[0]))
        return


def _terminate(signum, frame):
    raise KeyboardInterrupt


def main(argv=None):
    """Entry point: returns the exit status."""
    args = build_parser().parse_args(argv)
    previous = signal.signal(signal.SIGTERM, _terminate)
    state = {}
    try:
        run(args, state)
        return 0
    except D2LError as e:
        status = _fail(args, str(e), e.exit_code)
    except KeyboardInterrupt:
        out = args.out or default_out(args.model, True)
        last = checkpoint.latest(out) if os.path.isdir(out) else None
        where = ('the last complete epoch is saved in %s' % last if last
                 else 'no epoch had finished, nothing to resume')
        cmd = ' '.join(['python -m d2l_cnn.train'] +
                       _resume_args(argv, args.out))
        status = _fail(args, 'interrupted; %s; continue with: %s'
                       % (where, cmd), 130)
    except mx.base.MXNetError as e:
        status = _fail(args, 'MXNet failed: %s' % _last_line(e), 1)
    except OSError as e:
        status = _fail(args, 'cannot read or write %s (%s)'
                       % (e.filename or 'a file', e.strerror or e), 1)
    except MemoryError:
        status = _fail(args, 'out of memory: try a smaller --batch-size '
                       'or --resize', 1)
    finally:
        signal.signal(signal.SIGTERM, previous)
    if 'kv' in state:
        # a failing dist_sync worker must not wait for the others
        from .launch import skip_exit_barrier
        skip_exit_barrier(state['kv'])
    return status


def _resume_args(argv, out):
    argv = list(sys.argv[1:] if argv is None else argv)
    if out and '--out' not in argv:
        argv += ['--out', out]
    return argv if '--resume' in argv else argv + ['--resume']


def _last_line(error):
    lines = [s.strip() for s in str(error).splitlines() if s.strip()]
    for line in lines:
        if 'Check failed' in line or 'Error' in line:
            return line[-300:]
    return lines[0][-300:] if lines else type(error).__name__


def _fail(args, message, status):
    if args.debug:
        traceback.print_exc()
    print('error: %s' % message, file=sys.stderr)
    return status


if __name__ == '__main__':
    sys.exit(main())
