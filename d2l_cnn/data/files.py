"""Finding, verifying and downloading data files; nothing is destroyed.

Files are named and downloaded the way Gluon's ``FashionMNIST``,
``MNIST`` and ``CIFAR10`` do (same URLs, names, SHA-1 sums and folder
``$MXNET_HOME/datasets/<name>``). A data set's files are looked for in
its own folder, then where other frameworks keep them, and downloaded
only when no folder holds them all. A present file is never deleted,
replaced or rewritten: one with an unknown SHA-1 stops the load with a
``DataError`` saying how to go on, unless verification is off
(``D2L_CNN_VERIFY=0`` or ``verify=False``). Downloads go to a temporary
file that is renamed into place only once its SHA-1 is right.
"""
import base64
import hashlib
import http.client
import os
import socket
import stat
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

from tqdm import tqdm

from ..errors import DataError, UsageError

DEFAULT_REPO = 'https://apache-mxnet.s3-accelerate.dualstack.amazonaws.com/'
VERIFY_ENV = 'D2L_CNN_VERIFY'

# Where torchvision users keep <base>/FashionMNIST/raw/ (the tutorials'
# root='data', the d2l PyTorch edition's '../data', and ~/data), after
# the --root given and its parent folder.
TORCHVISION_BASES = ('data', os.path.join('..', 'data'),
                     os.path.join('~', 'data'))

# No data file of ours is larger (CIFAR-10's archive is 170 MB): a
# larger one is refused before it is hashed, read or downloaded.
MAX_DATA_BYTES = 1 << 30
# A download must end within GRACE seconds plus its expected size at
# MIN_RATE bytes a second (10 minutes for Fashion-MNIST's 26 MB).
DOWNLOAD_GRACE = 60
DOWNLOAD_MIN_RATE = 50000

_HINT = ('set MXNET_GLUON_REPO to a mirror, place the files in {folder}, '
         'or train on the embedded data (--data mnist5k)')
_KINDS = ((stat.S_ISDIR, 'a directory'),
          (stat.S_ISFIFO, 'a FIFO (named pipe)'),
          (stat.S_ISSOCK, 'a socket'), (stat.S_ISCHR, 'a character device'),
          (stat.S_ISBLK, 'a block device'))


def default_root(name):
    """Gluon's folder for a data set: $MXNET_HOME/datasets/<name>."""
    home = os.environ.get('MXNET_HOME',
                          os.path.join(os.path.expanduser('~'), '.mxnet'))
    return os.path.join(home, 'datasets', name)


def keras_home():
    """Keras's cache folder: $KERAS_HOME, else ~/.keras."""
    return os.environ.get('KERAS_HOME') or os.path.join(
        os.path.expanduser('~'), '.keras')


def repo_url(namespace, filename):
    """URL of a file in the Gluon repository (honours MXNET_GLUON_REPO)."""
    base = os.environ.get('MXNET_GLUON_REPO', DEFAULT_REPO)
    if not base.endswith('/'):
        base += '/'
    return '%sgluon/dataset/%s/%s' % (base, namespace, filename)


def _split_credentials(url):
    """(url without ``user:password@``, user, password or None)."""
    try:
        parts = urllib.parse.urlsplit(url)
        user, password = parts.username, parts.password
    except ValueError:  # a bad port: leave the URL to urllib's message
        return url, None, None
    if user is None and password is None:
        return url, None, None
    netloc = parts.netloc.rpartition('@')[2]
    return (urllib.parse.urlunsplit(parts._replace(netloc=netloc)),
            urllib.parse.unquote(user or ''),
            urllib.parse.unquote(password or ''))


def public_url(url):
    """``url`` as it may be printed: a password becomes ``***``."""
    bare, user, password = _split_credentials(url)
    if user is None:
        return url
    parts = urllib.parse.urlsplit(bare)
    login = urllib.parse.quote(user, safe='') + (':***' if password else '')
    return urllib.parse.urlunsplit(parts._replace(
        netloc='%s@%s' % (login, parts.netloc)))


def _one_line(text, secrets=(), limit=200):
    """``text`` on one line, at most ``limit`` characters, no secrets."""
    text = ' '.join(str(text).split())
    for secret in secrets:
        if secret:
            text = text.replace(secret, '***')
    return text if len(text) <= limit else text[:limit - 3] + '...'


def verify_enabled(verify=None):
    """Whether to check SHA-1 sums: ``verify``, else $D2L_CNN_VERIFY."""
    if verify is not None:
        return bool(verify)
    value = os.environ.get(VERIFY_ENV, '')
    if value in ('', '1'):
        return True
    if value == '0':
        return False
    raise UsageError('%s must be 0 or 1, got %r' % (VERIFY_ENV, value))


def _kind(mode):
    for test, kind in _KINDS:
        if test(mode):
            return kind
    return 'not a regular file'


def open_regular(path, limit=None):
    """Open the data file at ``path`` for reading in binary; never blocks.

    Only a regular file (or a symlink to one) of at most ``limit`` bytes
    is opened: a FIFO, device, socket or directory named like a data
    file, or a huge (sparse) file, raises one DataError instead of
    blocking or being read for minutes (``limit`` None: at most
    ``MAX_DATA_BYTES``). OSError if it cannot be opened.
    """
    limit = MAX_DATA_BYTES if limit is None else limit
    st = os.stat(path)  # no side effect, unlike opening a device
    if stat.S_ISREG(st.st_mode):
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK
                     | getattr(os, 'O_CLOEXEC', 0))
        st = os.fstat(fd)  # the file opened, whatever happened meanwhile
        if stat.S_ISREG(st.st_mode) and st.st_size <= limit:
            return os.fdopen(fd, 'rb')
        os.close(fd)
    if not stat.S_ISREG(st.st_mode):
        raise DataError('%s: is %s, not a data file; remove or rename it'
                        % (path, _kind(st.st_mode)))
    raise DataError('%s: %d bytes, more than the %d a data file may have '
                    'here; remove or rename it' % (path, st.st_size, limit))


def file_sha1(path, limit=float('inf')):
    """The SHA-1 of the regular file at ``path``, in hex.

    Returns None, without reading it, if it has more than ``limit``
    bytes (it cannot be the file expected); see ``open_regular`` for
    what is refused.
    """
    with open_regular(path, limit=float('inf')) as f:
        if os.fstat(f.fileno()).st_size > limit:
            return None
        sha1 = hashlib.sha1()
        for chunk in iter(lambda: f.read(1 << 20), b''):
            sha1.update(chunk)
            if f.tell() > limit:  # grew while we read it
                return None
    return sha1.hexdigest()


def check_sha1(path, sha1_hash):
    """Whether the file at ``path`` has the SHA-1 ``sha1_hash``."""
    return file_sha1(path) == sha1_hash


def make_root(root):
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


def umask_mode(mode=0o666):
    """``mode`` as the user's umask lets a new file have it."""
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('Umask:'):
                    return mode & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o22)  # no /proc: read it by setting it back
    os.umask(mask)
    return mode & ~mask


def private_temp(folder, name):
    """(fd, path) of a new hidden temporary file for ``name`` in ``folder``.

    It gets the mode the umask gives new files (not mkstemp's 0600), so
    that a shared ``MXNET_HOME`` stays readable once it is renamed.
    """
    fd, tmp = tempfile.mkstemp(dir=folder, prefix='.' + name + '.',
                               suffix='.part')
    try:
        os.fchmod(fd, umask_mode())
    except OSError:
        pass
    return fd, tmp


def _looked(folders):
    return '; looked in: %s' % ', '.join(folders) if folders else ''


def foreign_error(path, sha1, expected, folders=(), size=None):
    """The DataError for a present file whose SHA-1 is not the known one.

    ``sha1`` None means it was not computed: the file has ``size``
    bytes, more than the file expected.
    """
    if expected is None:
        what = 'no SHA-1 is known for this file'
    else:
        what = 'expected %s' % expected
    found = 'SHA-1 %s' % sha1 if sha1 else '%s bytes (more than the file ' \
        'expected)' % size
    return DataError(
        '%s has %s, %s; it was left untouched: delete it to download '
        'the file again, or set %s=0 (verify=False in Python) to use the '
        'local files as they are%s'
        % (path, found, what, VERIFY_ENV, _looked(folders)))


def _read_error(path, e):
    return DataError('cannot read %s: %s' % (path, e.strerror or e))


class _Watchdog:
    """Shuts a download's sockets down once its deadline has passed.

    Every read then returns or fails at once, whatever the mirror does:
    the overall deadline holds even while the headers are still coming.
    """

    def __init__(self, seconds):
        self.seconds = seconds
        self.expired = False
        self._sockets = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self):
        self._timer.start()
        return self

    def __exit__(self, *exc):
        self._timer.cancel()

    def add(self, sock):
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                self._shutdown(sock)
        return sock

    def _expire(self):
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                self._shutdown(sock)

    @staticmethod
    def _shutdown(sock):
        try:  # the plain socket's shutdown, also under TLS
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        except (OSError, ValueError):
            pass

    def connection(self, cls):
        """``cls`` (HTTP(S)Connection) whose sockets this dog watches."""
        watch = self

        class Watched(cls):
            def connect(self):
                create = self._create_connection
                self._create_connection = \
                    lambda *a, **k: watch.add(create(*a, **k))
                super().connect()
                watch.add(self.sock)  # the TLS socket, if any
        return Watched


def _opener(watchdog):
    """A urllib opener whose connections ``watchdog`` can cut."""
    class Handler(urllib.request.HTTPHandler):
        def http_open(self, req):
            return self.do_open(
                watchdog.connection(http.client.HTTPConnection), req)

    class SecureHandler(urllib.request.HTTPSHandler):
        def https_open(self, req):
            return self.do_open(
                watchdog.connection(http.client.HTTPSConnection), req,
                context=self._context)
    return urllib.request.build_opener(Handler, SecureHandler)


def _request(url, method=None):
    """A GET of ``url``; its ``user:password@`` becomes Basic auth."""
    bare, user, password = _split_credentials(url)
    request = urllib.request.Request(bare, method=method)
    if user is not None:
        token = base64.b64encode(
            ('%s:%s' % (user, password or '')).encode()).decode()
        # not sent on to wherever the mirror redirects
        request.add_unredirected_header('Authorization', 'Basic ' + token)
    return request, password


def head_request(url):
    """A HEAD request of ``url`` (with its login, if any)."""
    return _request(url, 'HEAD')[0]


def mirror_name(url):
    """The mirror's host (and port) as it may be printed."""
    return urllib.parse.urlsplit(public_url(url)).netloc.rpartition('@')[2]


def _fetch(url, f, size, timeout, progress):
    """Write ``url``'s bytes to ``f``; returns their SHA-1.

    At most ``size`` bytes and ``DOWNLOAD_GRACE + size /
    DOWNLOAD_MIN_RATE`` seconds in all. Raises DataError (the mirror's
    fault) or OSError / HTTPException (the network's).
    """
    seconds = DOWNLOAD_GRACE + size / DOWNLOAD_MIN_RATE
    request, password = _request(url)
    sha1, got = hashlib.sha1(), 0
    name = '%s from %s' % (os.path.basename(request.full_url),
                           mirror_name(url))
    bar = tqdm(total=size, unit='B', unit_scale=True, unit_divisor=1024,
               desc=name, leave=False, file=sys.stderr,
               disable=not progress)
    started = time.monotonic()
    try:
        with _Watchdog(seconds) as watchdog, bar:
            try:
                with _opener(watchdog).open(
                        request, timeout=min(timeout, seconds)) as r:
                    length = r.headers.get('Content-Length', '')
                    if length.isdigit() and int(length) > size:
                        raise DataError(
                            'the mirror offers %s bytes, more than the %d '
                            'expected' % (length, size))
                    if length.isdigit():
                        bar.total = int(length)
                        bar.refresh()
                    while True:
                        chunk = r.read1(1 << 16)
                        if not chunk or watchdog.expired:
                            break
                        got += len(chunk)
                        if got > size:
                            raise DataError(
                                'the mirror sent more than the %d bytes '
                                'expected' % size)
                        sha1.update(chunk)
                        f.write(chunk)
                        bar.update(len(chunk))
                    if (length.isdigit() and got < int(length)
                            and not watchdog.expired):
                        raise http.client.IncompleteRead(
                            b'', int(length) - got)  # bytes still due
            except (OSError, ValueError, http.client.HTTPException):
                if not watchdog.expired:
                    raise
            if watchdog.expired:
                raise DataError(
                    'no complete reply within %d s (%d of %d bytes came; '
                    'the deadline allows %d bytes/s)'
                    % (time.monotonic() - started, got, size,
                       DOWNLOAD_MIN_RATE))
    except (OSError, ValueError, http.client.HTTPException) as e:
        if isinstance(e, urllib.error.URLError) and not isinstance(
                e, urllib.error.HTTPError):
            e = e.reason
        if isinstance(e, http.client.IncompleteRead):
            e = 'the reply ended after %d bytes of %d' % (
                got, got + e.expected)
        elif isinstance(e, http.client.HTTPException):
            e = 'not an HTTP reply: %s' % (e if str(e) else type(e).__name__)
        raise OSError(_one_line(e, [password])) from None
    return sha1.hexdigest()


def download(url, path, sha1_hash, timeout=30, folders=(), size=None,
             progress=None):
    """Download ``url`` to the file ``path`` unless it is there already.

    A present file with another SHA-1 is left untouched and raises a
    DataError (delete it to download again). The data goes to a
    temporary file in the same folder, its SHA-1 is checked, then it is
    renamed into place; one attempt, one DataError. At most ``size``
    bytes (default ``MAX_DATA_BYTES``) are accepted, within an overall
    deadline that grows with ``size``; ``timeout`` bounds each wait.
    ``progress`` (default: in a terminal or a notebook) shows a tqdm bar
    naming the mirror. A ``user:password@`` in the URL is sent as HTTP Basic
    authentication and never printed. ``folders`` (where the caller
    looked) only go into error messages.
    """
    size = MAX_DATA_BYTES if size is None else size
    if progress is None:  # a terminal or a notebook
        progress = sys.stderr.isatty() or 'ipykernel' in sys.modules
    folder = make_root(os.path.dirname(os.path.abspath(path)))
    hint = _HINT.format(folder=folder) + _looked(folders)
    shown = public_url(url)
    try:
        if os.path.lexists(path):
            sha1 = file_sha1(path, size)
            if sha1 == sha1_hash:
                return path
            raise foreign_error(path, sha1, sha1_hash, folders,
                                os.stat(path).st_size)
        fd, tmp = private_temp(folder, os.path.basename(path))
    except OSError as e:
        raise DataError('cannot use %s: %s' % (path, e.strerror or e)) \
            from None
    try:
        with os.fdopen(fd, 'wb') as f:
            sha1 = _fetch(url, f, size, timeout, progress)
        if sha1 != sha1_hash:
            raise DataError('downloaded %s has SHA-1 %s, expected %s; %s'
                            % (shown, sha1, sha1_hash, hint))
        if not os.path.lexists(path):  # appeared meanwhile: keep it
            os.replace(tmp, path)
    except DataError as e:
        if str(e).startswith('downloaded '):
            raise
        raise DataError('cannot download %s (%s); %s'
                        % (shown, e, hint)) from None
    except OSError as e:
        raise DataError('cannot download %s (%s); %s'
                        % (shown, e.strerror or e, hint)) from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return download(url, path, sha1_hash, timeout, folders, size, progress)


def search_folders(name, root=None, torchvision=None, keras=None):
    """Folders that may hold data set ``name``, in the order searched.

    First our own: ``root`` (``~`` expanded) or ``default_root(name)``,
    the only one ever written to. Then torchvision's
    ``<base>/<torchvision>/raw`` for base in ``root``, its parent and
    ``TORCHVISION_BASES``; then Keras's ``$KERAS_HOME/datasets/<keras>``.
    """
    root = os.path.expanduser(root) if root else None
    folders = [root or default_root(name)]
    if torchvision:
        bases = [root, os.path.dirname(os.path.abspath(root))] if root \
            else []
        bases += [os.path.abspath(os.path.expanduser(b))
                  for b in TORCHVISION_BASES]
        folders += [os.path.join(b, torchvision, 'raw') for b in bases]
    if keras:
        folders.append(os.path.join(keras_home(), 'datasets', keras))
    seen, unique = set(), []
    for folder in folders:
        key = os.path.realpath(folder)
        if key not in seen:
            seen.add(key)
            unique.append(folder)
    return unique


def variants(filename):
    """Names a file may have on disk: as published, and gunzipped."""
    if filename.endswith('.gz'):
        return filename, filename[:-3]
    return filename,


def find_file(folder, filename):
    """Path of ``filename`` (or its gunzipped variant) in ``folder``."""
    for name in variants(filename):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    return None


def mismatch(path, files, sizes=None):
    """(path, sha1, expected, size) if the file is not the one in ``files``.

    ``files`` is {name: sha1}, ``sizes`` {name: bytes}: a file larger
    than its expected size is not hashed (sha1 None).
    """
    name = os.path.basename(path)
    expected = files.get(name)
    try:
        sha1 = file_sha1(path, (sizes or {}).get(name, MAX_DATA_BYTES))
        size = os.stat(path).st_size
    except OSError as e:
        raise _read_error(path, e) from None
    return None if sha1 == expected else (path, sha1, expected, size)


def fetch_files(namespace, filenames, files, folders, verify=None,
                sizes=None):
    """Paths of ``filenames``: found in ``folders`` or downloaded.

    The first folder holding every file (each as published or gunzipped)
    whose files pass the SHA-1 check (``files``: {name: sha1}) is used;
    with verification off, the first folder holding them all. Otherwise
    the missing files are downloaded into ``folders[0]``, where present
    files must pass the check too; ``sizes`` ({name: bytes}) caps each
    download. Nothing present is ever changed.
    """
    verify = verify_enabled(verify)
    sizes = sizes or {}
    bad = []
    for folder in folders:
        paths = {f: find_file(folder, f) for f in filenames}
        if not all(paths.values()):
            continue
        if not verify:
            return paths
        wrong = [m for m in (mismatch(p, files, sizes)
                             for p in paths.values()) if m]
        if not wrong:
            return paths
        bad += wrong
    if bad:
        raise refuse_foreign(bad[0], folders)
    own = make_root(folders[0])
    paths = {}
    for f in filenames:
        path = find_file(own, f)
        if path is None:
            path = download(repo_url(namespace, f), os.path.join(own, f),
                            files[f], folders=folders, size=sizes.get(f))
        elif verify:
            wrong = mismatch(path, files, sizes)
            if wrong:
                raise refuse_foreign(wrong, folders)
        paths[f] = path
    return paths


def refuse_foreign(wrong, folders):
    """The DataError for ``mismatch``'s answer ``wrong``."""
    path, sha1, expected, size = wrong
    return foreign_error(path, sha1, expected, folders, size)
