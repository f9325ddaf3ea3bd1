"""Per-epoch checkpoints that a kill at any instant cannot break.

A checkpoint is a folder ``checkpoints/epoch-0003`` in the run's output
folder holding the parameters, the trainer (optimizer) state and
``meta.json`` (epoch, history, model, settings, ...). It is written
under a temporary name and renamed into place, so a run killed at any
moment leaves the previous checkpoint or the new one, never half of
one. ``candidates`` lists the complete ones newest first; ``load``
refuses one whose files are damaged (``DamagedCheckpoint``) or whose
optimizer state is missing (``MissingStates``), so that a resume can
fall back to an older one.
"""
import json
import os
import re
import shutil
import tempfile

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


def atomic_write(path, data):
    """Write ``data`` (str or bytes) to ``path`` via a temporary file."""
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
    root = os.path.join(out_dir, FOLDER)
    os.makedirs(root, exist_ok=True)
    final = os.path.join(root, EPOCH % epoch)
    tmp = tempfile.mkdtemp(prefix='.tmp-', dir=root)
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp's folder is private
        net.save_parameters(os.path.join(tmp, PARAMS))
        if trainer is not None:  # None: the states live elsewhere
            trainer.save_states(os.path.join(tmp, STATES))
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
        with open(os.path.join(folder, META), encoding='utf-8') as f:
            meta = json.load(f)
    except (OSError, ValueError) as e:
        raise DamagedCheckpoint('checkpoint %s is unreadable (%s)'
                                % (folder, e)) from None
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
    try:
        net.load_parameters(os.path.join(folder, PARAMS),
                            ctx=net_ctx(net))
        if trainer is not None and os.path.isfile(states):
            trainer.load_states(states)
    except Exception as e:  # MXNet raises many kinds here
        raise DamagedCheckpoint('checkpoint %s does not fit this network '
                                '(%s)' % (folder, mxnet_summary(e))
                                ) from None
    return meta
