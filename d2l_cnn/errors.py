"""One way for every command to fail: one clear line of text.

Everything the user can fix (a bad option, missing data, a checkpoint of
another network) raises a subclass of ``D2LError``. Every command's
``main`` parses its arguments with ``OneLineParser`` (which adds
``--debug``) and runs its work through ``run_command``, which prints
``error: ...`` without a traceback (``--debug`` shows it) and returns
the exit status: the error's ``exit_code`` (2 for bad arguments, 1 for
failures at run time), 1 for MXNet, file, encoding and memory errors
(and for a bug: ``internal error ...``), 130 after Ctrl-C or SIGTERM.
"""
import argparse
import io
import math
import os
import signal
import sys
import threading
import time
import traceback

from mxnet.base import MXNetError

STATUS_INTERRUPTED = 130
INTERNAL = 1  # a bug of ours (an exception no check anticipated)


class D2LError(Exception):
    """A failure the user can act on; ``exit_code`` 1 (runtime)."""

    exit_code = 1


class UsageError(D2LError, ValueError):
    """A bad argument (unknown model, lr <= 0, resize too small): exit 2."""

    exit_code = 2


class DataError(D2LError):
    """Data that is missing, corrupt, foreign or cannot be downloaded."""


class DivergenceError(D2LError):
    """The loss became NaN or infinite during training."""


class OneLineParser(argparse.ArgumentParser):
    """argparse whose errors are one line, ``error: ...``, exit status 2.

    Every command gets ``--debug`` (show the traceback of errors).
    Options must be spelled out (``allow_abbrev=False``).
    """

    def __init__(self, *args, **kwargs):
        # no prefix matching: --see must not become --seed
        kwargs.setdefault('allow_abbrev', False)
        super().__init__(*args, **kwargs)
        self.add_argument('--debug', action='store_true',
                          help='show the full traceback of errors')

    def error(self, message):
        self.exit(2, 'error: %s (see --help)\n' % message)


def mxnet_summary(error):
    """The gist of an MXNet error in one line: its failed check or error
    line (else its first line), without the lists MXNet appends."""
    lines = [s.strip() for s in str(error).splitlines() if s.strip()]
    found = [s for s in lines if 'Check failed' in s or 'Error' in s]
    text = (found or lines or [type(error).__name__])[0]
    for cut in (', which contains', '. Set '):
        text = text.split(cut, 1)[0]
    return text[-300:]


LAUNCH_HINT = ('a dist_* kvstore needs a scheduler and servers: start the '
               'command through python -m d2l_cnn.launch -n 2 -s 1 -- '
               'python -m d2l_cnn.train ...')
# MXNet's words -> what to do (the first that matches is said)
HINTS = (('USE_INT64_TENSOR_SIZE', 'a tensor would hold more than 2**31 '
          'elements, the limit of MXNet\'s pip build: try a smaller '
          '--resize or --batch-size'),
         ('larger than 2^31', 'a tensor would hold more than 2**31 '
          'elements, the limit of MXNet\'s pip build: try a smaller '
          '--resize or --batch-size'),
         ('Failed to allocate', 'out of memory: try a smaller '
          '--batch-size or --resize'),
         ('find("DMLC_', LAUNCH_HINT))


def mxnet_hint(error):
    """What to do about an MXNet error we recognise (None otherwise)."""
    text = str(error)
    for words, hint in HINTS:
        if words in text:
            return hint
    return None


# how many SIGINT / SIGTERM Python's handlers have run (see Watchdog)
_HANDLED = [0]
# True while a command's body runs: only then does a signal raise
# KeyboardInterrupt. Outside it (run_command setting up, or tidying up
# in its finally, where an exception would escape as a traceback and a
# death by SIGINT) the signal is kept in _PENDING: one that came before
# the body interrupts it as it starts; one that came after it returned
# is dropped, as the command's work is complete.
_ARMED = [False]
_PENDING = [False]


def _terminate(signum, frame):
    _HANDLED[0] += 1
    if _ARMED[0]:
        raise KeyboardInterrupt
    _PENDING[0] = True


def run_command(body, debug=False, interrupted=None):
    """Run ``body()`` as a command's main; returns the exit status.

    ``body``'s return value is the status (None means 0). SIGTERM is
    turned into ``KeyboardInterrupt`` while it runs (one that comes
    after it returned is dropped: see ``_ARMED``); ``interrupted()``
    (if given) says what was kept and how to continue. Errors become
    one line on stderr, after the traceback when ``debug``.
    """
    try:
        previous = signal.signal(signal.SIGTERM, _terminate)
        # Ctrl-C raises KeyboardInterrupt again (see threads.py)
        previous_int = signal.signal(signal.SIGINT, _terminate)
    except ValueError:  # not the main thread: leave signals alone
        previous = previous_int = None
    wrapped = not isinstance(sys.stdout, PipeSafe)  # not yet (nested)
    if wrapped:
        _line_buffered(sys.stdout)
    stdout = sys.stdout = PipeSafe.wrap(sys.stdout)
    watchdog = (Watchdog.start(debug, interrupted) if previous is not None
                else None)
    armed = _ARMED[0]  # nested commands: the outer one stays armed
    try:
        _ARMED[0] = True
        if _PENDING[0]:  # a signal while the lines above ran
            raise KeyboardInterrupt
        status = body()
        return 0 if status is None else status
    except D2LError as e:
        return _fail(debug, str(e), e.exit_code)
    except KeyboardInterrupt:
        try:
            message = interrupted() if interrupted else 'interrupted'
        except (KeyboardInterrupt, D2LError, OSError, ValueError):
            message = 'interrupted'
        return _fail(debug, message, STATUS_INTERRUPTED)
    except MXNetError as e:
        return _fail(debug, 'MXNet failed: %s' % (
            mxnet_hint(e) or mxnet_summary(e)), 1)
    except OSError as e:
        return _fail(debug, 'cannot read or write %s (%s)'
                     % (e.filename or 'a file', e.strerror or e), 1)
    except MemoryError:
        return _fail(debug, 'out of memory: try a smaller --batch-size '
                     'or --resize', 1)
    except UnicodeError as e:
        return _fail(debug, 'cannot encode or decode text (%s); use a '
                     'UTF-8 locale, e.g. LC_ALL=C.UTF-8' % e, 1)
    except Exception as e:  # a bug: still one line, --debug tells more
        return _fail(debug, 'internal error (%s: %s); please report it '
                     'with the output of --debug'
                     % (type(e).__name__, str(e)[:200]), INTERNAL)
    finally:
        _ARMED[0] = armed
        if watchdog is not None:
            watchdog.stop()
        if wrapped and sys.stdout is stdout:
            sys.stdout = stdout.stream
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
            signal.signal(signal.SIGINT, previous_int)
        _PENDING[0] = False


class Watchdog:
    """Ends the command when a signal cannot reach it.

    SIGTERM and Ctrl-C become ``KeyboardInterrupt`` only when Python
    runs: while MXNet blocks in C (a ``dist_sync`` worker waiting for
    its scheduler, a long operator) nothing happens. Python's C-level
    handler also writes the signal's number to a wakeup descriptor
    (``signal.set_wakeup_fd``); this thread reads it, and if Python's
    own handler (``_terminate``) has not run ``GRACE`` seconds later,
    it prints the same one line as an interrupt and ends the process
    (status 130). Files are written by rename, so nothing half-written
    is left.
    """

    GRACE = 3.0

    def __init__(self, debug, interrupted):
        self.interrupted = interrupted
        self.done = threading.Event()
        self.read, self.write = os.pipe()
        os.set_blocking(self.write, False)
        self.previous = signal.set_wakeup_fd(self.write,
                                             warn_on_full_buffer=False)
        self.thread = threading.Thread(target=self._watch, daemon=True,
                                       name='d2l_cnn-watchdog')
        self.thread.start()

    @classmethod
    def start(cls, debug, interrupted):
        try:
            return cls(debug, interrupted)
        except (ValueError, OSError):  # not the main thread
            return None

    def _watch(self):
        seen = _HANDLED[0]
        while not self.done.is_set():
            try:
                got = os.read(self.read, 64)
            except OSError:
                return
            if self.done.is_set() or not got:
                return
            seen += sum(b in (signal.SIGINT, signal.SIGTERM) for b in got)
            if _HANDLED[0] >= seen:
                continue
            # Python's handler has not run: wait for it a little
            deadline = time.monotonic() + self.GRACE
            while _HANDLED[0] < seen and time.monotonic() < deadline:
                if self.done.wait(0.05):
                    return
            if _HANDLED[0] >= seen:
                continue  # it ran: the interrupt takes its course
            try:
                message = (self.interrupted() if self.interrupted
                           else 'interrupted')
            except Exception:
                message = 'interrupted'
            try:
                sys.stderr.write('\nerror: %s\n' % message)
                sys.stderr.flush()
            finally:
                os._exit(STATUS_INTERRUPTED)

    def stop(self):
        self.done.set()
        try:
            signal.set_wakeup_fd(self.previous)
        except ValueError:
            pass
        try:
            os.write(self.write, b'\0')  # wake the thread up
        except OSError:
            pass
        self.thread.join(1.0)
        os.close(self.write)
        os.close(self.read)


def _line_buffered(stream):
    """Each printed line reaches a pipe at once (``train ... | tee log``
    shows every epoch as it ends, not all of them at exit)."""
    try:
        stream.reconfigure(line_buffering=True)
    except (AttributeError, ValueError, io.UnsupportedOperation):
        pass  # not a text stream of ours (a test's capture): leave it


class PipeSafe:
    """A stdout that stops printing when its reader goes away.

    ``train ... | head -1``: once ``head`` exits, writing raises
    ``BrokenPipeError``; the work goes on (a run keeps training and
    saving), and what it prints goes to ``/dev/null``.
    """

    def __init__(self, stream):
        self.stream = stream

    @classmethod
    def wrap(cls, stream):
        return stream if isinstance(stream, cls) else cls(stream)

    def _quiet(self):
        try:  # the descriptor itself, so that exit's flush is quiet too
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, self.stream.fileno())
            os.close(null)
        except (OSError, ValueError, AttributeError,
                io.UnsupportedOperation):
            self.stream = open(os.devnull, 'w')

    def write(self, text):
        try:
            return self.stream.write(text)
        except BrokenPipeError:
            self._quiet()
            return len(text)

    def flush(self):
        try:
            self.stream.flush()
        except BrokenPipeError:
            self._quiet()

    def __getattr__(self, name):
        return getattr(self.stream, name)


def _fail(debug, message, status):
    if debug:
        traceback.print_exc()
    print('error: %s' % message, file=sys.stderr)
    return status


def _number(kind, ok, wanted, label):
    """An argparse type: ``kind`` (int or float), finite, ``ok(value)``."""
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                '%r is not a %s' % (text, 'number' if kind is float
                                    else 'whole number'))
        if not (ok(value) and math.isfinite(value)):
            raise argparse.ArgumentTypeError(
                'must be %s, not %s' % (wanted, text))
        return value
    parse.__name__ = '%s %s' % (label, kind.__name__)
    return parse


def positive(kind):
    """An argparse type: a finite ``kind`` above 0."""
    return _number(kind, lambda v: v > 0, 'positive', 'positive')


def non_negative(kind):
    """An argparse type: a finite ``kind`` of 0 or more."""
    return _number(kind, lambda v: v >= 0, '0 or more', 'non-negative')


def int_range(low, high):
    """An argparse type: a whole number from ``low`` to ``high``."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError('%r is not a whole number'
                                             % text) from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError('must be %d to %d, not %s'
                                             % (low, high, text))
        return value
    parse.__name__ = 'whole number'
    return parse
