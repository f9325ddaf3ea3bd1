"""Per-epoch checkpoints that a kill at any instant cannot break.

A checkpoint is a folder ``checkpoints/epoch-0003`` in the run's output
folder holding the parameters, the trainer (optimizer) state as data
(``trainer.states`` arrays and ``trainer.json``: see ``save_states``;
never a pickle) and ``meta.json`` (epoch, history, model, settings,
...). It is written
under a temporary name and renamed into place, so a run killed at any
moment leaves the previous checkpoint or the new one, never half of
one. ``candidates`` lists the complete ones newest first; ``load``
refuses one whose files are damaged (``DamagedCheckpoint``) or whose
optimizer state is missing (``MissingStates``), so that a resume can
fall back to an older one.
"""
import contextlib
import errno
import io
import json
import os
import pickle
import re
import shutil
import tempfile

import mxnet as mx

from . import safeio
from .devices import net_ctx
from .errors import D2LError, UsageError, mxnet_summary

# The names in a run folder (the rest are in d2l_cnn.rundir): the
# checkpoints' folder, one folder per epoch, the files of each.
FOLDER = 'checkpoints'
EPOCH = 'epoch-%04d'
PARAMS = 'model.params'      # also the run's final parameters
STATES = 'trainer.states'
META = 'meta.json'
HISTORY_KEYS = ('epoch', 'loss', 'train_acc', 'test_acc', 'time',
                'examples_per_sec')
_NAME = re.compile(r'^epoch-(\d{4,})$')
KEEP = 2
# the optimizer's state: its arrays (``nd.save``, data only) and how
# they fit together with its step counters (JSON); both are plain data
# that loading cannot turn into code (MXNet's own ``save_states`` is a
# pickle, and unpickling a planted file runs its code)
STATES_LAYOUT = 'trainer.json'


class DiskFull(D2LError):
    """No space left on the disk (or quota) while writing ``path``."""

    def __init__(self, path, message=None):
        super().__init__(message or 'no space left on the disk to write %s'
                         % path)
        self.path = path


@contextlib.contextmanager
def writing(path):
    """Turn a full disk while writing ``path`` into ``DiskFull``: MXNet
    says 'FileStream.Write incomplete', Python ENOSPC or EDQUOT."""
    try:
        yield
    except OSError as e:
        if e.errno in (errno.ENOSPC, getattr(errno, 'EDQUOT', -1)):
            raise DiskFull(path) from None
        raise
    except mx.base.MXNetError as e:
        if 'Write incomplete' in str(e) or 'No space' in str(e):
            raise DiskFull(path) from None
        raise


def atomic_write(path, data):
    """Write ``data`` (str or bytes) to ``path`` via a temporary file."""
    with writing(path):
        _atomic_write(path, data)


def _atomic_write(path, data):
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix='.tmp-', dir=folder)
    try:
        # mkstemp makes the file private (0600); give it the usual mode
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, 'wb') as f:
            f.write(data.encode('utf-8') if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise


def atomic_save(net, path):
    """``net.save_parameters(path)`` via a temporary file and a rename."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix='.tmp-', suffix='.params', dir=folder)
    os.close(fd)
    try:
        with writing(path):
            net.save_parameters(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _remove(path):
    try:
        if os.path.isdir(path):
            shutil.rmtree(path)
        else:
            os.remove(path)
    except OSError:
        pass


def save(out_dir, epoch, net, trainer, meta):
    """Save the state after ``epoch`` complete epochs; returns its folder.

    ``trainer=None`` saves the parameters only (under ``dist_sync`` the
    optimizer's state lives on the servers).
    """
    if not os.path.isdir(out_dir):
        # never recreate it: another command may own the new one
        raise D2LError('the run folder %s was removed while this run '
                       'wrote it; stopped without writing more' % out_dir)
    root = check_folder(out_dir)
    if not os.path.isdir(root):
        os.mkdir(root)
    final = os.path.join(root, EPOCH % epoch)
    tmp = tempfile.mkdtemp(prefix='.tmp-', dir=root)
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp's folder is private
        with writing(final):
            net.save_parameters(os.path.join(tmp, PARAMS))
            if trainer is not None:  # None: the states live elsewhere
                save_states(trainer, tmp)
            for name in os.listdir(tmp):
                with open(os.path.join(tmp, name), 'rb') as f:
                    os.fsync(f.fileno())
        atomic_write(os.path.join(tmp, META),
                     json.dumps(dict(meta, epoch=epoch,
                                     trainer_states=trainer is not None),
                                indent=1))
        if os.path.exists(final):  # the same epoch, run again
            _remove(final)
        os.rename(tmp, final)
    except BaseException:
        _remove(tmp)
        raise
    _prune(root)
    return final


def check_folder(out_dir):
    """``out_dir/checkpoints``, refused (``D2LError``) when it is a
    symbolic link or not a folder: the clean-up of leftovers deletes in
    it, and must never delete in a folder elsewhere."""
    root = os.path.join(out_dir, FOLDER)
    if os.path.islink(root) or (os.path.lexists(root)
                                and not os.path.isdir(root)):
        raise D2LError('%s is %s, not a folder of checkpoints; move it '
                       'away (nothing in it was touched)'
                       % (root, 'a symbolic link' if os.path.islink(root)
                          else 'a file'))
    return root


def _complete(root):
    """(epoch, folder) of every complete checkpoint, oldest first."""
    found = []
    for name in os.listdir(root):
        match = _NAME.match(name)
        folder = os.path.join(root, name)
        if match and os.path.isfile(os.path.join(folder, META)):
            found.append((int(match.group(1)), folder))
    return sorted(found)


def _prune(root):
    """Keep the newest ``KEEP`` checkpoints; drop leftovers of kills."""
    for name in os.listdir(root):
        if name.startswith('.tmp-'):
            _remove(os.path.join(root, name))
    for _, folder in _complete(root)[:-KEEP]:
        _remove(folder)


def candidates(out_dir):
    """Folders of the complete checkpoints in ``out_dir``, newest first."""
    root = os.path.join(out_dir, FOLDER)
    if not os.path.isdir(root):
        return []
    return [folder for _, folder in reversed(_complete(root))]


def latest(out_dir):
    """Folder of the newest complete checkpoint in ``out_dir``, or None."""
    found = candidates(out_dir)
    return found[0] if found else None


class DamagedCheckpoint(D2LError):
    """A checkpoint whose files cannot be read or loaded."""


class MissingStates(DamagedCheckpoint):
    """A checkpoint without the optimizer state (``trainer.states``)."""


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def read_meta(folder):
    """The ``meta.json`` of a checkpoint folder, its types checked.

    Raises ``DamagedCheckpoint`` when it cannot be read or holds values
    of the wrong types (a hand-edited or truncated file).
    """
    try:
        meta = json.loads(safeio.read_text(os.path.join(folder, META)))
    except (OSError, ValueError, RecursionError, D2LError) as e:
        raise DamagedCheckpoint('checkpoint %s is unreadable (%s)'
                                % (folder, e if str(e) else
                                   type(e).__name__)) from None
    match = _NAME.match(os.path.basename(folder))
    problem = None
    if not isinstance(meta, dict):
        problem = 'meta.json is not an object'
    elif not _is_int(meta.get('epoch')) or meta['epoch'] < 1 or (
            match and int(match.group(1)) != meta['epoch']):
        problem = 'its epoch is %r' % (meta.get('epoch'),)
    elif not isinstance(meta.get('history'), list) or len(
            meta['history']) != meta['epoch'] or not all(
            isinstance(r, dict) and all(_is_number(r.get(k))
                                        for k in HISTORY_KEYS)
            for r in meta['history']):
        problem = 'its history is not one record per epoch'
    elif 'settings' in meta and not isinstance(meta['settings'], dict):
        problem = 'its settings are not an object'
    if problem:
        raise DamagedCheckpoint('checkpoint %s is damaged (%s)'
                                % (folder, problem))
    return meta


def load(folder, net, trainer, expect, need_states=True):
    """Load a checkpoint into ``net`` and ``trainer``; returns its meta.

    ``expect`` maps meta keys (model, num_classes, ...) to the values of
    this run: a checkpoint of another network is refused (UsageError),
    not loaded. Damaged files raise ``DamagedCheckpoint``; a missing
    ``trainer.states`` (when ``trainer`` is given) ``MissingStates``
    unless ``need_states`` is False (the optimizer then starts afresh).
    """
    meta = read_meta(folder)
    for key, value in expect.items():
        if meta.get(key) != value:
            raise UsageError(
                'cannot resume: the checkpoint in %s has %s=%r, this run '
                'has %s=%r' % (folder, key, meta.get(key), key, value))
    states = os.path.join(folder, STATES)
    if trainer is not None and need_states and not os.path.isfile(states):
        raise MissingStates(
            'checkpoint %s has no trainer.states (the optimizer\'s '
            'momentum and step count)' % folder)
    if not os.path.isfile(os.path.join(folder, PARAMS)):
        # missing, or a FIFO / device MXNet would read for ever
        raise DamagedCheckpoint('checkpoint %s has no model.params file'
                                % folder)
    try:
        net.load_parameters(os.path.join(folder, PARAMS),
                            ctx=net_ctx(net))
        if trainer is not None and os.path.isfile(states):
            load_states(trainer, folder)
    except DamagedCheckpoint:
        raise
    except Exception as e:  # MXNet raises many kinds here
        raise DamagedCheckpoint('checkpoint %s does not fit this network '
                                '(%s)' % (folder, mxnet_summary(e))
                                ) from None
    return meta


# ------------------------------------------- the optimizer's state

def _updaters(trainer):
    """The ``Updater``s holding ``trainer``'s optimizer state."""
    if not trainer._kv_initialized:
        trainer._init_kvstore()
    if trainer._params_to_init:
        trainer._init_params()
    if trainer._update_on_kvstore:
        return [trainer._kvstore._updater]
    return trainer._updaters


def _encode(state, name, arrays):
    """An optimizer state as JSON: each array becomes its name in
    ``arrays`` (filled here), tuples and lists ``{type: [...]}``."""
    if state is None:
        return None
    if isinstance(state, mx.nd.NDArray):
        arrays[name] = state
        return name
    if isinstance(state, (tuple, list)):
        return {type(state).__name__: [
            _encode(s, '%s.%d' % (name, i), arrays)
            for i, s in enumerate(state)]}
    raise ValueError('an optimizer state of type %s'
                     % type(state).__name__)


def save_states(trainer, folder):
    """Write ``trainer``'s optimizer state into ``folder`` as data.

    ``trainer.states`` holds the state arrays (momentum, Adam's moments)
    through ``nd.save``; ``trainer.json`` their layout per parameter and
    the step counters (``num_update`` and the per-parameter counts that
    Adam's bias correction and the lr schedule read). MXNet's schedules
    are functions of ``num_update``, so nothing else is needed.
    """
    updater = _updaters(trainer)[0]
    optimizer = updater.optimizer
    arrays = {}

    def encode(state, name):
        return _encode(state, name, arrays)

    layout = {
        'format': 1,
        'num_update': optimizer.num_update,
        'counts': [[device, sorted(counts.items())] for device, counts in
                   sorted(optimizer._all_index_update_counts.items())],
        'states': [[idx, encode(state, 'state:%s' % idx)]
                   for idx, state in sorted(updater.states.items())]}
    mx.nd.save(os.path.join(folder, STATES), arrays)
    with open(os.path.join(folder, STATES_LAYOUT), 'w') as f:
        json.dump(layout, f)


def _whole(value, low=0):
    if not _is_int(value) or value < low:
        raise ValueError('%r is not a count' % (value,))
    return value


def _decode(tree, arrays, shape, depth=0):
    """A state from its layout: None, an array name, {tuple|list: [...]}."""
    if tree is None:
        return None
    if isinstance(tree, str):
        array = arrays[tree]
        if array.shape != shape:
            raise ValueError('%s has shape %s, its parameter %s'
                             % (tree, array.shape, shape))
        return array
    if isinstance(tree, dict) and len(tree) == 1 and depth < 4:
        (kind, items), = tree.items()
        if kind in ('tuple', 'list') and isinstance(items, list):
            items = [_decode(t, arrays, shape, depth + 1) for t in items]
            return tuple(items) if kind == 'tuple' else items
    raise ValueError('unknown state %.60r' % (tree,))


def _read_layout(folder):
    """(states by index, counters) from the data-only format."""
    layout = json.loads(safeio.read_text(os.path.join(folder,
                                                      STATES_LAYOUT)))
    arrays = mx.nd.load(os.path.join(folder, STATES))
    arrays = arrays if isinstance(arrays, dict) else {}
    if not isinstance(layout, dict) or layout.get('format') != 1:
        raise ValueError('%s is not a layout of format 1' % STATES_LAYOUT)
    states = dict((_whole(idx), tree) for idx, tree in layout['states'])
    counts = {_whole(device): {_whole(idx): _whole(n) for idx, n in pairs}
              for device, pairs in layout['counts']}
    return states, arrays, _whole(layout['num_update']), counts


class _StatesUnpickler(pickle.Unpickler):
    """Unpickles only what MXNet's ``trainer.states`` holds: arrays,
    bytearrays, optimizers and lr schedulers (no function, no code)."""

    def find_class(self, module, name):
        allowed = {('mxnet.ndarray.ndarray', 'NDArray'): mx.nd.NDArray,
                   ('builtins', 'bytearray'): bytearray}
        if (module, name) in allowed:
            return allowed[module, name]
        for kind, home in ((mx.optimizer.Optimizer,
                            'mxnet.optimizer.optimizer'),
                           (mx.lr_scheduler.LRScheduler,
                            'mxnet.lr_scheduler')):
            found = getattr(mx.optimizer if kind is mx.optimizer.Optimizer
                            else mx.lr_scheduler, name, None)
            if (module == home and isinstance(found, type)
                    and issubclass(found, kind)):
                return found
        raise pickle.UnpicklingError('it names %s.%s, which no optimizer '
                                     'state holds' % (module, name))


def _read_legacy(folder):
    """(states, arrays, num_update, counts) from MXNet's pickle, read
    with ``_StatesUnpickler``: plain data or a refusal."""
    with open(os.path.join(folder, STATES), 'rb') as f:
        value = _StatesUnpickler(io.BytesIO(f.read())).load()
    states, optimizer = value if isinstance(value, tuple) else (value, None)
    if not isinstance(states, dict) or not isinstance(
            optimizer, mx.optimizer.Optimizer):
        raise ValueError('it holds no optimizer')
    arrays = {}
    trees = {_whole(idx): _encode(state, str(idx), arrays)
             for idx, state in states.items()}
    counts = {_whole(device): {_whole(idx): _whole(n) for idx, n in
                               pairs.items()}
              for device, pairs in vars(optimizer).get(
                  '_all_index_update_counts', {}).items()}
    return trees, arrays, _whole(vars(optimizer).get('num_update')), counts


def load_states(trainer, folder):
    """Restore ``trainer``'s optimizer state saved by ``save_states``.

    A ``trainer.states`` of MXNet's own format (a pickle, from before
    ``trainer.json``) is read only if it holds nothing but arrays,
    optimizers and schedulers; anything else is refused
    (``DamagedCheckpoint``), never run.
    """
    legacy = not os.path.isfile(os.path.join(folder, STATES_LAYOUT))
    try:
        if legacy:
            read = _read_legacy(folder)
        else:
            read = _read_layout(folder)
        trees, arrays, num_update, counts = read
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError,
            IndexError, KeyError, TypeError, ValueError, RecursionError,
            mx.base.MXNetError, OSError, D2LError) as e:
        raise DamagedCheckpoint(
            'checkpoint %s: refused its %s (%s)'
            % (folder, STATES, mxnet_summary(e) if str(e) else
               type(e).__name__)) from None
    updaters = _updaters(trainer)
    params = trainer._params
    try:
        for updater in updaters:
            # each updater its own arrays: they move to its device
            own = {k: v.copy() for k, v in arrays.items()}
            updater.states = {
                idx: _decode(tree, own, params[idx].shape)
                for idx, tree in trees.items()}
            updater.states_synced = dict.fromkeys(updater.states, False)
    except (IndexError, KeyError, ValueError) as e:
        raise DamagedCheckpoint('checkpoint %s: %s does not fit this '
                                'network (%s)' % (folder, STATES, e)
                                ) from None
    optimizer = updaters[0].optimizer
    optimizer.num_update = num_update
    optimizer._all_index_update_counts = counts or {0: {}}
    optimizer._index_update_count = optimizer._all_index_update_counts[
        min(optimizer._all_index_update_counts)]
