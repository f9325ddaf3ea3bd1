"""One worker process of a ``d2l_cnn.launch`` job: join its kvstore
(``create_kvstore``, which gives up with one line when the scheduler
cannot be reached) and leave it on failure (``skip_exit_barrier``).
"""
import ctypes
import os
import sys
import threading

import mxnet as mx
from mxnet.base import _LIB, check_call

from .errors import UsageError

# seconds a dist_* worker waits for its scheduler (create_kvstore)
CONNECT_TIMEOUT = 60


def create_kvstore(name):
    """``mx.kv.create(name)``; a ``dist_*`` store that cannot reach its
    scheduler within ``$D2L_CNN_CONNECT_TIMEOUT`` seconds (default
    ``CONNECT_TIMEOUT``) ends the process with one line (status 1):
    MXNet would wait for it for ever, in C, deaf to signals."""
    if not name.startswith('dist'):
        return mx.kv.create(name)
    text = os.environ.get('D2L_CNN_CONNECT_TIMEOUT', str(CONNECT_TIMEOUT))
    try:
        timeout = float(text)
        if not timeout > 0:
            raise ValueError
    except ValueError:
        raise UsageError('D2L_CNN_CONNECT_TIMEOUT=%r: give seconds, e.g. '
                         '60' % text) from None
    where = '%s:%s' % (os.environ.get('DMLC_PS_ROOT_URI'),
                       os.environ.get('DMLC_PS_ROOT_PORT'))
    done = threading.Event()

    def give_up():
        if not done.wait(timeout):
            sys.stderr.write(
                '\nerror: cannot reach the scheduler at %s after %g s; '
                'start the job with python -m d2l_cnn.launch (or raise '
                'D2L_CNN_CONNECT_TIMEOUT)\n' % (where, timeout))
            sys.stderr.flush()
            os._exit(1)
    threading.Thread(target=give_up, daemon=True).start()
    try:
        return mx.kv.create(name)
    finally:
        done.set()


def skip_exit_barrier(kv):
    """Let this worker exit without waiting for the others (on failure).

    At exit MXNet's dist kvstore waits at a barrier for every worker;
    when one worker fails while the others wait for its gradients, that
    barrier is never reached and the failing process hangs instead of
    exiting. Call this before leaving with an error, so the launcher
    sees the status and stops the rest. A no-op for other kvstores.
    """
    if 'dist' in getattr(kv, 'type', ''):
        check_call(_LIB.MXKVStoreSetBarrierBeforeExit(kv.handle,
                                                      ctypes.c_int(0)))
