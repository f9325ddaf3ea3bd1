"""A run: its settings, and the folder it is written into and read from.

``make_settings('nin', kind='auto')`` is the one settings object of a
training run: a registered recipe (``book`` on a GPU, ``cpu`` on a CPU
for ``'auto'``) with overrides, plus the run's own choices (seed,
subset, data folder, device). The command line, the notebooks
(``d2l_cnn.notebook.run_config``) and the benchmark all start from it;
``settings.load_data()``, ``settings.make_trainer(net)`` and
``settings.initializer`` turn it into MXNet objects, and ``str(settings)``
says which recipe runs and why, beside the other one.

``train_run(settings, out)`` trains into a run folder, the only code that
writes one; ``read_run`` / ``load_run`` read it back (for ``predict`` and
``export``). A run folder holds::

    run.json                 what ran (settings, versions), how long, final
    metrics.csv, .json       one row per epoch
    curves.png               train loss, train acc, test acc
    model.params             the final parameters
    checkpoints/epoch-NNNN/  the newest epochs (d2l_cnn.checkpoint)
    .lock                    while a command writes it (``RunLock``)

A folder is in one of three states (``folder_state``): ``new`` (nothing
of a run: a plain run may start there), ``epoch`` (a complete epoch is
saved: ``--resume`` continues it) or ``finished``. Every file is written
atomically after its epoch's checkpoint, so no kill leaves anything in
between. ``--resume`` continues from the newest checkpoint that loads
(a damaged one is skipped, with a note) and only with the settings it
was saved with, unless ``allow_changes`` (the changes are recorded).
"""
import csv
import dataclasses
import io
import json
import math
import os
import platform
import socket
import sys
import tempfile
import time

try:
    import fcntl
except ImportError:  # not POSIX: run folders are not locked
    fcntl = None

import mxnet as mx
import numpy as np
from mxnet import nd
from mxnet.contrib import amp as mx_amp

from . import __version__, checkpoint, data, safeio, summary
from .errors import D2LError, DataError, UsageError, mxnet_summary
from .launch import create_kvstore
from .registry import Recipe, get_entry, get_model, get_recipe
from .train import (check_seed, make_initializer, make_trainer, parse_ctx,
                    seed_everything, train_ch5)

RECIPE_CHOICES = ('auto', 'book', 'cpu')
MAX_RESIZE = 512
# Say so when a run on the CPU would take longer than this (seconds).
SLOW_RUN = 20 * 60
RUN_FILES = ('run.json', 'metrics.json', checkpoint.FOLDER)
LOCK = '.lock'
# Settings that --resume must find unchanged (the device and the data
# folder may change: they do not change what is computed)
RESUME_KEYS = tuple(f.name for f in Recipe.overridable()) + (
    'seed', 'num_examples', 'lr_steps', 'lr_factor')
METRICS = ('epoch', 'loss', 'train_acc', 'test_acc', 'time',
           'examples_per_sec')


# ------------------------------------------------------------ settings

@dataclasses.dataclass(frozen=True)
class Settings:
    """A registered recipe with overrides, and the run's own choices.

    Every ``Recipe`` field reads through: ``settings.lr`` is
    ``settings.recipe.lr``.
    """

    model: str
    recipe: Recipe
    kind: str = 'book'       # the registered recipe it starts from
    reason: str = ''         # why that one
    overrides: tuple = ()    # recipe fields changed from it
    ctx: object = None       # a context, or a list of them
    seed: int = 0
    num_examples: int = None  # the first N training examples only
    lr_steps: tuple = ()      # epochs: multiply the lr by lr_factor
    lr_factor: float = 0.1
    root: str = None          # folder of the data set's files

    RUN_KEYS = ('ctx', 'seed', 'num_examples', 'lr_steps', 'lr_factor',
                'root')

    def __getattr__(self, name):
        if name in Recipe.names():
            return getattr(self.recipe, name)
        raise AttributeError(name)

    # what the run is made of
    @property
    def contexts(self):
        """The devices as a list (``ctx`` may be one context)."""
        return parse_ctx(self.ctx)

    @property
    def book(self):
        """The book's recipe of this network."""
        return get_recipe(self.model, 'book')

    @property
    def cpu(self):
        """The cpu recipe of this network."""
        return get_recipe(self.model, 'cpu')

    @property
    def quick(self):
        """Whether this is the cpu recipe (the notebooks' quick mode)."""
        return self.kind == 'cpu'

    @property
    def dataset(self):
        """``data.dataset_info`` of the recipe's data set."""
        return data.dataset_info(self.recipe.data)

    @property
    def in_channels(self):
        return self.dataset.shape[0]

    @property
    def num_classes(self):
        return self.dataset.num_classes

    @property
    def num_train(self):
        n = self.dataset.num_train
        return min(n, self.num_examples) if self.num_examples else n

    @property
    def num_test(self):
        return self.dataset.num_test

    @property
    def batches_per_epoch(self):
        return math.ceil(self.num_train / self.recipe.batch_size)

    @property
    def initializer(self):
        """The recipe's MXNet initializer (``init.Xavier()``, ...)."""
        return make_initializer(self.recipe)

    # changing it
    def replace(self, **changes):
        """A copy with recipe fields or run choices changed.

        ``cfg.replace(batch_size=64, num_epochs=3)``; what may change:
        the recipe's fields except ``why``, and ``RUN_KEYS``.
        """
        names = [f.name for f in Recipe.overridable()]
        unknown = set(changes) - set(names) - set(self.RUN_KEYS)
        if unknown:
            raise UsageError('cannot change %s; change one of: %s'
                             % (', '.join(sorted(unknown)),
                                ', '.join(names + list(self.RUN_KEYS))))
        mine = {k: v for k, v in changes.items() if k in self.RUN_KEYS}
        recipe = {k: v for k, v in changes.items() if k not in mine}
        if recipe:
            changed = set(self.overrides) | {
                k for k, v in recipe.items() if v != self.recipe[k]}
            mine['recipe'] = self.recipe.replace(**recipe)
            mine['overrides'] = tuple(n for n in names if n in changed)
        return dataclasses.replace(self, **mine)

    # turning it into MXNet objects
    def load_data(self, ctx=None):
        """(train_iter, test_iter), batches made on ``ctx`` (or ours)."""
        ctx = ctx or self.contexts[0]
        train_iter, test_iter = data.load_data(
            self.recipe.data, self.recipe.batch_size,
            resize=self.recipe.resize, root=self.root, ctx=ctx,
            seed=self.seed)
        if self.num_examples:
            train_iter = train_iter.subset(self.num_examples)
        return train_iter, test_iter

    def make_trainer(self, net, kvstore=None, batches_per_epoch=None):
        """The recipe's ``gluon.Trainer`` for ``net`` (see train.py)."""
        return make_trainer(net, self.recipe,
                            batches_per_epoch or self.batches_per_epoch,
                            kvstore, self.lr_steps, self.lr_factor)

    # saying what it is
    def headline(self):
        """One line: which recipe runs, why, and why it differs."""
        if self.kind == 'book':
            line = "run: the BOOK's recipe"
        else:
            line = "run: the %s recipe, not the book's" % self.kind
        if self.reason:
            line += ' (because %s)' % self.reason
        if self.overrides:
            line += ', changed: %s' % ', '.join(self.overrides)
        if self.kind != 'book' and self.recipe.why:
            line += '. ' + self.recipe.why
        return line

    def __str__(self):
        """The header a notebook prints: the run, then both recipes."""
        info = self.dataset
        lines = [self.headline(),
                 'data: %s, %d training / %d test images'
                 % (self.recipe.data, self.num_train, info.num_test),
                 'device: %s' % (self.ctx,),
                 'settings: %s' % self.recipe.describe()]
        columns = [('this run', self.recipe)] if self.overrides else []
        columns += [('cpu' + (' (runs)' if self.kind == 'cpu' and not
                              self.overrides else ''), self.cpu),
                    ('book' + (' (runs)' if self.kind == 'book' and not
                               self.overrides else ''), self.book)]
        lines.append(recipe_table(columns))
        if self.kind == 'book':
            lines.append('why the cpu recipe differs: %s' % self.cpu.why)
        return '\n'.join(lines)

    def asdict(self):
        """For run.json: the recipe's fields and the run's choices."""
        return dict(self.recipe.asdict(), kind=self.kind,
                    overrides=list(self.overrides), seed=self.seed,
                    num_examples=self.num_examples,
                    lr_steps=list(self.lr_steps), lr_factor=self.lr_factor)


def recipe_table(columns):
    """Recipes side by side, one row per field (``why`` left out)."""
    names = [f.name for f in Recipe.overridable()]
    width = max(len(n) for n in names) + 2
    cells = [[title] + ['%g' % r[n] if isinstance(r[n], float) else
                        str(r[n]) for n in names] for title, r in columns]
    col = [max(len(c) for c in column) + 2 for column in cells]
    rows = []
    for i, name in enumerate(['recipe'] + names):
        rows.append((name.ljust(width) + ''.join(
            column[i].ljust(w) for column, w in zip(cells, col))).rstrip())
    return '\n'.join(rows)


def choose_recipe(kind, contexts):
    """``(kind, reason)``: 'auto' is the book's on a GPU, else cpu."""
    if kind not in RECIPE_CHOICES:
        raise UsageError('unknown recipe %r; choose one of: %s'
                         % (kind, ', '.join(RECIPE_CHOICES)))
    if kind != 'auto':
        return kind, '--recipe %s' % kind
    if contexts[0].device_type == 'gpu':
        return 'book', 'a GPU was found'
    return 'cpu', 'no GPU was found'


def make_settings(model, kind='auto', ctx=None, reason=None, **changes):
    """The settings of a run of ``model``: a registered recipe + changes.

    ``kind`` is 'book', 'cpu' or 'auto' (book on a GPU, cpu on a CPU;
    ``ctx`` defaults to ``try_gpu()``). ``changes`` are recipe fields
    and run choices (see ``Settings.replace``); None values are ignored,
    so the command line passes its options as they are.
    """
    get_entry(model)  # unknown model: the list of choices
    contexts = parse_ctx(ctx)
    kind, why = choose_recipe(kind, contexts)
    s = Settings(model, get_recipe(model, kind), kind=kind,
                 reason=why if reason is None else reason,
                 ctx=contexts[0] if ctx is None else ctx)
    s = s.replace(**{k: v for k, v in changes.items() if v is not None})
    s.dataset  # unknown data set: the list of choices
    check_seed(s.seed)
    if s.lr_steps and not 0 < s.lr_factor <= 1:
        raise UsageError('--lr-factor %g: the lr steps lower the lr, give a '
                         'factor above 0 and at most 1 (e.g. 0.1)'
                         % s.lr_factor)
    if s.num_examples is not None and (
            not isinstance(s.num_examples, int) or s.num_examples < 1):
        raise UsageError('num_examples must be a positive whole number, '
                         'not %r' % (s.num_examples,))
    return s


def check_resize(s):
    """Refuse input sizes the network cannot take, with the minimum."""
    net = get_model(s.model, num_classes=s.num_classes)
    smallest = summary.min_input_size(net, s.in_channels)
    if s.resize < smallest:
        raise UsageError('--resize %d is too small for %s: its smallest '
                         'input is %dx%d' % (s.resize, s.model, smallest,
                                             smallest))
    if s.resize > MAX_RESIZE:
        raise UsageError('--resize %d is larger than %d; the book trains '
                         '%s at %d' % (s.resize, MAX_RESIZE, s.model,
                                       s.book.resize))


# -------------------------------------------------------- the folder

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


class RunLock:
    """Only one command writes a run folder at a time.

    ``with RunLock(out):`` holds ``out/.lock``, an exclusive ``flock``
    on a file that names its owner (``pid hostname``). The kernel drops
    the lock when its owner dies, so a lock file left by a killed run is
    stale: the next command takes it over and says so. A second command
    while the owner lives fails at once with ``D2LError`` naming it.
    """

    def __init__(self, out):
        self.out, self.path, self.fd = out, os.path.join(out, LOCK), None

    def __enter__(self):
        if fcntl is None:
            return self
        while True:
            fd = safeio.open_lock(self.path)  # never through a link
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                owner = _owner(fd)
                os.close(fd)
                raise D2LError(
                    '--out %s is being written by another command (%s); '
                    'wait for it to end or choose another --out'
                    % (self.out, owner or 'owner unknown')) from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:  # its owner just removed it
                same = False
            if same:
                break
            os.close(fd)
        stale = _owner(fd)
        if stale:
            print('note: took over the lock of %s in %s: that command '
                  'ended without releasing it (killed?)'
                  % (stale, self.out), file=sys.stderr)
        os.ftruncate(fd, 0)
        # at offset 0: _owner read up to the old length
        os.pwrite(fd, ('%d %s\n' % (os.getpid(), socket.gethostname())
                       ).encode('utf-8', 'replace'), 0)
        self.fd = fd
        return self

    def __exit__(self, *exc):
        if self.fd is not None:
            try:
                os.remove(self.path)  # still ours: we hold the lock
            except OSError:
                pass
            os.close(self.fd)
            self.fd = None
        return False


def _owner(fd):
    """'pid N on HOST' from a lock file ('' if empty or unreadable)."""
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 300).decode('utf-8', 'replace').split()
    except OSError:
        return ''
    if len(text) >= 2 and text[0].isdigit():
        return 'pid %s on %s' % (text[0], text[1])
    return ''


def check_path(path, option='--out'):
    """Refuse a path MXNet cannot open (it encodes names as UTF-8).

    In a C locale with Python's UTF-8 mode off (``PYTHONUTF8=0``),
    non-ASCII arguments arrive as surrogate escapes, which MXNet's
    file functions cannot encode: say so before any work.
    """
    try:
        path.encode('utf-8')
    except UnicodeEncodeError:
        raise UsageError('%s %s: this name is not valid in the current '
                         'locale\'s encoding as MXNet reads it; use a UTF-8 '
                         'locale (e.g. LC_ALL=C.UTF-8) or an ASCII name'
                         % (option, path.encode('utf-8', 'replace')
                            .decode('utf-8'))) from None
    return path


def make_out(out):
    """Create the folder ``out`` (refusing a file) and check it is
    writable."""
    check_path(out)
    if os.path.exists(out) and not os.path.isdir(out):
        raise UsageError('--out %s is a file, not a folder' % out)
    try:
        os.makedirs(out, exist_ok=True)
        # a name of our own: a user's file is never replaced
        fd, test = tempfile.mkstemp(prefix='.tmp-', dir=out)
        os.close(fd)
        os.remove(test)
    except OSError as e:
        raise D2LError('cannot write to --out %s (%s)'
                       % (out, e.strerror or e))


def folder_state(out):
    """'new', 'epoch' (a complete epoch is saved) or 'finished'.

    A folder is new when it holds no run.json, no metrics and no
    complete checkpoint (an empty ``checkpoints/`` left by a run
    stopped during its first checkpoint is new).
    """
    if not os.path.isdir(out):
        return 'new'
    if is_finished(out):
        return 'finished'
    held = [f for f in ('run.json', 'metrics.json')
            if os.path.exists(os.path.join(out, f))]
    if held or checkpoint.latest(out):
        return 'epoch'
    return 'new'


def prepare_out(out, resume, force=False):
    """Check that ``out`` is a writable folder that loses nothing.

    Without ``resume`` it must be new, and hold no file that a run does
    not write (a user's own files), unless ``force``; with ``resume`` it
    must hold an epoch.
    """
    make_out(out)
    checkpoint.check_folder(out)
    state = folder_state(out)
    if state != 'new' and not resume:
        held = [f for f in RUN_FILES
                if os.path.exists(os.path.join(out, f))]
        raise UsageError('--out %s already holds a run (%s); continue it '
                         'with --resume or choose another --out'
                         % (out, ', '.join(held)))
    if state == 'new' and not resume and not force:
        foreign = foreign_files(out)
        if foreign:
            raise UsageError(
                '--out %s holds files that are not of a training run (%s); '
                'choose another --out, or add --force to train there '
                '(files named like a run\'s are then replaced)'
                % (out, ', '.join(foreign[:5] + (['...'] if len(foreign) > 5
                                                 else []))))
    if resume and not checkpoint.latest(out):
        raise UsageError('--resume: no checkpoint in %s (no epoch was '
                         'saved); start a run there without --resume'
                         % out)


def foreign_files(out):
    """Names in ``out`` that no run leaves before its first epoch (a run
    stopped then leaves at most ``.lock`` and ``checkpoints/.tmp-*``)."""
    names = []
    for name in sorted(os.listdir(out)):
        path = os.path.join(out, name)
        if name == LOCK or name.startswith('.tmp-'):
            continue
        if (name == checkpoint.FOLDER and os.path.isdir(path)
                and not os.path.islink(path) and all(
                    n.startswith('.tmp-') for n in os.listdir(path))):
            continue
        names.append(name)
    return names


def last_saved(out):
    """The newest complete checkpoint folder in ``out``, or None."""
    return checkpoint.latest(out) if os.path.isdir(out) else None


def is_finished(out):
    """Whether ``out`` holds a run that ran to its end."""
    try:
        return read_run(out).get('finished') is not None
    except D2LError:
        return False


# key, (Chinese, English) label, line format: the book's three curves
CURVES = (('loss', ('训练损失', 'train loss'), '-'),
          ('train_acc', ('训练准确率', 'train acc'), 'm--'),
          ('test_acc', ('测试准确率', 'test acc'), 'g-.'))
EPOCH = ('迭代周期', 'epoch')


def draw_curves(ax, history, num_epochs=None, title=None, font=None):
    """The book's three curves (train loss, train and test acc) on ``ax``.

    ``num_epochs`` fixes the x axis for a run still going (a live plot);
    ticks are whole epochs. ``font`` (matplotlib ``FontProperties`` with
    Chinese glyphs) labels the curves in Chinese, as the book does.
    """
    from matplotlib.ticker import MaxNLocator
    lang = 0 if font is not None else 1
    ax.cla()
    epochs = [r['epoch'] for r in history]
    for key, label, fmt in CURVES:
        ax.plot(epochs, [float(r[key]) for r in history], fmt,
                label=label[lang])
    ax.set_xlabel(EPOCH[lang], fontproperties=font)
    ax.set_xlim(0.5, max([num_epochs or 1] + epochs) + 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(True)
    ax.legend(prop=font)
    if title:
        ax.set_title(title, fontproperties=font)


def curves_figure(history, num_epochs=None, title=None, fig=None,
                  font=None):
    """A matplotlib ``Figure`` (no pyplot, no GUI) with the curves."""
    # imported here: matplotlib is not needed until the first curves
    from matplotlib.figure import Figure
    if fig is None:
        fig = Figure(figsize=(4.5, 3), layout='tight')
        fig.add_subplot()
    draw_curves(fig.axes[0], history, num_epochs, title, font)
    return fig


def png_bytes(fig, dpi=100):
    buf = io.BytesIO()
    fig.savefig(buf, format='png', dpi=dpi)
    return buf.getvalue()


def write_metrics(out, history):
    """Per-epoch metrics as CSV and JSON, and the curves as a PNG."""
    checkpoint.atomic_write(os.path.join(out, 'metrics.json'),
                            json.dumps(history, indent=1))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=METRICS, lineterminator='\n')
    writer.writeheader()
    for record in history:
        writer.writerow({k: record[k] for k in METRICS})
    checkpoint.atomic_write(os.path.join(out, 'metrics.csv'),
                            buf.getvalue())
    checkpoint.atomic_write(os.path.join(out, 'curves.png'),
                            png_bytes(curves_figure(history)))


def read_metrics(out):
    """The per-epoch history of a run folder ([] before its first epoch)."""
    path = os.path.join(out, 'metrics.json')
    if not os.path.isfile(path):
        return []
    history = _read_json(path, list)
    if not all(isinstance(r, dict) and all(
            isinstance(r.get(k), (int, float)) and not isinstance(
                r.get(k), bool) for k in METRICS) for r in history):
        raise DataError('%s does not hold one record per epoch (was it '
                        'edited?)' % path)
    return history


def versions():
    return {'d2l_cnn': __version__, 'mxnet': mx.__version__,
            'numpy': np.__version__, 'python': platform.python_version(),
            'omp_num_threads': os.environ.get('OMP_NUM_THREADS')}


def _read_json(path, kind=dict):
    try:
        value = json.loads(safeio.read_text(path))
    except FileNotFoundError:
        raise DataError('%s is missing: is %s the --out folder of a '
                        'training run?' % (path, os.path.dirname(path))
                        ) from None
    except (OSError, ValueError) as e:
        raise DataError('cannot read %s: %s' % (path, e)) from None
    except RecursionError:  # [[[[...]]]] nested too deep for Python
        raise DataError('cannot read %s: nested too deeply' % path
                        ) from None
    if not isinstance(value, kind):
        raise DataError('%s does not describe a training run' % path)
    return value


def read_run(run_dir):
    """The ``run.json`` of ``run_dir`` as a dict, with defaults filled in.

    Keys used: model, num_classes, in_channels, data, resize.
    """
    check_path(run_dir)
    if not os.path.isdir(run_dir):
        raise UsageError('run folder %s does not exist' % run_dir)
    path = os.path.join(run_dir, 'run.json')
    info = _read_json(path)
    if 'model' not in info:
        raise DataError('%s does not describe a training run (no "model")'
                        % path)
    try:
        if not isinstance(info['model'], str) or not isinstance(
                info.get('data', ''), str):
            raise UsageError('"model" and "data" must be names')
        book = get_recipe(info['model'])
        info.setdefault('data', book.data)
        info.setdefault('resize', book.resize)
        dinfo = data.dataset_info(info['data'])
    except UsageError as e:
        raise DataError('%s: %s' % (path, e)) from None
    info.setdefault('in_channels', dinfo.shape[0])
    info.setdefault('num_classes', dinfo.num_classes)
    info.setdefault('seed', 0)
    if info['resize'] is None:
        info['resize'] = dinfo.shape[1]
    for key, low, high in (('in_channels', 1, 64), ('num_classes', 1,
                                                    100000),
                           ('resize', 1, MAX_RESIZE),
                           ('seed', 0, 2 ** 32 - 1)):
        value = info[key]
        if (isinstance(value, bool) or not isinstance(value, int)
                or not low <= value <= high):
            raise DataError('%s: "%s" must be a whole number from %d to '
                            '%d, not %r (was it edited?)'
                            % (path, key, low, high, value))
    return info


def load_run(run_dir, ctx=None):
    """``(net, info)``: the trained network of ``run_dir`` and its run.json.

    Raises ``DataError`` when ``model.params`` is missing or holds the
    parameters of another network.
    """
    info = read_run(run_dir)
    ctx = ctx or mx.cpu()
    path = os.path.join(run_dir, 'model.params')
    if not os.path.isfile(path):
        raise DataError('%s is missing: the run has not finished (or '
                        'resume it with --resume)' % path)
    net = get_model(info['model'], num_classes=info['num_classes'])
    X = nd.zeros((1, info['in_channels'], info['resize'], info['resize']),
                 ctx=ctx)
    try:
        net.load_parameters(path, ctx=ctx)
        # (1, num_classes): catches shapes that loading leaves unchecked
        y_hat = net(X)
        if y_hat.shape != (1, info['num_classes']):
            raise ValueError('output shape %s' % (y_hat.shape,))
    except (AssertionError, ValueError, RuntimeError, mx.base.MXNetError,
            KeyError) as e:
        raise DataError('%s does not hold the parameters of %s '
                        '(num_classes=%d, in_channels=%d): %s'
                        % (path, info['model'], info['num_classes'],
                           info['in_channels'], mxnet_summary(e))
                        ) from None
    return net, info


# ---------------------------------------------------------- training

class SlowRunNote:
    """After a few batches, estimate the run's length; say if it is long."""

    def __init__(self, ctx, batches_per_epoch, num_epochs, start_epoch,
                 model, after=3, quick=False):
        # quick: this run is already the quick one (cpu recipe, mnist5k)
        self.ctx, self.after, self.quick = ctx, after, quick
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
                hint = ('for a quick run that learns try: python -m '
                        'd2l_cnn.train %s --data mnist5k --recipe cpu'
                        % self.model)
                if self.quick:
                    hint = 'fewer --num-epochs make it shorter'
                print('note: at %.2f s per batch this run will take about '
                      '%s on the CPU; %s' % (per_batch, _duration(eta),
                                             hint), file=sys.stderr)


def _duration(seconds):
    if seconds >= 3600:
        return '%.1f hours' % (seconds / 3600)
    return '%d minutes' % round(seconds / 60)


def _materialise(net, train_iter, ctx):
    """Run one batch forward so deferred parameter shapes are known."""
    for X, _ in train_iter:
        net(X[:1].as_in_context(ctx[0]))
        return


def _changes(saved, now):
    """``{name: [saved value, this run's]}`` for every differing setting."""
    saved = saved if isinstance(saved, dict) else {}
    return {k: [saved.get(k), now[k]] for k in RESUME_KEYS
            if saved.get(k) != now[k]}


def _describe_changes(changed):
    return ', '.join('%s %s -> %s' % (k, json.dumps(old), json.dumps(new))
                     for k, (old, new) in changed.items())


def resume_checkpoint(out, net, trainer, expect, now, allow_changes=False):
    """Load the newest checkpoint of ``out`` that loads; ``(meta, changes)``.

    Damaged checkpoints (unreadable files, wrong types, no
    ``trainer.states``) are skipped with a note. The settings ``now``
    must equal those the checkpoint was saved with, unless
    ``allow_changes``; then a missing ``trainer.states`` is accepted too
    (the optimizer's momentum restarts, said in a note).
    """
    folders = checkpoint.candidates(out)
    if not folders:
        raise UsageError('--resume: no checkpoint in %s (no epoch was '
                         'saved); start a run there without --resume'
                         % out)
    skipped = []
    for folder in folders:
        missing = (trainer is not None and not os.path.isfile(
            os.path.join(folder, 'trainer.states')))
        try:
            meta = checkpoint.load(folder, net, trainer, expect,
                                   need_states=not allow_changes)
        except checkpoint.DamagedCheckpoint as e:
            skipped.append(str(e))
            print('note: %s: skipped' % e, file=sys.stderr)
            continue
        changed = _changes(meta.get('settings'), now)
        if changed and not allow_changes:
            raise UsageError(
                '--resume: %s was saved with other settings (%s); resume '
                'with the same options, or add --allow-changes to change '
                'them (recorded in run.json)'
                % (folder, _describe_changes(changed)))
        if changed:
            print('note: resuming with changed settings: %s'
                  % _describe_changes(changed), file=sys.stderr)
        if missing:
            print('note: %s has no trainer.states: the optimizer starts '
                  'afresh (momentum restarts)' % folder, file=sys.stderr)
        if folder != folders[0]:
            print('note: resuming from the older checkpoint %s'
                  % folder, file=sys.stderr)
        return folder, meta, changed
    raise D2LError('--resume: no checkpoint in %s can be loaded (%s); '
                   'move the checkpoints folder away to start afresh, or '
                   'choose another --out' % (out, '; '.join(skipped)))


def _valid_segments(saved, start_epoch):
    """The saved settings per epoch that make sense, in order; the others
    are skipped with a note (a hand-edited meta.json)."""
    kept, skipped = [], []
    for seg in saved:
        first = seg.get('from_epoch') if isinstance(seg, dict) else None
        if (isinstance(first, int) and not isinstance(first, bool)
                and 1 <= first <= start_epoch
                and first > (kept[-1]['from_epoch'] if kept else 0)):
            kept.append(seg)
        else:
            skipped.append(seg)
    if skipped:
        print('note: skipped %d entries of the saved settings per epoch '
              '("segments") that are not in order from epoch 1 to %d'
              % (len(skipped), start_epoch), file=sys.stderr)
    return kept


def _segments(segments, num_epochs):
    """run.json's settings per epoch: ``[{epochs: [first, last], ...}]``."""
    rows = []
    for i, seg in enumerate(segments):
        end = (segments[i + 1]['from_epoch'] - 1 if i + 1 < len(segments)
               else num_epochs)
        rows.append(dict({k: v for k, v in seg.items()
                          if k != 'from_epoch'},
                         epochs=[seg['from_epoch'], end]))
    return rows


def train_run(s, out, resume=False, kvstore=None, hybridize=True,
              amp=False, progress=None, state=None, command=None,
              allow_changes=False, force=False):
    """Train as the settings ``s`` say into the folder ``out``.

    Writes metrics, curves and a checkpoint after every epoch, and
    ``model.params`` and ``run.json`` at the end; ``resume`` continues
    from the newest checkpoint in ``out`` that loads, with the same
    settings unless ``allow_changes``. The folder is locked meanwhile
    (``RunLock``). ``kvstore`` names how gradients are combined
    (``dist_sync``: one process of a launch job; only rank 0 writes).
    ``state`` (a dict) receives the kvstore, so a failing ``dist_sync``
    worker can leave without waiting for the others. ``force`` trains
    into a folder holding files no run writes (``prepare_out``).
    Returns the history (one dict per epoch).
    """
    state = {} if state is None else state
    ctx = s.contexts
    check_resize(s)
    if amp and ctx[0].device_type != 'gpu':
        raise UsageError('--amp trains in float16 and needs a GPU '
                         '(--ctx gpu)')
    kv, rank = None, 0
    if kvstore:
        kv = state['kv'] = create_kvstore(kvstore)
        rank = kv.rank
    state['rank'] = rank
    if rank != 0:  # only rank 0 writes the folder
        return _train(s, out, resume, kv, hybridize, amp, progress,
                      command, allow_changes)
    created = not os.path.exists(out)
    make_out(out)
    try:
        with RunLock(out):
            prepare_out(out, resume, force)
            return _train(s, out, resume, kv, hybridize, amp, progress,
                          command, allow_changes)
    except BaseException:
        if created:  # an error before the first epoch: no empty folder
            _remove_empty(out)
        raise


def _remove_empty(out):
    """Remove ``out`` (and its ``checkpoints/``) if nothing is in it."""
    for folder in (os.path.join(out, checkpoint.FOLDER), out):
        try:
            os.rmdir(folder)  # only when empty
        except OSError:
            pass


def _train(s, out, resume, kv, hybridize, amp, progress, command,
           allow_changes):
    ctx = s.contexts
    rank, num_workers = (kv.rank, kv.num_workers) if kv else (0, 1)
    distributed = kv is not None and 'dist' in kv.type
    if amp:
        mx_amp.init()  # before the network is built
    seed_everything(s.seed)
    train_iter, test_iter = s.load_data(ctx[0])
    if num_workers > 1:
        train_iter = train_iter.shard(num_workers, rank)
    net = get_model(s.model, num_classes=s.num_classes)
    net.initialize(s.initializer, ctx=ctx)
    if hybridize and get_entry(s.model).hybrid:
        net.hybridize(static_alloc=True)
    trainer = s.make_trainer(net, kv, len(train_iter))
    if amp:
        mx_amp.init_trainer(trainer)
    expect = {'model': s.model, 'num_classes': s.num_classes,
              'in_channels': s.in_channels}
    now = {k: v for k, v in s.asdict().items() if k in RESUME_KEYS}
    history, start_epoch = [], 0
    segments = [{'from_epoch': 1, 'settings': now}]
    if resume:
        # shapes are deferred until the first batch: run one to fix them
        _materialise(net, train_iter, ctx)
        # dist_sync keeps the optimizer state on the servers: only the
        # parameters were saved (momentum restarts after --resume)
        folder, meta, changed = resume_checkpoint(
            out, net, None if distributed else trainer, expect, now,
            allow_changes)
        history, start_epoch = meta['history'], meta['epoch']
        saved = meta.get('segments')
        if not isinstance(saved, list) or not saved:
            saved = [{'from_epoch': 1, 'settings': meta.get('settings')}]
        segments = _valid_segments(saved, start_epoch) or [
            {'from_epoch': 1, 'settings': meta.get('settings')}]
        if changed:
            segments.append({'from_epoch': start_epoch + 1,
                             'settings': now, 'changed': changed,
                             'by': '--allow-changes'})
        print('resuming from epoch %d (%s)' % (start_epoch, folder))
        if start_epoch >= s.num_epochs and is_finished(out):
            # nothing to train: run.json keeps what ran, and when
            print('%s has finished its %d epochs: nothing to resume, '
                  'nothing rewritten' % (out, start_epoch))
            return history
    run_info = dict(expect, data=s.data, resize=s.resize,
                    recipe=s.asdict(), seed=s.seed,
                    ctx=[str(c) for c in ctx],
                    kvstore=kv.type if kv else None,
                    num_workers=num_workers, versions=versions(),
                    command=list(sys.argv if command is None else command),
                    started=time.strftime('%Y-%m-%d %H:%M:%S'))
    started = time.time()

    def save_epoch(record):
        history.append(record)
        if rank != 0:
            return
        checkpoint.save(out, record['epoch'], net,
                        None if distributed else trainer,
                        dict(expect, history=history, seed=s.seed,
                             settings=now, segments=segments))
        write_metrics(out, history)

    print('%s on %s: lr %g, batch size %d, resize %d, %d epochs, %s'
          % (s.model, s.data, s.lr, s.batch_size, s.resize, s.num_epochs,
             s.optimizer))
    train_ch5(net, train_iter, test_iter if rank == 0 else None,
              s.batch_size, trainer, ctx, s.num_epochs,
              callbacks=[save_epoch], start_epoch=start_epoch,
              verbose=rank == 0, seed=s.seed, progress=progress,
              batch_scale=num_workers, amp=amp, fixed_batch=distributed,
              batch_callbacks=[SlowRunNote(ctx, len(train_iter),
                                           s.num_epochs, start_epoch,
                                           s.model, quick=s.quick and
                                           s.data == 'mnist5k')])
    if rank == 0:
        checkpoint.atomic_save(net, os.path.join(out, 'model.params'))
        run_info.update(elapsed=time.time() - started,
                        finished=time.strftime('%Y-%m-%d %H:%M:%S'),
                        final=history[-1] if history else None,
                        settings_per_epoch=_segments(
                            segments, len(history)))
        checkpoint.atomic_write(os.path.join(out, 'run.json'),
                                json.dumps(run_info, indent=1))
    return history
