"""Per-epoch checkpoints that a kill at any instant cannot break.

A checkpoint is a folder ``checkpoints/epoch-0003`` in the run's output
folder holding the parameters, the trainer (optimizer) state and
``meta.json`` (epoch, history, model, ...). It is written under a
temporary name and renamed into place, so a run killed at any moment
leaves the previous checkpoint or the new one, never half of one.
"""
import json
import os
import re
import shutil
import tempfile

from .errors import D2LError, UsageError
from .train import net_ctx

FOLDER = 'checkpoints'
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
    final = os.path.join(root, 'epoch-%04d' % epoch)
    tmp = tempfile.mkdtemp(prefix='.tmp-', dir=root)
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp's folder is private
        net.save_parameters(os.path.join(tmp, 'model.params'))
        if trainer is not None:  # None: the states live elsewhere
            trainer.save_states(os.path.join(tmp, 'trainer.states'))
        for name in os.listdir(tmp):
            with open(os.path.join(tmp, name), 'rb') as f:
                os.fsync(f.fileno())
        atomic_write(os.path.join(tmp, 'meta.json'),
                     json.dumps(dict(meta, epoch=epoch), indent=1))
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
        if match and os.path.isfile(os.path.join(folder, 'meta.json')):
            found.append((int(match.group(1)), folder))
    return sorted(found)


def _prune(root):
    """Keep the newest ``KEEP`` checkpoints; drop leftovers of kills."""
    for name in os.listdir(root):
        if name.startswith('.tmp-'):
            _remove(os.path.join(root, name))
    for _, folder in _complete(root)[:-KEEP]:
        _remove(folder)


def latest(out_dir):
    """Folder of the newest complete checkpoint in ``out_dir``, or None."""
    root = os.path.join(out_dir, FOLDER)
    if not os.path.isdir(root):
        return None
    found = _complete(root)
    return found[-1][1] if found else None


def read_meta(folder):
    """The ``meta.json`` of a checkpoint folder."""
    try:
        with open(os.path.join(folder, 'meta.json'), encoding='utf-8') as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise D2LError('checkpoint %s is unreadable (%s)' % (folder, e))


def load(folder, net, trainer, expect):
    """Load a checkpoint into ``net`` and ``trainer``; returns its meta.

    ``expect`` maps meta keys (model, num_classes, ...) to the values of
    this run: a checkpoint of another network is refused, not loaded.
    """
    meta = read_meta(folder)
    for key, value in expect.items():
        if meta.get(key) != value:
            raise UsageError(
                'cannot resume: the checkpoint in %s has %s=%r, this run '
                'has %s=%r' % (folder, key, meta.get(key), key, value))
    try:
        net.load_parameters(os.path.join(folder, 'model.params'),
                            ctx=net_ctx(net))
        states = os.path.join(folder, 'trainer.states')
        if trainer is not None and os.path.exists(states):
            trainer.load_states(states)
    except Exception as e:  # MXNet raises many kinds here
        raise D2LError('checkpoint %s does not fit this network (%s)'
                       % (folder, str(e).strip().splitlines()[0]))
    return meta
