"""Opening files in folders we do not own outright, safely.

A run folder is untrusted input: a classmate's copy, a shared course
folder. Any name in it may be a symbolic link (to a file of the user's
to destroy), a hard link to one, a FIFO (that blocks a reader forever),
a device (``/dev/zero``: endless) or a file of any size. The package
writes there only through a temporary file renamed into place
(``checkpoint.atomic_write``) or, for the lock file, through
``open_lock``; it reads the small text files there through
``read_text``.
"""
import os
import stat

from .errors import D2LError, DataError

NOFOLLOW = getattr(os, 'O_NOFOLLOW', 0)
NONBLOCK = getattr(os, 'O_NONBLOCK', 0)
# run.json, meta.json, metrics.json: a few kB each
MAX_TEXT = 64 * 2 ** 20


def open_lock(path):
    """A descriptor of the lock file ``path``, opened read-write without
    following a symbolic link, created if absent (mode 0644).

    Raises ``D2LError`` when ``path`` is a symbolic link, not a regular
    file, or a hard link to another file: writing the owner's name into
    it would destroy that file.
    """
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | NOFOLLOW | NONBLOCK,
                     0o644)
    except OSError as e:
        if os.path.islink(path):
            raise D2LError('%s is a symbolic link, not a lock file of ours; '
                           'remove it (its target is left as it is)'
                           % path) from None
        raise D2LError('cannot open the lock file %s (%s)'
                       % (path, e.strerror or e)) from None
    info = os.fstat(fd)
    problem = None
    if not stat.S_ISREG(info.st_mode):
        problem = 'is not a regular file'
    elif info.st_nlink != 1:
        problem = 'is a hard link to another file (%d names)' % (
            info.st_nlink)
    if problem:
        os.close(fd)
        raise D2LError('%s %s, not a lock file of ours; remove it (the '
                       'file it names is left as it is)' % (path, problem))
    return fd


def read_text(path, limit=MAX_TEXT):
    """The text of the regular file ``path`` (UTF-8, at most ``limit``
    bytes); a FIFO, a device or a larger file raises ``DataError``.

    ``FileNotFoundError`` passes through.
    """
    fd = os.open(path, os.O_RDONLY | NONBLOCK)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise DataError('%s is not a regular file' % path)
        if info.st_size > limit:
            raise DataError('%s is %d bytes, more than a run writes there '
                            '(%d)' % (path, info.st_size, limit))
        with os.fdopen(fd, 'rb', closefd=False) as f:
            data = f.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise DataError('%s grew beyond %d bytes' % (path, limit))
    return data.decode('utf-8')
