"""The catalogue of data sets: one registration per data set.

Like ``register_model`` for networks (and timm's dataset factory), a
loader registers the facts of its data set beside itself::

    @register_dataset('mnist', shape=(1, 28, 28), text_labels=DIGITS,
                      num_train=60000, num_test=10000,
                      files={'train-images-idx3-ubyte.gz': '6c95...'})
    def load_data_mnist(batch_size, resize=None, root=None, ctx=None,
                        seed=0, verify=None):
        ...

Everything else (``dataset_info``, ``load_data``, ``data_present``, the
command line's choices) reads the catalogue.
"""
import dataclasses
import types

from ..errors import UsageError
from . import files as _files

_REGISTRY = {}


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """The facts of one data set, as registered."""

    name: str
    shape: tuple  # (C, H, W) of one image
    text_labels: tuple
    text_labels_zh: tuple
    num_train: int
    num_test: int
    loader: types.FunctionType = dataclasses.field(repr=False)
    files: dict = dataclasses.field(default_factory=dict)  # {name: sha1}
    archive: str = None  # a file in ``files`` the others come from
    torchvision: str = None  # torchvision's folder: <base>/<this>/raw
    keras: str = None  # Keras's folder: ~/.keras/datasets/<this>
    # images that need no download: where they come from, else None
    embedded: str = None
    sizes: dict = dataclasses.field(default_factory=dict)  # {name: bytes}

    @property
    def num_classes(self):
        return len(self.text_labels)

    @property
    def in_channels(self):
        return self.shape[0]

    @property
    def required(self):
        """The files the loader reads (those not in the archive)."""
        return tuple(f for f in self.files if f != self.archive)

    def folders(self, root=None):
        """Where the files are looked for, in order (see search_folders)."""
        return _files.search_folders(self.name, root, self.torchvision,
                                     self.keras)


def register_dataset(name, shape, text_labels, num_train, num_test,
                     text_labels_zh=None, files=None, archive=None,
                     torchvision=None, keras=None, embedded=None,
                     sizes=None):
    """Register the decorated loader as data set ``name``.

    ``files`` gives each file's SHA-1, ``sizes`` its size in bytes (the
    most a download of it may send, and the most a local copy may have
    to be hashed).

    The loader takes ``(batch_size, resize=None, root=None, ctx=None,
    seed=0, verify=None)`` and returns ``(train_iter, test_iter)``.
    """
    if name in _REGISTRY:
        raise ValueError('data set %r is registered twice' % name)
    if len(shape) != 3:
        raise ValueError('shape must be (C, H, W), got %r' % (shape,))
    if archive is not None and archive not in (files or {}):
        raise ValueError('archive %r is not one of the files' % archive)
    if not set(sizes or {}) <= set(files or {}):
        raise ValueError('sizes of files that are not in files: %s'
                         % sorted(set(sizes) - set(files or {})))

    def register(loader):
        _REGISTRY[name] = DatasetInfo(
            name, tuple(shape), tuple(text_labels),
            tuple(text_labels_zh or text_labels), num_train, num_test,
            loader, dict(files or {}), archive, torchvision, keras,
            embedded, dict(sizes or {}))
        return loader
    return register


def list_datasets():
    """Names of the registered data sets, in registration order."""
    return tuple(_REGISTRY)


def dataset_info(name):
    """The registered facts of a data set: shape (C, H, W), classes, ..."""
    if name not in _REGISTRY:
        raise UsageError('unknown dataset %r; choose one of: %s'
                         % (name, ', '.join(_REGISTRY)))
    return _REGISTRY[name]


def load_data(name, batch_size, resize=None, root=None, ctx=None, seed=0,
              verify=None):
    """(train_iter, test_iter) of the data set called ``name``.

    ``verify=False`` uses local files whatever their SHA-1 (they must
    still be valid files); None asks $D2L_CNN_VERIFY (on unless 0).
    """
    info = dataset_info(name)  # UsageError listing the choices
    return info.loader(batch_size, resize=resize, root=root, ctx=ctx,
                       seed=seed, verify=verify)


def data_location(name, root=None):
    """The folder that holds data set ``name``'s files, or None.

    Only looks (no download, no SHA-1): the first of ``folders(root)``
    holding every file the loader reads, or else its archive. A data set
    without files (embedded, generated) is always present: ``''``.
    """
    info = dataset_info(name)
    if not info.files:
        return ''
    for wanted in (info.required, (info.archive,)):
        for folder in info.folders(root):
            if all(w and _files.find_file(folder, w) for w in wanted):
                return folder
    return None


def data_present(name, root=None):
    """Whether data set ``name`` can be loaded without a download."""
    return data_location(name, root) is not None
