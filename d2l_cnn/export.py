"""Export a trained network for deployment: MXNet symbol files or ONNX.

``export_symbol(net, 'out/lenet', (1, 1, 28, 28))`` hybridizes the
network, runs it once and writes its graph and weights,
``out/lenet-symbol.json`` and ``out/lenet-0000.params``, which
``load_symbol('out/lenet')`` (``gluon.SymbolBlock.imports``), the MXNet
C++ predict API or ``mx.mod.Module`` load without this package.
``export_onnx(net, 'out/lenet.onnx', (1, 1, 28, 28))`` goes one step
further, through ``mx.onnx.export_model``, to the ONNX format that
onnxruntime and most inference engines read (the batch dimension stays
free). ONNX export needs the ``onnx`` extra
(``pip install d2l_cnn[onnx]``).

Every hybrid network of the registry exports to ONNX and onnxruntime
reproduces MXNet's outputs (inference mode) to about 2e-6 relative, at
the smallest input size and at the book's resize (measured with
onnx 1.14.1 and onnxruntime 1.32). A network registered with
``hybrid=False`` (``batchnorm_scratch``) has no symbolic graph and
cannot be exported; ``check_exportable`` says so before training.

From the command line, for a directory written by ``d2l_cnn.train``::

    python -m d2l_cnn.export --out RUN_DIR [--onnx] [--prefix NAME]
"""
import os
import sys
import tempfile
import warnings

import mxnet as mx
import numpy as np
from mxnet import gluon, nd

from .checkpoint import DiskFull, writing
from .devices import net_ctx
from .errors import D2LError, OneLineParser, UsageError, run_command
from .registry import get_entry
from .rundir import RunLock, load_run

# The one message for a network that has no symbolic graph.
NOT_HYBRID = ('{name} cannot be exported: it is not a HybridBlock, so it '
              'has no symbolic graph (batchnorm_scratch: its from-scratch '
              'BatchNorm updates the moving averages in Python code); '
              'export "batchnorm", the same network with nn.BatchNorm')


def check_exportable(name):
    """Raise ``UsageError`` now if network ``name`` cannot be exported.

    For a command line that should refuse ``--export`` before training
    rather than after it.
    """
    if not get_entry(name).hybrid:
        raise UsageError(NOT_HYBRID.format(name=name))


def _check_shape(input_shape):
    shape = tuple(input_shape)
    if (len(shape) != 4
            or not all(isinstance(d, (int, np.integer)) and d > 0
                       for d in shape)):
        raise UsageError('input_shape must be 4 positive integers (batch, '
                         'channels, height, width), got %r' % (input_shape,))
    return tuple(int(d) for d in shape)


def _traced(net, input_shape, ctx=None):
    """Hybridize ``net`` and run it once (inference mode) on zeros."""
    if not isinstance(net, gluon.HybridBlock):
        raise UsageError(NOT_HYBRID.format(name='this network'))
    shape = _check_shape(input_shape)
    ctx = ctx or (net_ctx(net) or [mx.cpu()])[0]
    net.hybridize()
    X = nd.zeros(shape, ctx=ctx)
    try:
        # (batch, num_classes); builds the cached graph export needs
        net(X).wait_to_read()
    except RuntimeError as e:
        if 'initialize' in str(e) or 'not been' in str(e):
            raise UsageError('initialise the network (net.initialize()) or '
                             'load its parameters before exporting') from None
        raise
    except (mx.base.MXNetError, ValueError):
        raise UsageError('input shape %s does not fit this network (too '
                         'small, or the wrong number of channels)'
                         % (shape,)) from None
    return shape


def export_symbol(net, path_prefix, input_shape, ctx=None):
    """Write ``PREFIX-symbol.json`` and ``PREFIX-0000.params``.

    ``net`` must be an initialised (or trained) ``HybridBlock``; it is
    hybridized and run once on zeros of ``input_shape`` (batch, channels,
    height, width). Returns the two file paths. The folder of
    ``path_prefix`` is created if needed. Both files are written under
    temporary names and renamed into place: an interrupted export
    leaves the previous files or the new ones.
    """
    _traced(net, input_shape, ctx)
    folder = _make_folder(path_prefix)
    names = ('-symbol.json', '-0000.params')
    with tempfile.TemporaryDirectory(prefix='.tmp-', dir=folder) as tmp, \
            writing(path_prefix + names[1]):
        net.export(os.path.join(tmp, 'net'))
        for name in names:
            os.replace(os.path.join(tmp, 'net' + name), path_prefix + name)
    return tuple(path_prefix + name for name in names)


def _make_folder(path):
    """Create the folder of ``path``; a clear error if it cannot be."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.basename(path) in ('', '.', '..'):
        raise UsageError('%r names a folder, not a file name prefix'
                         % path)
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise D2LError('cannot create the folder %s (%s)'
                       % (folder, e.strerror or e)) from None
    if not os.access(folder, os.W_OK):
        raise D2LError('cannot write to %s (permission denied)' % folder)
    return folder


def load_symbol(path_prefix, ctx=None):
    """Load an exported network as a ``gluon.SymbolBlock`` (input 'data')."""
    sym_file = path_prefix + '-symbol.json'
    params_file = path_prefix + '-0000.params'
    for path in (sym_file, params_file):
        if not os.path.isfile(path):
            raise D2LError('no exported network at %s: %s is missing'
                           % (path_prefix, path))
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # "cannot decide type" chatter
        return gluon.SymbolBlock.imports(sym_file, ['data'], params_file,
                                         ctx=ctx or mx.cpu())


def check_onnx():
    """Raise ``D2LError`` now if ONNX export cannot work (before training)."""
    _import_onnx()


def _import_onnx():
    """``mxnet.onnx`` after checking that a suitable onnx is installed."""
    try:
        import onnx
    except ImportError:
        raise D2LError("ONNX export needs the onnx package: pip install "
                       "-e '.[onnx]' (onnx 1.14.1 on Python <= 3.11)"
                       ) from None
    from .compat import onnx_mapping
    onnx_mapping(onnx)  # onnx >= 1.16 lost the onnx.mapping mxnet reads
    import mxnet.onnx
    return mxnet.onnx


def export_onnx(net, path, input_shape, dynamic_batch=True, ctx=None):
    """Export ``net`` to the ONNX file ``path``; returns ``path``.

    Goes through the symbol files (in a temporary folder) and
    ``mx.onnx.export_model``. With ``dynamic_batch`` the batch size of
    the ONNX input is free; channels, height and width are those of
    ``input_shape``.
    """
    mx_onnx = _import_onnx()
    shape = _check_shape(input_shape)
    folder = _make_folder(path)
    with tempfile.TemporaryDirectory(prefix='.tmp-', dir=folder) as tmp:
        sym_file, params_file = export_symbol(
            net, os.path.join(tmp, 'net'), shape, ctx)
        dynamic = dict(dynamic=True, dynamic_input_shapes=[
            (None,) + shape[1:]]) if dynamic_batch else {}
        onnx_file = os.path.join(tmp, 'net.onnx')
        with warnings.catch_warnings(), writing(path):
            warnings.simplefilter('ignore', DeprecationWarning)  # mapping
            mx_onnx.export_model(sym_file, params_file, [shape],
                                 [np.float32], onnx_file, **dynamic)
        os.replace(onnx_file, path)  # in place at once, or not at all
    return path


def run_onnx(path, X):
    """Outputs of the ONNX network in ``path`` on ``X`` (onnxruntime).

    ``X`` is an NDArray or a numpy array; returns a numpy array.
    """
    try:
        import onnxruntime as ort
    except ImportError:
        raise D2LError('running ONNX needs onnxruntime: pip install '
                       'onnxruntime') from None
    if isinstance(X, nd.NDArray):
        X = X.asnumpy()
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only
    session = ort.InferenceSession(path, options,
                                   providers=['CPUExecutionProvider'])
    name = session.get_inputs()[0].name
    return session.run(None, {name: np.asarray(X, dtype=np.float32)})[0]


def export_run(run_dir, prefix='model', symbol=True, onnx=False):
    """Export the network of a training run into ``run_dir``.

    Writes ``PREFIX-symbol.json`` and ``PREFIX-0000.params`` (with
    ``symbol``) and ``PREFIX.onnx`` (with ``onnx``) for the run's input
    size; returns the paths written.
    """
    if not prefix or os.path.basename(prefix) in ('.', '..') or (
            os.path.isabs(prefix)) or not _inside(run_dir, prefix):
        raise UsageError('--prefix %r: give a file name prefix inside the '
                         'run folder, e.g. model' % prefix)
    if onnx:
        _import_onnx()  # before any work
    net, info = load_run(run_dir)
    check_exportable(info['model'])
    shape = (1, info['in_channels'], info['resize'], info['resize'])
    prefix = os.path.join(run_dir, prefix)
    with RunLock(run_dir):
        try:
            paths = list(export_symbol(net, prefix, shape)) if symbol else []
            if onnx:
                paths.append(export_onnx(net, prefix + '.onnx', shape))
        except DiskFull as e:
            raise DiskFull(e.path, '%s; the run\'s files are unchanged, '
                           'free some space and export again' % e) from None
    return paths


def _inside(run_dir, prefix):
    """Whether ``run_dir/prefix`` stays in ``run_dir``: no ``..`` and no
    symbolic link out of it on the way."""
    if '..' in prefix.replace(os.sep, '/').split('/'):
        return False
    root = os.path.realpath(run_dir)
    folder = os.path.realpath(os.path.dirname(os.path.join(run_dir,
                                                           prefix)))
    return folder == root or folder.startswith(root + os.sep)


def build_parser():
    p = OneLineParser(
        prog='python -m d2l_cnn.export',
        description='Export the network of a training run (written by '
                    'python -m d2l_cnn.train --out RUN_DIR) as MXNet '
                    'symbol files and, with --onnx, as ONNX.')
    p.add_argument('--out', required=True, metavar='RUN_DIR',
                   help='folder with run.json and model.params')
    p.add_argument('--prefix', default='model',
                   help='file name prefix inside RUN_DIR (default: model)')
    p.add_argument('--onnx', action='store_true',
                   help='also write PREFIX.onnx (needs onnx<1.16)')
    return p


def main(argv=None):
    """``python -m d2l_cnn.export --out RUN_DIR [--onnx]``: exit status."""
    args = build_parser().parse_args(argv)

    def body():
        for path in export_run(args.out, args.prefix,
                               onnx=args.onnx):
            print(path)
    return run_command(body, args.debug)


if __name__ == '__main__':
    sys.exit(main())
