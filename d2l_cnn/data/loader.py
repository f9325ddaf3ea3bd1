"""The in-memory iterator: uint8 images on the host, float32 batches.

Images stay ``uint8`` on the host; each batch is copied to the device as
``uint8`` and only there converted to ``float32``, resized (one batched
bilinear resize instead of the book's per-sample ``Resize`` +
``ToTensor``) and, for CIFAR-10, flipped and normalised.
"""
import mxnet as mx
import numpy as np
from mxnet import nd

from ..devices import check_ctx, check_seed
from ..errors import UsageError


def _is_int(value):
    return not isinstance(value, bool) and isinstance(
        value, (int, np.integer))


def check_count(name, value, minimum=1):
    """``value`` as an int if it is an integer >= ``minimum``."""
    if not _is_int(value) or value < minimum:
        raise UsageError('%s must be an integer >= %d, got %r'
                         % (name, minimum, value))
    return int(value)


def check_batch_size(batch_size):
    """``batch_size`` as an int; a UsageError unless it is positive."""
    if not _is_int(batch_size) or batch_size <= 0:
        raise UsageError('batch_size must be a positive integer, got %r'
                         % (batch_size,))
    return int(batch_size)


def check_resize(resize):
    """``resize`` as an int, or None; a UsageError unless positive."""
    if resize is None:
        return None
    if not _is_int(resize) or resize <= 0:
        raise UsageError('resize must be None or a positive integer, got %r'
                         % (resize,))
    return int(resize)


def one_device(ctx):
    """``ctx`` (None: the CPU; a context or text such as ``'gpu:1'``) as
    one device this machine has; a UsageError otherwise."""
    if ctx is None:
        return mx.cpu()
    devices = check_ctx(ctx)
    if len(devices) != 1:
        raise UsageError('the data iterators make batches on one device, '
                         'got ctx=%r; train_ch5 splits them over several'
                         % (ctx,))
    return devices[0]


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
        self.batch_size = check_batch_size(batch_size)
        self.resize = check_resize(resize)
        self.shuffle, self.flip = bool(shuffle), bool(flip)
        self.seed = check_seed(seed)
        self.mean, self.std = mean, std
        self.ctx = one_device(ctx)
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
        if (not _is_int(num_parts) or num_parts < 1
                or not _is_int(part_index)
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
        if not _is_int(num_examples) or not (
                1 <= num_examples <= len(self._labels)):
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


def make_iters(train, test, batch_size, resize, ctx, seed, flip=False,
               **kwargs):
    """(train_iter, test_iter): the training one shuffles and may flip."""
    train_iter = ArrayDataIter(*train, batch_size, shuffle=True, seed=seed,
                               resize=resize, ctx=ctx, flip=flip, **kwargs)
    test_iter = ArrayDataIter(*test, batch_size, shuffle=False, seed=seed,
                              resize=resize, ctx=ctx, **kwargs)
    return train_iter, test_iter
