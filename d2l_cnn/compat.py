"""MXNet 1.9.1 on the numpy and the machines a class has today.

MXNet 1.9.1 (2022) is the last release. Its Python code reads numpy
names that numpy has since removed, so ``import mxnet`` fails with
numpy >= 1.24 (``np.bool``, apache/mxnet#21165) and, on numpy 2, with
``np.PZERO``. ``restore_numpy_names()`` puts back exactly the removed
names MXNet reads, found by scanning mxnet 1.9.1's sources (every
attribute of a name bound by ``import numpy`` and the operator names
that ``numpy_dispatch_protocol.py`` and ``numpy/fallback.py`` look up),
and only where numpy no longer has them. Where each is read:

removed in numpy 1.24 (the aliases deprecated in 1.20)
    bool      numpy/utils.py (at import), numpy/multiarray.py,
              ndarray/numpy/_op.py, symbol/numpy/_symbol.py
    int       test_utils.py
removed in numpy 2.0
    PZERO, NZERO, PINF, NINF, NAN, NaN
              numpy/utils.py (at import)
    Inf       gluon/contrib/estimator/event_handler.py
    alltrue, msort, mirr, npv, pmt, ppmt, pv, rate
              numpy/fallback.py (at import)
    sometrue, product, round_
              numpy_dispatch_protocol.py (at import)
    compat    ndarray/numpy/_op.py, symbol/numpy/_symbol.py
              (``np.compat.basestring`` in ``pad``)
removed in numpy 2.4
    in1d, trapz
              numpy/fallback.py (at import)

The other aliases numpy 1.24 removed (``float``, ``complex``,
``object``, ``str``) are read nowhere in MXNet and stay absent. The
financial functions left numpy for ``numpy_financial``: their stand-ins
raise one sentence naming the numpy that has them.

``import d2l_cnn`` runs this before anything imports ``mxnet``. A
notebook that imports ``mxnet`` first, on numpy >= 1.24, gets MXNet's
own ``AttributeError``; ``import d2l_cnn`` afterwards clears the
half-imported ``mxnet`` and imports it again, and from then on
``import mxnet`` works in that kernel (tested).

The rest of this module turns the other ways MXNet cannot start (an
unsupported Python, machine or operating system, a missing system or
CUDA library) into one line naming the way on. It imports nothing but
the standard library at module level, so ``setup.py`` can load it.
"""
import importlib.util
import math
import os
import platform
import re
import subprocess
import sys
import types
import warnings

SUPPORTED_PYTHONS = ((3, 9), (3, 10), (3, 11), (3, 12), (3, 13))
REFERENCE_PYTHON = (3, 11)  # every published number was measured there
WAY_ON = ('on Windows use WSL2 (Ubuntu 24.04), on a Mac or a Chromebook '
          'Google Colab or Kaggle; see "Where it runs" in the README')
# the numpy with which the whole package, mx.np's financial functions
# included, works, per Python (setup.cfg installs these)
NUMPY_FOR_PYTHON = {(3, 9): '1.23.5', (3, 10): '1.23.5', (3, 11): '1.23.5',
                    (3, 12): '1.26.4', (3, 13): '1.26.4'}

# where a library libmxnet.so needs comes from
LIBRARY_SOURCES = (
    ('libgomp.so', 'the system package libgomp1 (apt-get install libgomp1)'),
    ('libquadmath.so',
     'the system package libquadmath0 (apt-get install libquadmath0)'),
    ('libcuda.so', 'the NVIDIA driver (not a pip package): install the '
     "driver, or use the CPU build: pip install mxnet==1.9.1"),
    ('libcudart.so', 'pip install nvidia-cuda-runtime-cu11'),
    ('libnvrtc', 'pip install nvidia-cuda-nvrtc-cu11'),
    ('libcublasLt.so', 'pip install nvidia-cublas-cu11'),
    ('libcublas.so', 'pip install nvidia-cublas-cu11'),
    ('libcudnn', "pip install 'nvidia-cudnn-cu11<9' (cuDNN 8)"),
    ('libnccl.so', 'pip install nvidia-nccl-cu11'),
    ('libcufft.so', 'pip install nvidia-cufft-cu11'),
    ('libcurand.so', 'pip install nvidia-curand-cu11'),
    ('libcusolver.so', 'pip install nvidia-cusolver-cu11'),
    ('libcusparse.so', 'pip install nvidia-cusparse-cu11'),
    ('libnvToolsExt.so', 'pip install nvidia-nvtx-cu11'),
)


# the names prepare() put back into this process's numpy (doctor shows them)
RESTORED = []


class UnsupportedError(ImportError):
    """MXNet cannot start here; the message is one line with the way on."""


# ------------------------------------------------------------- numpy

def _msort(a):
    """numpy's ``msort``: a copy of ``a`` sorted along its first axis."""
    import numpy
    return numpy.sort(a, axis=0)


def _in1d(ar1, ar2, assume_unique=False, invert=False, **kwargs):
    """numpy's ``in1d``: ``isin`` of the flattened ``ar1``."""
    import numpy
    return numpy.isin(numpy.asarray(ar1).ravel(), ar2,
                      assume_unique=assume_unique, invert=invert, **kwargs)


def _gone(name, numpy_version):
    """A stand-in for a function numpy removed and no formula replaces."""
    def removed(*args, **kwargs):
        raise NotImplementedError(
            'np.%s was removed from numpy (this is numpy %s): for '
            'mx.np.%s install numpy 1.26.4 (pip install "numpy<2"), or '
            'use numpy_financial.%s' % (name, numpy_version, name, name))
    removed.__name__ = name
    return removed


def removed_names(numpy):
    """{name: value} for each removed numpy name MXNet 1.9.1 reads."""
    inf = math.inf
    names = {
        'bool': bool, 'int': int,
        'PZERO': 0.0, 'NZERO': -0.0, 'PINF': inf, 'NINF': -inf,
        'NAN': math.nan, 'NaN': math.nan, 'Inf': inf,
        'alltrue': numpy.all, 'sometrue': numpy.any,
        'product': numpy.prod, 'round_': numpy.round, 'msort': _msort,
        'compat': types.SimpleNamespace(basestring=str),
        'in1d': _in1d, 'trapz': getattr(numpy, 'trapezoid', None),
    }
    for name in ('mirr', 'npv', 'pmt', 'ppmt', 'pv', 'rate'):
        names[name] = _gone(name, numpy.__version__)
    return names


def _has(module, name):
    with warnings.catch_warnings():  # numpy 1.2x warns on its aliases
        warnings.simplefilter('ignore')
        try:
            getattr(module, name)
        except AttributeError:
            return False
    return True


def restore_numpy_names(numpy=None):
    """Put back the removed names MXNet reads; returns those restored.

    A name numpy still has (as an alias that warns, too) is left alone.
    """
    if numpy is None:
        import numpy
    restored = []
    for name, value in removed_names(numpy).items():
        if value is not None and not _has(numpy, name):
            setattr(numpy, name, value)
            restored.append(name)
    return restored


def onnx_mapping_tables(onnx):
    """(TENSOR_TYPE_TO_NP_TYPE, NP_TYPE_TO_TENSOR_TYPE) from onnx.helper.

    Where two ONNX types share a numpy dtype (bfloat16 is stored as
    float32) the first, standard one wins, as in the old module.
    """
    to_np = {}
    for tensor_type in sorted(onnx.TensorProto.DataType.values()):
        try:
            to_np[tensor_type] = onnx.helper.tensor_dtype_to_np_dtype(
                tensor_type)
        except (KeyError, ValueError, TypeError):
            continue
    to_tensor = {}
    for tensor_type, dtype in to_np.items():
        to_tensor.setdefault(dtype, tensor_type)
    return to_np, to_tensor


def onnx_mapping(onnx=None):
    """Give onnx >= 1.16 the ``onnx.mapping`` that mxnet.onnx imports.

    onnx 1.16 removed the module; mxnet 1.9.1 reads two of its tables,
    ``TENSOR_TYPE_TO_NP_TYPE`` and ``NP_TYPE_TO_TENSOR_TYPE``, built
    from ``onnx.helper.tensor_dtype_to_np_dtype`` (onnx >= 1.13).
    Returns the module made, or None when onnx has its own.
    """
    if onnx is None:
        import onnx
    try:
        import onnx.mapping  # noqa: F401  (onnx < 1.16)
        return None
    except ImportError:
        pass
    module = types.ModuleType('onnx.mapping', 'onnx.mapping as mxnet 1.9.1 '
                              'reads it (made by d2l_cnn.compat)')
    (module.TENSOR_TYPE_TO_NP_TYPE,
     module.NP_TYPE_TO_TENSOR_TYPE) = onnx_mapping_tables(onnx)
    sys.modules['onnx.mapping'] = module
    onnx.mapping = module
    return module


# ---------------------------------------------------------- refusals

def python_problem(version=None):
    """One line if this Python is not one d2l_cnn supports, else None."""
    version = tuple(version or sys.version_info[:2])[:2]
    if version in SUPPORTED_PYTHONS:
        return None
    return ('d2l_cnn runs on CPython 3.9 to 3.13 (MXNet 1.9.1 and its '
            'numpy), not %d.%d: make the venv with one of python3.9 ... '
            'python3.13 (pyenv or uv can install one), or %s'
            % (version + (WAY_ON,)))


def platform_problem(system=None, machine=None):
    """One line if MXNet 1.9.1 has no build for this machine, else None."""
    system = system or platform.system()
    machine = (machine or platform.machine()).lower()
    if system == 'Linux' and machine in ('x86_64', 'amd64'):
        return None
    return ('d2l_cnn needs Linux on x86_64: MXNet 1.9.1, the last release, '
            'has no build for %s on %s; %s' % (system, machine, WAY_ON))


def numpy_problem(numpy_version):
    """One line if this numpy is outside what MXNet 1.9.1 can use."""
    m = re.match(r'(\d+)\.(\d+)', numpy_version)
    major_minor = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
    if major_minor < (1, 16):
        return ('numpy %s is older than MXNet 1.9.1 accepts (> 1.16): pip '
                'install "numpy==%s"' % (numpy_version, NUMPY_FOR_PYTHON.get(
                    tuple(sys.version_info[:2]), '1.26.4')))
    return None


def library_fix(library):
    """What provides a shared library that libmxnet.so needs."""
    for prefix, fix in LIBRARY_SOURCES:
        if library.startswith(prefix):
            return fix
    return 'the system package that ships %s' % library


def mxnet_library():
    """Path of the installed libmxnet.so, found without importing it."""
    spec = importlib.util.find_spec('mxnet')
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = os.path.join(folder, 'libmxnet.so')
        if os.path.isfile(path):
            return path
    return None


def missing_libraries(library=None, ldd_output=None):
    """Names of the shared libraries ``library`` needs that are missing.

    Read from ``ldd`` (``ldd_output`` replaces running it, for tests).
    """
    if ldd_output is None:
        library = library or mxnet_library()
        if not library:
            return []
        try:
            ldd_output = subprocess.run(
                ['ldd', library], capture_output=True, text=True,
                timeout=30).stdout
        except (OSError, subprocess.SubprocessError):
            return []
    return sorted({line.split('=>')[0].strip()
                   for line in ldd_output.splitlines()
                   if 'not found' in line})


# the pip package that provides a module MXNet imports, where the names
# differ
PIP_NAMES = {'distutils': 'setuptools'}


def load_failure(error, missing=None):
    """One line for ``import mxnet`` failing with ``error``."""
    text = str(error).strip().splitlines()
    text = text[0] if text else type(error).__name__
    module = (getattr(error, 'name', None) or '').split('.')[0]
    if isinstance(error, ModuleNotFoundError) and module not in ('',
                                                                 'mxnet'):
        # a Python package MXNet imports (its metadata's requests;
        # distutils, which left the standard library in Python 3.12)
        return ('MXNet cannot load: it imports %s, which this Python does '
                'not have; pip install %s%s'
                % (module, PIP_NAMES.get(module, module),
                   ' (distutils left the standard library in Python 3.12)'
                   if module == 'distutils' else ''))
    if missing is None:
        missing = missing_libraries()
    if not missing:
        m = re.search(r'(lib[\w.+-]+\.so[\w.]*)', text)
        if m and 'cannot open shared object' in text:
            missing = [m.group(1)]
    if missing:
        fixes = []
        for library in missing:
            fix = library_fix(library)
            if fix not in fixes:
                fixes.append(fix)
        cuda = any(lib.startswith(('libcu', 'libnccl', 'libnvrtc'))
                   for lib in missing)
        return ('MXNet cannot load: %s %s missing; %s; or use the CPU '
                'build (pip install mxnet==1.9.1) or Google Colab%s'
                % (', '.join(missing), 'is' if len(missing) == 1 else 'are',
                   '; '.join(fixes),
                   ' (pip puts the nvidia-* libraries under site-packages/'
                   'nvidia/*/lib: add those folders to LD_LIBRARY_PATH)'
                   if cuda else ''))
    return ('MXNet cannot load (%s: %s); python -m d2l_cnn.doctor on a '
            'working install, or reinstall with the README\'s install line'
            % (type(error).__name__, text[:200]))


def _clear_failed_import():
    """Forget the pieces of an ``import mxnet`` that failed midway."""
    if 'mxnet' in sys.modules:
        return False
    stale = [name for name in sys.modules if name.startswith('mxnet.')]
    for name in stale:
        del sys.modules[name]
    return bool(stale)


def _command_line():
    orig = getattr(sys, 'orig_argv', None)  # Python >= 3.10
    if orig:
        return list(orig)
    try:
        with open('/proc/self/cmdline', 'rb') as f:
            return [a.decode(errors='replace')
                    for a in f.read().split(b'\0') if a]
    except OSError:
        return list(sys.argv)


def running_a_command(argv=None):
    """Whether this process is ``python -m d2l_cnn.<command>`` (or an
    installed ``d2l-cnn-*`` script), not a library import."""
    argv = _command_line() if argv is None else argv
    if argv and os.path.basename(argv[0]).startswith('d2l-cnn'):
        return True
    for i, arg in enumerate(argv[:-1]):
        if arg == '-m':
            return argv[i + 1].startswith('d2l_cnn')
    return False


def refuse(problem):
    """Stop with ``problem``, one line: a command prints it and exits 1,
    a library import (a notebook) raises UnsupportedError."""
    if running_a_command():
        print('error: %s' % problem, file=sys.stderr)
        raise SystemExit(1)
    raise UnsupportedError(problem)


def stale_numpy():
    """One line if the numpy loaded differs from the one on disk.

    Happens in a notebook (Colab, Kaggle) that imported numpy and then
    ran a pip install that changed it: only a new kernel loads the new
    one, and a mixed numpy fails deep inside MXNet.
    """
    numpy = sys.modules.get('numpy')
    loaded = getattr(numpy, '__version__', None)
    if not loaded:
        return None
    import importlib.metadata
    try:
        installed = importlib.metadata.version('numpy')
    except importlib.metadata.PackageNotFoundError:
        return None
    if installed == loaded:
        return None
    return ('numpy %s is loaded but pip has since installed numpy %s: '
            'restart the runtime (Colab: Runtime > Restart session; '
            'Jupyter: Kernel > Restart) and run the notebook from the top'
            % (loaded, installed))


def prepare():
    """``import d2l_cnn``'s first step, before anything imports mxnet:
    refuse an unsupported Python or machine, or a numpy changed under
    the running kernel; restore numpy's names."""
    problem = python_problem() or platform_problem() or stale_numpy()
    if problem:
        refuse(problem)
    RESTORED[:] = restore_numpy_names()
    _clear_failed_import()


def start():
    """Import mxnet (after ``prepare``), or refuse in one line."""
    if 'mxnet' in sys.modules:  # imported before d2l_cnn, and it worked
        return sys.modules['mxnet']
    try:
        import mxnet
    except OSError as e:  # a shared library libmxnet.so needs
        refuse(load_failure(e))
    except ImportError as e:
        if getattr(e, 'name', None) == 'mxnet':
            refuse('mxnet is not installed in %s: pip install -e . (or '
                   "the README's install line)" % sys.prefix)
        refuse(load_failure(e, missing=[]))
    return mxnet
