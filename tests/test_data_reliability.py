"""Issue 26, data half: what a mirror or a data folder may hold.

Mirrors are ``http.server`` threads on 127.0.0.1 that misbehave on
purpose (slow, endless, redirect loops, not HTTP, a login); data folders
hold FIFOs, huge sparse files, gzip bombs and hard links. Each test
names the item of the issue it covers. Every wait is bounded: a call
that could block runs in a thread joined with a timeout.
"""
import base64
import gzip
import hashlib
import http.server
import io
import os
import stat
import subprocess
import sys
import tarfile
import threading
import time
import tracemalloc
import zlib

import mxnet as mx
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from mxnet import gluon, nd
from mxnet.gluon import nn

from conftest import subprocess_env
from d2l_cnn import data, train
from d2l_cnn.data import files
from d2l_cnn.errors import D2LError, DataError, UsageError
from test_data import (FMNIST, closed_port, fill_cifar_root,
                       fill_idx_root, idx_bytes, sha1, snapshot, sums,
                       write)
from test_data import offline  # noqa: F401  (autouse: no real folders)

GB = 1 << 30


def finishes(func, seconds=20):
    """(result, error) of ``func()``; fails if it runs ``seconds``."""
    box = {}

    def run():
        try:
            box['result'] = func()
        except BaseException as e:  # noqa: B902 -- handed to the test
            box['error'] = e
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), 'still running after %d s' % seconds
    return box.get('result'), box.get('error')


def one_line(error, kind=DataError):
    assert isinstance(error, kind), repr(error)
    text = str(error)
    assert '\n' not in text and '\r' not in text and 'Traceback' not in text
    return text


# ------------------------------------------------ misbehaving mirrors

class Mirror(http.server.BaseHTTPRequestHandler):
    """``/<mode>/<path>``: how the mirror answers depends on ``mode``."""

    files = {}  # path -> bytes, served by /good/
    login = None  # 'user:password' that /auth/ wants

    def log_message(self, *args):
        pass

    def _send(self, body, length=None):
        self.send_response(200)
        self.send_header('Content-Length', str(
            len(body) if length is None else length))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        mode, _, rest = self.path.lstrip('/').partition('/')
        body = self.files.get('/' + rest)
        try:
            if mode == 'good' and body is not None:
                self._send(body)
            elif mode == 'auth':
                token = base64.b64encode(self.login.encode()).decode()
                if self.headers.get('Authorization') != 'Basic ' + token:
                    self.send_error(401)
                else:
                    self._send(self.files['/' + rest])
            elif mode == 'slow':  # 1 byte every 0.2 s, forever
                self.send_response(200)
                self.send_header('Content-Length', '500')
                self.end_headers()
                for _ in range(3000):
                    self.wfile.write(b'x')
                    self.wfile.flush()
                    time.sleep(0.2)
            elif mode == 'slowheaders':  # the status line, then a drip
                self.wfile.write(b'HTTP/1.0 200 OK\r\n')
                for _ in range(3000):
                    self.wfile.write(b'X')
                    self.wfile.flush()
                    time.sleep(0.2)
            elif mode == 'endless':  # no length, 64 MB of bytes
                self.send_response(200)
                self.end_headers()
                for _ in range(1024):
                    self.wfile.write(bytes(1 << 16))
            elif mode == 'huge':  # announces 40 GB
                self.send_response(200)
                self.send_header('Content-Length', str(40 * GB))
                self.end_headers()
                self.wfile.write(bytes(1 << 16))
            elif mode == 'short':  # fewer bytes than announced
                self._send(b'abc', length=100)
            elif mode == 'loop':
                self.send_response(302)
                self.send_header('Location', self.path)
                self.end_headers()
            elif mode == 'ssh':  # not HTTP at all
                self.wfile.write(b'SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n'
                                 b'\x00\x00\x01\x14\n\x14garbage\r\n')
            else:
                self.send_error(404)
        except (BrokenPipeError, ConnectionResetError):
            pass


@pytest.fixture(scope='module')
def mirror():
    """The base URL of a misbehaving mirror on 127.0.0.1."""
    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Mirror)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield 'http://127.0.0.1:%d' % httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def quick(monkeypatch):
    """Downloads must end within 1 s plus 1 s per 100 kB."""
    monkeypatch.setattr(files, 'DOWNLOAD_GRACE', 1, raising=False)
    monkeypatch.setattr(files, 'DOWNLOAD_MIN_RATE', 100000, raising=False)


def download(url, dest, **kwargs):
    return finishes(lambda: data.download(url, str(dest), '0' * 40,
                                          **kwargs))


# ------------------------------------- 4. deadline, size cap, progress

@pytest.mark.parametrize('mode', ['slow', 'slowheaders'])
def test_4_a_slow_mirror_meets_an_overall_deadline(tmp_path, mirror, quick,
                                                   mode):
    started = time.monotonic()
    _, error = download(mirror + '/%s/f.gz' % mode, tmp_path / 'f.gz',
                        size=1000)
    assert time.monotonic() - started < 8
    text = one_line(error)
    assert 'within' in text and 'f.gz' in text
    assert os.listdir(tmp_path) == []  # no temporary file left


def test_4_the_deadline_grows_with_the_expected_size(tmp_path, monkeypatch):
    seen = []

    class Dog(files._Watchdog):
        def __init__(self, seconds):
            seen.append(seconds)
            super().__init__(seconds)
    monkeypatch.setattr(files, '_Watchdog', Dog)
    url = os.environ['MXNET_GLUON_REPO'] + 'x'  # a closed port
    for size in (5148, 26421880):
        with pytest.raises(DataError):
            data.download(url, str(tmp_path / 'x'), '0' * 40, size=size)
    assert len(seen) == 2 and 60 <= seen[0] < 61
    assert seen[1] == 60 + 26421880 / 50000  # about 9 minutes


@pytest.mark.parametrize('mode,words', [('endless', 'more than the 4096'),
                                        ('huge', 'offers 42949672960')])
def test_4_a_mirror_cannot_send_more_than_expected(tmp_path, mirror, mode,
                                                   words):
    _, error = download(mirror + '/%s/f.gz' % mode, tmp_path / 'f.gz',
                        size=4096)
    assert words in one_line(error)
    assert os.listdir(tmp_path) == []


def test_4_every_download_has_a_size_cap():
    for name in data.list_datasets():
        info = data.dataset_info(name)
        assert set(info.sizes) == set(info.files), name
        assert all(0 < s <= files.MAX_DATA_BYTES
                   for s in info.sizes.values())


def test_4_progress_bar_names_the_mirror(tmp_path, mirror, capsys):
    Mirror.files['/f.bin'] = body = b'0123456789' * 1000
    url = mirror + '/good/f.bin'
    path = data.download(url, str(tmp_path / 'f.bin'),
                         hashlib.sha1(body).hexdigest(), progress=True)
    assert open(path, 'rb').read() == body
    err = capsys.readouterr().err
    assert 'f.bin from 127.0.0.1:%s' % mirror.rsplit(':', 1)[1] in err
    assert '9.77k' in err  # tqdm's bytes, out of the total


# ---------------------------------------------------- 5. regular files

@pytest.fixture
def fifo_root(tmp_path):
    """A Fashion-MNIST folder whose train images are a FIFO."""
    root = tmp_path / 'fm'
    os.makedirs(root)
    fifo = str(root / FMNIST[0])
    os.mkfifo(fifo)
    yield root
    try:  # free a reader that the old code left blocked in open()
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:
        pass


@pytest.mark.parametrize('verify', [True, False])
def test_5_a_fifo_named_like_a_data_file_never_blocks(fifo_root, verify):
    _, error = finishes(lambda: data.load_data_fashion_mnist(
        8, root=str(fifo_root), verify=verify), 10)
    text = one_line(error)
    assert FMNIST[0] in text and 'FIFO' in text
    assert stat.S_ISFIFO(os.lstat(fifo_root / FMNIST[0]).st_mode)


def test_5_a_fifo_never_blocks_a_download(fifo_root, mirror):
    # the FIFO is in our own folder, where the download would go
    _, error = finishes(lambda: data.download(
        mirror + '/good/none', str(fifo_root / FMNIST[0]), '0' * 40), 10)
    assert 'FIFO' in one_line(error)


def sparse(path, size=40 * GB):
    with open(path, 'wb') as f:
        f.truncate(size)
    return str(path)


def test_5_a_huge_sparse_file_is_refused_without_hashing(tmp_path):
    root = tmp_path / 'fm'
    os.makedirs(root)
    path = sparse(root / FMNIST[0])
    started = time.monotonic()
    _, error = finishes(lambda: data.load_data_fashion_mnist(
        8, root=str(root)), 10)
    text = one_line(error)
    assert time.monotonic() - started < 5
    assert path in text and '42949672960 bytes' in text
    assert 'left untouched' in text
    assert os.stat(path).st_size == 40 * GB


def test_5_a_huge_sparse_file_with_verify_off(tmp_path, monkeypatch):
    # the limit is lowered so that the old code reads only 64 MB
    monkeypatch.setattr(files, 'MAX_DATA_BYTES', 64 << 20, raising=False)
    root = tmp_path / 'fm'
    fill_idx_root(root, monkeypatch)
    sparse(root / FMNIST[0], (64 << 20) + 1)
    _, error = finishes(lambda: data.load_data_fashion_mnist(
        8, root=str(root), verify=False), 20)
    assert '67108865 bytes' in one_line(error)


def tar_with(members):
    """A tar.gz of (TarInfo, bytes or None) members."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w:gz') as tar:
        for info, body in members:
            tar.addfile(info, io.BytesIO(body) if body is not None
                        else None)
    return buf.getvalue()


@pytest.mark.parametrize('kind', [tarfile.FIFOTYPE, tarfile.SYMTYPE,
                                  tarfile.CHRTYPE, 'large'])
def test_5_archive_members_regular_and_capped(tmp_path, monkeypatch, kind):
    root = tmp_path / 'c10'
    fill_cifar_root(root, monkeypatch)
    os.remove(root / 'data_batch_1.bin')
    info = tarfile.TarInfo('cifar-10-batches-bin/data_batch_1.bin')
    body = None
    if kind == 'large':  # more bytes than data_batch_1.bin may have
        monkeypatch.setitem(data.dataset_info('cifar10').sizes,
                            'data_batch_1.bin', 3073)
        body = bytes(3073 * 12)
        info.size = len(body)
    else:
        info.type, info.linkname = kind, '/etc/passwd'
    archive = write(root / data.CIFAR10_ARCHIVE, tar_with([(info, body)]),
                    False)
    monkeypatch.setitem(sums('cifar10'), data.CIFAR10_ARCHIVE,
                        sha1(archive))
    before = snapshot(str(root))
    _, error = finishes(lambda: data.load_data_cifar10(8, root=str(root)))
    text = one_line(error)
    assert 'data_batch_1.bin' in text
    assert ('more than the 3073 expected' if kind == 'large'
            else 'not a regular file') in text
    assert snapshot(str(root)) == before


# ---------------------------------------------- 7. gunzip with a cap

def gzip_bomb(path, header_dims=(60, 28, 28), extra=256 << 20):
    """A gzip whose IDX header says ``header_dims``; ``extra`` zeros
    follow the data (about 250 kB on disk for 256 MB)."""
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    X = np.zeros(header_dims, np.uint8)
    out = [z.compress(idx_bytes(X))]
    chunk = bytes(1 << 20)
    for _ in range(extra >> 20):
        out.append(z.compress(chunk))
    out.append(z.flush())
    with open(path, 'wb') as f:
        f.write(b''.join(out))
    return str(path)


def test_7_gzip_bomb_with_verify_off_stays_small(tmp_path, monkeypatch):
    root = tmp_path / 'fm'
    fill_idx_root(root, monkeypatch)
    bomb = gzip_bomb(root / FMNIST[0])
    assert os.path.getsize(bomb) < 2 << 20
    monkeypatch.setenv(data.VERIFY_ENV, '0')
    tracemalloc.start()
    try:
        _, error = finishes(lambda: data.load_data_fashion_mnist(
            8, root=str(root)), 60)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert 'trailing garbage' in one_line(error)
    assert peak < 32 << 20, peak  # the old code held 256 MB


def test_7_idx_header_beyond_the_limit_is_not_read(tmp_path):
    head = bytes([0, 0, 8, 3]) + (70000).to_bytes(4, 'big') + \
        (200).to_bytes(4, 'big') + (200).to_bytes(4, 'big')
    path = write(tmp_path / 'x.gz', head + bytes(100))
    with pytest.raises(DataError, match='more than the'):
        data.read_idx(path)


# ------------------------------------------------ 8. OMP_NUM_THREADS

@pytest.mark.parametrize('value', ['3000000000'])
def test_8_huge_omp_num_threads_is_bounded(value):
    r = subprocess.run(
        [sys.executable, '-c', 'import d2l_cnn, os; from mxnet import nd; '
         'print(nd.ones((2, 2)).sum().asscalar(), '
         'os.environ["OMP_NUM_THREADS"])'],
        capture_output=True, text=True, timeout=180,
        env=subprocess_env(OMP_NUM_THREADS=value))
    assert r.returncode == 0, r.stderr[-500:]
    total, threads = r.stdout.split()
    assert float(total) == 4 and 1 <= int(threads) <= 1024
    assert 'up to 1024' in r.stderr


# --------------------------------------------------- 15. file modes

@pytest.mark.parametrize('umask,mode', [(0o022, 0o644), (0o077, 0o600)])
def test_15_data_files_get_the_umask_mode(tmp_path, mirror, monkeypatch,
                                          umask, mode):
    old = os.umask(umask)
    try:
        Mirror.files['/m.bin'] = body = b'shared with the class'
        path = data.download(mirror + '/good/m.bin', str(tmp_path / 'm'),
                             hashlib.sha1(body).hexdigest())
        root = tmp_path / 'c10'
        fill_cifar_root(root, monkeypatch, archive=True)
        data.load_data_cifar10(8, root=str(root))
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(path).st_mode) == mode
    for name in data.CIFAR10_TRAIN + data.CIFAR10_TEST:
        assert stat.S_IMODE(os.stat(root / name).st_mode) == mode, name


# --------------------------------------------------- 16. no password

def test_16_a_password_in_the_repo_is_never_printed(tmp_path, monkeypatch,
                                                    mirror):
    port = mirror.rsplit(':', 1)[1]
    for repo in ('http://student:S3cret@127.0.0.1:9/',
                 'http://student:S3cret@127.0.0.1:%s/loop/' % port,
                 'http://student:S3cret@127.0.0.1:%s/nosuch/' % port):
        monkeypatch.setenv('MXNET_GLUON_REPO', repo)
        _, error = finishes(lambda: data.load_data_mnist(
            8, root=str(tmp_path / 'm')))
        text = one_line(error)
        assert 'S3cret' not in text and 'student:***@127.0.0.1' in text
    assert data.public_url('https://u:p%40ss@h/x') == 'https://u:***@h/x'


def test_16_a_login_in_the_repo_is_sent_as_basic_auth(tmp_path, monkeypatch,
                                                      mirror, capsys):
    Mirror.login = 'student:S3cret'
    Mirror.files['/gluon/dataset/mnist/f.bin'] = body = b'for the class'
    repo = mirror.replace('//', '//student:S3cret@') + '/auth/'
    monkeypatch.setenv('MXNET_GLUON_REPO', repo)
    url = data.repo_url('mnist', 'f.bin')
    path = data.download(url, str(tmp_path / 'f.bin'),
                         hashlib.sha1(body).hexdigest())
    assert open(path, 'rb').read() == body
    assert 'S3cret' not in capsys.readouterr().err


# ------------------------------------------- 17. a message that works

def test_17_sha1_refusal_names_an_option_that_exists(tmp_path):
    root = tmp_path / 'fm'
    os.makedirs(root)
    for fname in FMNIST:
        write(root / fname, idx_bytes(np.zeros(3, np.uint8)))
    with pytest.raises(DataError) as e:
        data.load_data_fashion_mnist(8, root=str(root))
    text = one_line(e.value)
    assert '--no-verify' not in text
    assert 'D2L_CNN_VERIFY=0' in text and 'verify=False' in text


# -------------------------------------------- 22. input from Python

def tiny_net(num_outputs=10):
    net = nn.Sequential()
    net.add(nn.Dense(num_outputs))
    net.initialize(mx.init.Xavier())
    return net


def tiny_train(train_iter, ctx=mx.cpu(), num_outputs=10):
    net = tiny_net(num_outputs)
    trainer = gluon.Trainer(net.collect_params(), 'sgd',
                            {'learning_rate': 0.1})
    return train.train_ch5(net, train_iter, None, 16, trainer, ctx, 1,
                           verbose=False)


@pytest.mark.parametrize('ctx', ['cpu', 'cpu:0', mx.cpu(0)])
def test_22_loaders_take_ctx_as_text(ctx):
    train_iter, test_iter = data.load_data_mnist5k(64, ctx=ctx)
    X, y = next(iter(test_iter))
    assert X.context == mx.cpu(0) and X.shape == (64, 1, 28, 28)


@pytest.mark.parametrize('ctx', ['tpu', 'cpu:0,1', 7, mx.gpu(0)])
def test_22_loaders_refuse_other_ctx_in_one_line(ctx):
    if ctx == mx.gpu(0) and train.num_gpus():
        pytest.skip('this machine has a GPU')
    with pytest.raises(UsageError) as e:
        data.load_data_mnist5k(64, ctx=ctx)
    one_line(e.value, UsageError)


def numpy_batches(n=64, batch_size=16, ndarray=False):
    """Batches (X, y) of 16 features, 10 classes; NDArrays if asked."""
    rng = np.random.default_rng(0)
    X = rng.random((n, 1, 4, 4))
    y = rng.integers(0, 10, n)
    cast = nd.array if ndarray else np.asarray
    return [(cast(X[i:i + batch_size]), cast(y[i:i + batch_size]))
            for i in range(0, n, batch_size)]


def test_22_an_iterator_of_numpy_batches_trains():
    history = tiny_train(numpy_batches())
    assert len(history) == 1 and np.isfinite(history[0]['loss'])
    acc = train.evaluate_accuracy(numpy_batches(), tiny_net())
    assert 0 <= acc <= 1


def test_22_other_batches_are_one_line():
    with pytest.raises(UsageError, match='numpy arrays, got a list') as e:
        tiny_train([([[0.0] * 16] * 4, [0, 1, 2, 3])])
    one_line(e.value, UsageError)


@pytest.mark.parametrize('labels', ['y + 50', '-1', '2.5'])
def test_22_labels_out_of_range_are_refused(labels):
    batches = numpy_batches(n=160, ndarray=True)  # as the old code took
    if labels == 'y + 50':
        batches = [(X, y + 50) for X, y in batches]
    else:
        batches[0] = (batches[0][0], nd.full(16, float(labels)))
    with pytest.raises(DataError) as e:
        tiny_train(batches)
    text = one_line(e.value)
    assert 'class numbers 0 to 9' in text and 'epoch 1, batch' in text
    with pytest.raises(DataError, match='evaluation data'):
        train.evaluate_accuracy(batches, tiny_net())


def test_22_labels_in_range_of_a_wider_network_pass():
    history = tiny_train([(X, y + 5) for X, y in numpy_batches(
        ndarray=True)], num_outputs=15)
    assert np.isfinite(history[0]['loss'])


@pytest.mark.skipif(train.num_gpus() > 0, reason='this machine has a GPU')
@pytest.mark.parametrize('ctx', [mx.gpu(0), [mx.cpu(), mx.gpu(1)], 'gpu'])
def test_22_gpu_on_a_cpu_build_is_one_line(ctx):
    with pytest.raises(UsageError) as e:
        tiny_train(numpy_batches(ndarray=True), ctx=ctx)
    assert 'GPU' in one_line(e.value, UsageError)
    with pytest.raises(UsageError):
        train.evaluate_accuracy(numpy_batches(ndarray=True), tiny_net(),
                                ctx)


# ------------------------------- 23. a mirror that is not a mirror

@pytest.mark.parametrize('mode,words', [('loop', 'redirect'),
                                        ('ssh', 'not an HTTP reply'),
                                        ('short', 'ended after 3 bytes')])
def test_23_redirect_loop_or_not_http_is_one_line(tmp_path, mirror, mode,
                                                  words):
    _, error = download(mirror + '/%s/f.gz' % mode, tmp_path / 'f.gz')
    text = one_line(error)
    assert words in text and 'MXNET_GLUON_REPO' in text


# ---------------------------------------------------- property test

KINDS = ['good', 'foreign', 'fifo', 'sparse', 'hardlink good',
         'hardlink foreign', 'symlink good', 'directory', 'missing',
         'gzip bomb']
MIRRORS = ['closed', 'good', 'slow', 'endless', 'huge', 'loop', 'ssh',
           'short', 'nosuch']


def make_entry(root, outside, fname, kind, good):
    """Put a file of ``kind`` called ``fname`` into ``root``."""
    path = os.path.join(root, fname)
    if kind == 'good':
        write(path, good, False)
    elif kind == 'foreign':
        write(path, b'a file of the user', False)
    elif kind == 'fifo':
        os.mkfifo(path)
    elif kind == 'sparse':
        sparse(path)
    elif kind.startswith('hardlink'):  # a user's file, linked in
        target = os.path.join(outside, fname + '.mine')
        write(target, good if kind == 'hardlink good' else b'mine', False)
        os.link(target, path)
    elif kind == 'symlink good':
        target = os.path.join(outside, fname + '.linked')
        write(target, good, False)
        os.symlink(target, path)
    elif kind == 'directory':
        os.makedirs(os.path.join(path, 'inside'))
    elif kind == 'gzip bomb':
        gzip_bomb(path, extra=8 << 20)


def state(folder):
    """{path: what it is} under ``folder``; never opens a FIFO."""
    found = {}
    for dirpath, dirs, names in os.walk(folder):
        for n in names + dirs:
            path = os.path.join(dirpath, n)
            st = os.lstat(path)
            if stat.S_ISDIR(st.st_mode):  # a download passes through
                found[path] = 'directory'
            elif stat.S_ISREG(st.st_mode) and st.st_size < GB:
                with open(path, 'rb') as f:
                    found[path] = hashlib.sha1(f.read()).hexdigest()
            else:
                found[path] = (stat.S_IFMT(st.st_mode), st.st_size,
                               st.st_mtime_ns)
    return found


@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(kinds=st.lists(st.sampled_from(KINDS), min_size=4, max_size=4),
       mirror_mode=st.sampled_from(MIRRORS), verify=st.booleans())
@example(kinds=['missing'] * 4, mirror_mode='good', verify=True)
@example(kinds=['missing', 'good', 'hardlink good', 'missing'],
         mirror_mode='slow', verify=True)
def test_property_data_folders_and_mirrors(tmp_path_factory, monkeypatch,
                                           mirror, kinds, mirror_mode,
                                           verify):
    """Whatever the folder holds and the mirror does: loaded or one
    DataError line, within seconds, and no present file changed."""
    monkeypatch.setattr(files, 'DOWNLOAD_GRACE', 1, raising=False)
    monkeypatch.setattr(files, 'DOWNLOAD_MIN_RATE', 10 ** 8, raising=False)
    base = tmp_path_factory.mktemp('prop')
    root, outside = str(base / 'fm'), str(base / 'user')
    os.makedirs(root)
    os.makedirs(outside)
    rng = np.random.default_rng(1)
    good = {}
    for prefix, n in (('train', 30), ('t10k', 10)):
        X = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        y = (np.arange(n) % 10).astype(np.uint8)
        good[prefix + '-images-idx3-ubyte.gz'] = gzip.compress(idx_bytes(X))
        good[prefix + '-labels-idx1-ubyte.gz'] = gzip.compress(idx_bytes(y))
    for fname, body in good.items():
        monkeypatch.setitem(sums('mnist'), fname,
                            hashlib.sha1(body).hexdigest())
        Mirror.files['/gluon/dataset/mnist/' + fname] = body
    for fname, kind in zip(FMNIST, kinds):
        make_entry(root, outside, fname, kind, good[fname])
    # (monkeypatch is shared by the examples: set the mirror every time)
    monkeypatch.setenv('MXNET_GLUON_REPO', 'http://127.0.0.1:%d/'
                       % closed_port() if mirror_mode == 'closed'
                       else '%s/%s/' % (mirror, mirror_mode))
    before = state(str(base))
    started = time.monotonic()
    try:
        result, error = finishes(lambda: data.load_data_mnist(
            8, root=root, verify=verify), 30)
    finally:
        for fname, kind in zip(FMNIST, kinds):
            if kind == 'fifo':  # free a reader blocked in open()
                try:
                    os.close(os.open(os.path.join(root, fname),
                                     os.O_WRONLY | os.O_NONBLOCK))
                except OSError:
                    pass
    assert time.monotonic() - started < 15
    if error is not None:
        assert isinstance(error, D2LError), repr(error)
        one_line(error)
    else:
        train_iter, _ = result
        assert train_iter.num_examples == 30
    after = state(str(base))
    for path, what in before.items():
        assert after.get(path) == what, (path, kinds, mirror_mode)
    new = set(after) - set(before)
    assert all(p.startswith(root) and not os.path.basename(p).startswith(
        '.') for p in new), new  # downloads only, no temporary file
