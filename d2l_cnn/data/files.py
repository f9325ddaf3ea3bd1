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
import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request

from ..errors import DataError, UsageError

DEFAULT_REPO = 'https://apache-mxnet.s3-accelerate.dualstack.amazonaws.com/'
VERIFY_ENV = 'D2L_CNN_VERIFY'

# Where torchvision users keep <base>/FashionMNIST/raw/ (the tutorials'
# root='data', the d2l PyTorch edition's '../data', and ~/data), after
# the --root given and its parent folder.
TORCHVISION_BASES = ('data', os.path.join('..', 'data'),
                     os.path.join('~', 'data'))

_HINT = ('set MXNET_GLUON_REPO to a mirror, place the files in {folder}, '
         'or train on the embedded data (--data mnist5k)')


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


def file_sha1(path):
    """The SHA-1 of the file at ``path``, in hex."""
    sha1 = hashlib.sha1()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            sha1.update(chunk)
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


def _looked(folders):
    return '; looked in: %s' % ', '.join(folders) if folders else ''


def foreign_error(path, sha1, expected, folders=()):
    """The DataError for a present file whose SHA-1 is not the known one."""
    if expected is None:
        what = 'no SHA-1 is known for this file'
    else:
        what = 'expected %s' % expected
    return DataError(
        '%s has SHA-1 %s, %s; it was left untouched: delete it to download '
        'the file again, or set %s=0 (--no-verify, verify=False) to use the '
        'local files as they are%s'
        % (path, sha1, what, VERIFY_ENV, _looked(folders)))


def _read_error(path, e):
    return DataError('cannot read %s: %s' % (path, e.strerror or e))


def download(url, path, sha1_hash, timeout=30, folders=()):
    """Download ``url`` to the file ``path`` unless it is there already.

    A present file with another SHA-1 is left untouched and raises a
    DataError (delete it to download again). The data goes to a
    temporary file in the same folder, its SHA-1 is checked, then it is
    renamed into place; one attempt, one DataError. ``folders`` (where
    the caller looked) only go into error messages.
    """
    folder = make_root(os.path.dirname(os.path.abspath(path)))
    hint = _HINT.format(folder=folder) + _looked(folders)
    if os.path.isdir(path):
        raise DataError('%s: is a directory, not a data file' % path)
    try:
        if os.path.lexists(path):
            sha1 = file_sha1(path)
            if sha1 == sha1_hash:
                return path
            raise foreign_error(path, sha1, sha1_hash, folders)
        fd, tmp = tempfile.mkstemp(
            dir=folder, prefix='.' + os.path.basename(path) + '.',
            suffix='.part')
    except OSError as e:
        raise DataError('cannot use %s: %s' % (path, e.strerror or e)) \
            from None
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
        if not os.path.lexists(path):  # appeared meanwhile: keep it
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
    return download(url, path, sha1_hash, timeout, folders)


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


def mismatch(path, files):
    """(path, sha1, expected) if the file's SHA-1 is not in ``files``."""
    expected = files.get(os.path.basename(path))
    try:
        sha1 = file_sha1(path)
    except OSError as e:
        raise _read_error(path, e) from None
    return None if sha1 == expected else (path, sha1, expected)


def fetch_files(namespace, filenames, files, folders, verify=None):
    """Paths of ``filenames``: found in ``folders`` or downloaded.

    The first folder holding every file (each as published or gunzipped)
    whose files pass the SHA-1 check (``files``: {name: sha1}) is used;
    with verification off, the first folder holding them all. Otherwise
    the missing files are downloaded into ``folders[0]``, where present
    files must pass the check too. Nothing present is ever changed.
    """
    verify = verify_enabled(verify)
    bad = []
    for folder in folders:
        paths = {f: find_file(folder, f) for f in filenames}
        if not all(paths.values()):
            continue
        if not verify:
            return paths
        wrong = [m for m in (mismatch(p, files) for p in paths.values())
                 if m]
        if not wrong:
            return paths
        bad += wrong
    if bad:
        raise foreign_error(*bad[0], folders)
    own = make_root(folders[0])
    paths = {}
    for f in filenames:
        path = find_file(own, f)
        if path is None:
            path = download(repo_url(namespace, f), os.path.join(own, f),
                            files[f], folders=folders)
        elif verify and mismatch(path, files):
            raise foreign_error(*mismatch(path, files), folders)
        paths[f] = path
    return paths
