"""A run folder: its layout, its lock, its state; reading it back.

``fit.train_run`` writes a run folder, ``read_run`` / ``load_run`` read
it back (for ``predict`` and ``export``). A run folder holds::

    run.json                 what ran (settings, versions), how long, final
    metrics.csv, .json       one row per epoch
    curves.png               train loss, train acc, test acc
    model.params             the final parameters
    checkpoints/epoch-NNNN/  the newest epochs (d2l_cnn.checkpoint)
    .lock                    while a command writes it (``RunLock``)

A folder is in one of three states (``folder_state``): ``new`` (nothing
of a run: a plain run may start there), ``epoch`` (a complete epoch is
saved: ``--resume`` continues it) or ``finished``.
"""
import csv
import functools
import io
import json
import os
import platform
import re
import socket
import sys
import tempfile

try:
    import fcntl
except ImportError:  # not POSIX: run folders are not locked
    fcntl = None

import mxnet as mx
import numpy as np
from mxnet import nd

from . import __version__, checkpoint, data, safeio
from .devices import MAX_SEED
from .errors import D2LError, DataError, UsageError, mxnet_summary
from .plots import curves_figure, png_bytes
from .registry import get_model, get_recipe
from .settings import MAX_RESIZE


# The names in a run folder; a checkpoint's are in d2l_cnn.checkpoint.
RUN_JSON = 'run.json'
METRICS_JSON = 'metrics.json'
METRICS_CSV = 'metrics.csv'
CURVES_PNG = 'curves.png'
PREDICTIONS_PNG = 'predictions.png'   # written by d2l_cnn.predict
EXPLAIN_PNG = 'explain-%s.png'         # predict --explain KIND
# compare's folder: one run folder per network and seed
SEED_RUN = '%s-seed%d'
SEED_RUN_NAME = re.compile(r'^(?P<name>.+)-seed(?P<seed>\d+)$')
RUN_FILES = (RUN_JSON, METRICS_JSON, checkpoint.FOLDER)


LOCK = '.lock'


# the columns of metrics.csv: the keys of train_ch5's records
METRICS = checkpoint.HISTORY_KEYS


class RunDir:
    """The run folder ``out``: each of its files as an attribute.

    ``RunDir(out).run_json`` is ``out/run.json``, ``.params`` the final
    ``model.params``, ``.checkpoints`` the checkpoints' folder, and so
    on; the methods are this module's functions applied to ``out``.
    """

    def __init__(self, out):
        self.out = os.fspath(out)
        join = functools.partial(os.path.join, self.out)
        self.run_json = join(RUN_JSON)
        self.metrics_json = join(METRICS_JSON)
        self.metrics_csv = join(METRICS_CSV)
        self.curves_png = join(CURVES_PNG)
        self.predictions_png = join(PREDICTIONS_PNG)
        self.params = join(checkpoint.PARAMS)
        self.checkpoints = join(checkpoint.FOLDER)
        self.lock_file = join(LOCK)

    def explain_png(self, kind):
        """``out/explain-KIND.png``: ``predict --explain KIND``'s picture."""
        return os.path.join(self.out, EXPLAIN_PNG % kind)

    def __fspath__(self):
        return self.out

    def __repr__(self):
        return 'RunDir(%r)' % self.out

    def lock(self):
        """``with rundir.lock():`` (see ``RunLock``)."""
        return RunLock(self.out)

    def state(self):
        """'new', 'epoch' or 'finished' (see ``folder_state``)."""
        return folder_state(self.out)

    def last_saved(self):
        return last_saved(self.out)

    def is_finished(self):
        return is_finished(self.out)

    def read_metrics(self):
        return read_metrics(self.out)

    def write_metrics(self, history):
        write_metrics(self.out, history)

    def read(self):
        """``run.json`` with defaults filled in (``read_run``)."""
        return read_run(self.out)

    def load(self, ctx=None):
        """``(net, info)``: the trained network (``load_run``)."""
        return load_run(self.out, ctx)


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
        self.out, self.path, self.fd = out, RunDir(out).lock_file, None

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
    held = [f for f in (RUN_JSON, METRICS_JSON)
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


def write_metrics(out, history):
    """Per-epoch metrics as CSV and JSON, and the curves as a PNG."""
    checkpoint.atomic_write(RunDir(out).metrics_json,
                            json.dumps(history, indent=1))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=METRICS, lineterminator='\n')
    writer.writeheader()
    for record in history:
        writer.writerow({k: record[k] for k in METRICS})
    checkpoint.atomic_write(RunDir(out).metrics_csv,
                            buf.getvalue())
    checkpoint.atomic_write(RunDir(out).curves_png,
                            png_bytes(curves_figure(history)))


def read_metrics(out):
    """The per-epoch history of a run folder ([] before its first epoch)."""
    path = RunDir(out).metrics_json
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
    path = RunDir(run_dir).run_json
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
                           ('seed', 0, MAX_SEED)):
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
    path = RunDir(run_dir).params
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
