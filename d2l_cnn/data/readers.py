"""File formats: IDX (MNIST, Fashion-MNIST) and CIFAR-10 binary batches.

Readers return numpy arrays and turn anything malformed into one
``DataError`` naming the file; they never write.
"""
import gzip
import os
import tarfile
import zlib

import numpy as np

from ..errors import DataError
from . import files as _files
from .files import open_regular, private_temp

IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype('>i2'),
              0x0C: np.dtype('>i4'), 0x0D: np.dtype('>f4'),
              0x0E: np.dtype('>f8')}

CIFAR10_ROW = 1 + 3 * 32 * 32  # label byte, then 3 x 32 x 32 pixels
# The most rows a CIFAR-10 batch may have: the whole data set in one.
CIFAR10_MAX_ROWS = 60000

_GZIP_ERRORS = (OSError, EOFError, zlib.error, ValueError)


class _Stream:
    """A data file's bytes, gunzipped on the fly if they are gzip data.

    Reads never hold more than they are asked for: a small gzip that
    expands to gigabytes (a "gzip bomb") is stopped at the size the
    file's header announces.
    """

    def __init__(self, path):
        if os.path.isdir(path):
            raise DataError('%s: is a directory, not a data file' % path)
        self.path = path
        try:
            self._file = open_regular(path)
            self.gzip = self._file.read(2) == b'\x1f\x8b'
            self._file.seek(0)
        except OSError as e:
            raise DataError('%s: cannot read (%s)'
                            % (path, e.strerror or e)) from None
        self._reader = (gzip.GzipFile(fileobj=self._file, mode='rb')
                        if self.gzip else self._file)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._file.close()

    def read(self, n):
        """Up to ``n`` bytes (fewer only at the end of the data)."""
        try:
            return self._reader.read(n)
        except _GZIP_ERRORS as e:
            if not self.gzip:
                raise DataError('%s: cannot read (%s)'
                                % (self.path, getattr(e, 'strerror', None)
                                   or e)) from None
            raise DataError('%s: bad gzip data (%s)'
                            % (self.path, e)) from None


def read_bytes(path, limit=None):
    """All bytes of a file, gunzipped if they are gzip data.

    More than ``limit`` bytes (default ``MAX_DATA_BYTES``; before or
    after gunzip) is a DataError.
    """
    limit = _files.MAX_DATA_BYTES if limit is None else limit
    with _Stream(path) as stream:
        raw = stream.read(limit + 1)
    if len(raw) > limit:
        raise DataError('%s: more than %d bytes%s; not a data file of ours'
                        % (path, limit, ' once gunzipped' if stream.gzip
                           else ''))
    return raw


def read_idx(path, limit=None):
    """Read an IDX file (LeCun et al., 1998; raw or gzip) into numpy.

    Fashion-MNIST images come back as uint8 (N, 28, 28), labels as uint8
    (N,). Anything else than a well-formed IDX file raises DataError.
    The header says how many bytes follow; no more than that (and at
    most ``limit``, default ``MAX_DATA_BYTES``) is ever read or
    gunzipped.
    """
    limit = _files.MAX_DATA_BYTES if limit is None else limit
    with _Stream(path) as stream:
        buf = stream.read(4)
        if not buf:
            raise DataError('%s: empty file' % path)
        if len(buf) < 4 or buf[0] != 0 or buf[1] != 0:
            raise DataError('%s: not an IDX file (magic %s, expected 00 00 '
                            '<type> <ndim>)' % (path, buf[:4].hex()))
        code, ndim = buf[2], buf[3]
        if code not in IDX_DTYPES:
            raise DataError('%s: unsupported IDX data type code 0x%02x'
                            % (path, code))
        if ndim == 0:
            raise DataError('%s: IDX file with zero dimensions' % path)
        start = 4 + 4 * ndim
        buf += stream.read(start - 4)
        if len(buf) < start:
            raise DataError('%s: truncated IDX header (%d dimensions need '
                            '%d bytes, file has %d)'
                            % (path, ndim, start, len(buf)))
        dims = [int.from_bytes(buf[4 + 4 * i:8 + 4 * i], 'big')
                for i in range(ndim)]
        dtype = np.dtype(IDX_DTYPES[code])
        size = dtype.itemsize
        for d in dims:
            size *= d
        if size > limit:
            raise DataError('%s: dimensions %s need %d bytes of data, more '
                            'than the %d a data file may have here'
                            % (path, dims, size, limit))
        body = stream.read(size + 1)  # one more: is there anything after?
    if len(body) < size:
        raise DataError('%s: truncated: dimensions %s need %d bytes of data, '
                        'found %d' % (path, dims, size, len(body)))
    if len(body) > size:
        raise DataError('%s: trailing garbage after the %d bytes of '
                        'dimensions %s' % (path, size, dims))
    try:  # zero in one dimension lets the others be absurd
        X = np.frombuffer(body, dtype).reshape(dims)
    except ValueError as e:
        raise DataError('%s: bad IDX dimensions %s (%s)'
                        % (path, dims, e)) from None
    return X.astype(dtype.newbyteorder('='))


def read_idx_pair(images_path, labels_path, num_classes=10):
    """Images (N, H, W) and labels (N,) of one split, both uint8, checked."""
    X, y = read_idx(images_path), read_idx(labels_path)
    if X.ndim != 3 or X.dtype != np.uint8:
        raise DataError('%s: expected uint8 images (N, H, W), found %s %s'
                        % (images_path, X.dtype, X.shape))
    if y.ndim != 1 or y.dtype != np.uint8:
        raise DataError('%s: expected uint8 labels (N,), found %s %s'
                        % (labels_path, y.dtype, y.shape))
    if len(X) != len(y):
        raise DataError('%s has %d images but %s has %d labels'
                        % (images_path, len(X), labels_path, len(y)))
    if len(y) and y.max() >= num_classes:
        raise DataError('%s: label %d out of range 0..%d'
                        % (labels_path, y.max(), num_classes - 1))
    return X, y


def read_cifar10_batch(path):
    """Images uint8 (N, 3, 32, 32) and labels (N,) of a CIFAR-10 .bin.

    The binary version of CIFAR-10 (Krizhevsky, 2009): one label byte,
    then the red, green and blue 32 x 32 planes, for each image.
    """
    buf = read_bytes(path, CIFAR10_MAX_ROWS * CIFAR10_ROW)
    if not buf or len(buf) % CIFAR10_ROW:
        raise DataError('%s: not a CIFAR-10 binary batch (%d bytes is not a '
                        'positive multiple of %d)'
                        % (path, len(buf), CIFAR10_ROW))
    data = np.frombuffer(buf, np.uint8).reshape(-1, CIFAR10_ROW)
    y = data[:, 0].copy()
    if y.max() > 9:
        raise DataError('%s: label %d out of range 0..9' % (path, y.max()))
    return data[:, 1:].reshape(-1, 3, 32, 32).copy(), y


def extract_missing(archive, folder, names, sizes=None):
    """Extract the members called ``names`` of a tar archive into ``folder``.

    Only files that are not in ``folder`` yet are written (each through a
    temporary file, then renamed); present files are never replaced.
    Only regular members are read, each of at most its size in
    ``sizes`` ({name: bytes}, default ``MAX_DATA_BYTES``); a wanted name
    that is only a link, device or FIFO in the archive is refused.
    Returns the names written.
    """
    written, refused = [], {}
    sizes = sizes or {}
    try:
        with open_regular(archive) as f, tarfile.open(fileobj=f) as tar:
            for member in tar:
                base = os.path.basename(member.name)
                dest = os.path.join(folder, base)
                if base not in names or os.path.lexists(dest):
                    continue
                if not member.isfile():
                    refused.setdefault(base, 'is not a regular file')
                    continue
                limit = sizes.get(base, _files.MAX_DATA_BYTES)
                if member.size > limit:
                    refused[base] = ('has %d bytes, more than the %d '
                                     'expected' % (member.size, limit))
                    continue
                if _extract(tar, member, folder, dest):
                    written.append(base)
                refused.pop(base, None)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        raise DataError('%s: cannot extract (%s)' % (archive, e)) from None
    for base, why in refused.items():
        raise DataError('%s: its member %s %s; it was not extracted'
                        % (archive, base, why))
    return written


def _extract(tar, member, folder, dest):
    """Copy one regular member to ``dest`` through a temporary file.

    Returns whether it was written (not if ``dest`` appeared meanwhile).
    """
    base = os.path.basename(dest)
    fd, tmp = private_temp(folder, base)
    try:
        with os.fdopen(fd, 'wb') as out:
            source = tar.extractfile(member)
            for chunk in iter(lambda: source.read(1 << 20), b''):
                out.write(chunk)
        if os.path.lexists(dest):
            return False
        os.replace(tmp, dest)
        return True
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
