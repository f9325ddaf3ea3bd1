"""Give MXNet's OpenMP kernels every physical core, whatever the import order.

MXNet 1.9.1 starts half as many OpenMP threads as there are cores; on a
2-core machine that halves convolution throughput. Unless the user has
set ``OMP_NUM_THREADS`` we set it to the number of physical cores this
process may use, and ``OMP_WAIT_POLICY`` to ``PASSIVE``: with spinning
threads, a second busy process on the machine (a notebook kernel, a
test run) made LeNet's training step 10 to 20 times slower here.

Both variables are read when ``mxnet`` loads. When it was imported
first (as the book's code and most notebooks do), ``set_engine_threads``
reaches the threads that do the work instead: MXNet computes on its
engine's worker thread, and OpenMP's thread count is a per-thread
setting there (MXNet sets it to half the cores when the worker starts;
``MXSetNumOMPThreads`` and ``omp_set_num_threads`` in the main thread
do not reach it). So we push one operation to the engine whose only
work is ``omp_set_num_threads(n)`` of the OpenMP runtime MXNet loaded,
and wait for it. MKLDNN's convolutions, dense layers, pooling and batch
normalization then use ``n`` threads; MXNet's own element-wise kernels
keep the cap they read at import, and the wait policy stays MXNet's.
"""
import ctypes
import os
import platform
import signal
import sys
import warnings

# MXNet's Context as the C API passes it (include/mxnet/base.h)
_CPU = 1
# The most OpenMP threads we let MXNet start (one per core is best).
MAX_THREADS = 1024


class _Context(ctypes.Structure):
    _fields_ = [('dev_type', ctypes.c_int), ('dev_id', ctypes.c_int)]


_SYNC_FUNC = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)


def physical_cores():
    """Number of physical cores available to this process (at least 1)."""
    try:
        usable = os.sched_getaffinity(0)
    except AttributeError:  # not Linux
        return max(1, (os.cpu_count() or 2) // 2)
    cores = set()
    try:
        with open('/proc/cpuinfo') as f:
            cpu = phys = None
            for line in f:
                key, _, value = line.partition(':')
                key, value = key.strip(), value.strip()
                if key == 'processor':
                    cpu, phys = int(value), None
                elif key == 'physical id':
                    phys = value
                elif key == 'core id' and cpu in usable:
                    cores.add((phys, value))
    except (OSError, ValueError):
        cores = set()
    return max(1, len(cores) or len(usable))


def cpu_model():
    """The processor's name as the kernel reports it."""
    try:
        with open('/proc/cpuinfo', encoding='utf-8') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def openmp_runtime():
    """The OpenMP library MXNet loaded (libgomp, libiomp5 or libomp).

    Looked up by the names MXNet's builds link against, among the
    libraries already loaded: a vendored copy that another package
    brought (scikit-learn's ``libgomp-<hash>.so``) has its own settings.
    """
    for name in ('libgomp.so.1', 'libiomp5.so', 'libomp.so.5', 'libomp.so'):
        try:
            return ctypes.CDLL(name, mode=os.RTLD_NOLOAD)
        except (OSError, AttributeError):
            continue
    return None


def set_engine_threads(num_threads, mx=None):
    """Set OpenMP's thread count on MXNet's CPU worker thread.

    For a process that imported ``mxnet`` before ``OMP_NUM_THREADS``
    was set. Affects computations whose kernels are created afterwards
    (MKLDNN keeps the thread count of the primitives it has built).
    Returns the count the worker reports, or None if it cannot be set.
    """
    mx = mx or sys.modules.get('mxnet')
    if mx is None:
        return None
    try:
        omp = openmp_runtime()
        if omp is None:
            return None
        seen = []

        def set_threads(run_context, param):
            omp.omp_set_num_threads(int(num_threads))
            seen.append(omp.omp_get_max_threads())
        func = _SYNC_FUNC(set_threads)
        status = mx.base._LIB.MXEnginePushSync(
            func, None, None, ctypes.byref(_Context(_CPU, 0)), None, 0,
            None, 0, None, 0, None)
        mx.nd.waitall()
    except (AttributeError, OSError, TypeError, ValueError):
        return None
    return seen[0] if status == 0 and seen else None


def _user_threads():
    """``OMP_NUM_THREADS`` as a positive int, None if unset or invalid.

    An invalid value (``abc``, empty, more than ``MAX_THREADS``) is
    replaced by the physical cores before MXNet loads, with a warning:
    MXNet 1.9.1 aborts the process at import on ``abc`` and on numbers
    beyond a C int (``3000000000``: a C++ exception), and libgomp
    complains about an empty value.
    """
    text = os.environ.get('OMP_NUM_THREADS')
    if text is None:
        return None
    try:
        value = int(text.strip())
    except ValueError:
        value = 0
    if 0 < value <= MAX_THREADS:
        return value
    if 'mxnet' not in sys.modules:
        del os.environ['OMP_NUM_THREADS']
    warnings.warn('OMP_NUM_THREADS=%r is not a positive whole number up '
                  'to %d; using %d (the physical cores)'
                  % (text, MAX_THREADS, physical_cores()), RuntimeWarning,
                  stacklevel=4)
    return None


def set_default_threads():
    """Set OMP_NUM_THREADS to the physical cores unless the user did.

    If ``mxnet`` is already loaded, also give its worker thread that
    many threads (``set_engine_threads``); warn once, with the fix, if
    that fails. An invalid ``OMP_NUM_THREADS`` counts as unset.
    """
    user_set = _user_threads() is not None
    if not user_set:
        os.environ['OMP_NUM_THREADS'] = str(physical_cores())
    os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
    num_threads = int(os.environ['OMP_NUM_THREADS'])
    if not user_set and 'mxnet' in sys.modules and num_threads > 1:
        if set_engine_threads(num_threads) != num_threads:
            warnings.warn(
                'mxnet was imported before d2l_cnn and runs on fewer '
                'OpenMP threads than the %d physical cores; start Python '
                'with OMP_NUM_THREADS=%d, or import d2l_cnn before mxnet'
                % (num_threads, num_threads), RuntimeWarning, stacklevel=3)
    return num_threads


def _interrupted(signum, frame):
    sys.stderr.write('error: interrupted\n')
    sys.stderr.flush()
    os._exit(130)


def quiet_interrupts():
    """Until a command's ``main`` runs, Ctrl-C exits with one line.

    Only for ``python -m d2l_cnn.COMMAND`` (``sys.argv[0]`` is ``'-m'``
    while Python imports the package of the module to run): a Ctrl-C
    while MXNet loads then prints ``error: interrupted`` and exits with
    status 130 instead of a traceback. Nothing has been written yet.
    ``errors.run_command`` hands Ctrl-C back to Python.
    """
    if sys.argv[:1] != ['-m']:
        return
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        try:
            signal.signal(signal.SIGINT, _interrupted)
        except ValueError:  # not the main thread
            pass
