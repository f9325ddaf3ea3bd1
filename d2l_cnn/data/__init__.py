"""Data sets of chapter 5: Fashion-MNIST, MNIST, CIFAR-10 and offline data.

The package is split the way timm splits its data code:

- ``catalogue``: ``register_dataset``, ``dataset_info``, ``load_data``,
  ``data_present`` -- one registration per data set;
- ``datasets``: the registrations (names, shapes, labels, SHA-1 sums,
  loaders);
- ``readers``: the IDX and CIFAR-10 file formats;
- ``files``: where files are looked for, SHA-1 checks, downloads (a
  present file is never deleted or replaced);
- ``loader``: ``ArrayDataIter``, uint8 images in memory to float32
  batches on the device.
"""
from .catalogue import (DatasetInfo, data_location, data_present,
                        dataset_info, list_datasets, load_data,
                        register_dataset)
from .datasets import (CIFAR10_ARCHIVE, CIFAR10_LABELS, CIFAR10_LABELS_ZH,
                       CIFAR10_MEAN, CIFAR10_STD, CIFAR10_TEST,
                       CIFAR10_TRAIN, DIGITS, FASHION_MNIST_LABELS,
                       FASHION_MNIST_LABELS_ZH, get_fashion_mnist_labels,
                       load_data_cifar10, load_data_fashion_mnist,
                       load_data_mnist, load_data_mnist5k,
                       load_data_synthetic, mnist5k_arrays,
                       synthetic_arrays)
from .files import (DEFAULT_REPO, VERIFY_ENV, check_sha1, default_root,
                    download, file_sha1, public_url, repo_url,
                    search_folders, verify_enabled)
from .loader import ArrayDataIter
from .readers import read_cifar10_batch, read_idx, read_idx_pair

# The names registered when the package was imported (the CLI's choices).
DATASETS = list_datasets()

__all__ = [
    'ArrayDataIter', 'CIFAR10_ARCHIVE', 'CIFAR10_LABELS',
    'CIFAR10_LABELS_ZH', 'CIFAR10_MEAN', 'CIFAR10_STD', 'CIFAR10_TEST',
    'CIFAR10_TRAIN', 'DATASETS', 'DEFAULT_REPO', 'DIGITS', 'DatasetInfo',
    'FASHION_MNIST_LABELS', 'FASHION_MNIST_LABELS_ZH', 'VERIFY_ENV',
    'check_sha1', 'data_location', 'data_present', 'dataset_info',
    'default_root', 'download', 'file_sha1', 'get_fashion_mnist_labels',
    'list_datasets', 'load_data', 'load_data_cifar10',
    'load_data_fashion_mnist', 'load_data_mnist', 'load_data_mnist5k',
    'load_data_synthetic', 'mnist5k_arrays', 'read_cifar10_batch',
    'public_url', 'read_idx', 'read_idx_pair', 'register_dataset',
    'repo_url',
    'search_folders', 'synthetic_arrays', 'verify_enabled',
]
