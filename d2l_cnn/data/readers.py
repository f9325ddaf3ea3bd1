"""File formats: IDX (MNIST, Fashion-MNIST) and CIFAR-10 binary batches.

Readers return numpy arrays and turn anything malformed into one
``DataError`` naming the file; they never write.
"""
import gzip
import os
import tarfile
import tempfile
import zlib

import numpy as np

from ..errors import DataError

IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype('>i2'),
              0x0C: np.dtype('>i4'), 0x0D: np.dtype('>f4'),
              0x0E: np.dtype('>f8')}

CIFAR10_ROW = 1 + 3 * 32 * 32  # label byte, then 3 x 32 x 32 pixels


def read_bytes(path):
    """All bytes of a file, gunzipped if they are gzip data."""
    if os.path.isdir(path):
        raise DataError('%s: is a directory, not a data file' % path)
    try:
        with open(path, 'rb') as f:
            raw = f.read()
    except OSError as e:
        raise DataError('%s: cannot read (%s)' % (path, e.strerror or e)) \
            from None
    if raw[:2] != b'\x1f\x8b':
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error, ValueError) as e:
        raise DataError('%s: bad gzip data (%s)' % (path, e)) from None


def read_idx(path):
    """Read an IDX file (LeCun et al., 1998; raw or gzip) into numpy.

    Fashion-MNIST images come back as uint8 (N, 28, 28), labels as uint8
    (N,). Anything else than a well-formed IDX file raises DataError.
    """
    buf = read_bytes(path)
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
    if len(buf) < start:
        raise DataError('%s: truncated IDX header (%d dimensions need %d '
                        'bytes, file has %d)' % (path, ndim, start, len(buf)))
    dims = [int.from_bytes(buf[4 + 4 * i:8 + 4 * i], 'big')
            for i in range(ndim)]
    dtype = np.dtype(IDX_DTYPES[code])
    size = dtype.itemsize
    for d in dims:
        size *= d
    found = len(buf) - start
    if found < size:
        raise DataError('%s: truncated: dimensions %s need %d bytes of data, '
                        'found %d' % (path, dims, size, found))
    if found > size:
        raise DataError('%s: %d bytes of trailing garbage after dimensions '
                        '%s' % (path, found - size, dims))
    try:  # zero in one dimension lets the others be absurd
        X = np.frombuffer(buf, dtype, offset=start).reshape(dims)
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
    buf = read_bytes(path)
    if not buf or len(buf) % CIFAR10_ROW:
        raise DataError('%s: not a CIFAR-10 binary batch (%d bytes is not a '
                        'positive multiple of %d)'
                        % (path, len(buf), CIFAR10_ROW))
    data = np.frombuffer(buf, np.uint8).reshape(-1, CIFAR10_ROW)
    y = data[:, 0].copy()
    if y.max() > 9:
        raise DataError('%s: label %d out of range 0..9' % (path, y.max()))
    return data[:, 1:].reshape(-1, 3, 32, 32).copy(), y


def extract_missing(archive, folder, names):
    """Extract the members called ``names`` of a tar archive into ``folder``.

    Only files that are not in ``folder`` yet are written (each through a
    temporary file, then renamed); present files are never replaced.
    Returns the names written.
    """
    written = []
    try:
        with tarfile.open(archive) as tar:
            for member in tar:
                base = os.path.basename(member.name)
                dest = os.path.join(folder, base)
                if (not member.isfile() or base not in names
                        or os.path.lexists(dest)):
                    continue
                fd, tmp = tempfile.mkstemp(dir=folder, prefix='.' + base,
                                           suffix='.part')
                try:
                    with os.fdopen(fd, 'wb') as f:
                        f.write(tar.extractfile(member).read())
                    if not os.path.lexists(dest):
                        os.replace(tmp, dest)
                        written.append(base)
                finally:
                    if os.path.exists(tmp):
                        os.remove(tmp)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        raise DataError('%s: cannot extract (%s)' % (archive, e)) from None
    return written
