"""Errors that the command line turns into one clear line of text.

Everything the user can fix (a bad option, missing data, a checkpoint of
another network) raises a subclass of ``D2LError``; the CLI prints its
message, without a traceback, and exits with ``exit_code``.
"""
import argparse


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
    """argparse whose errors are one line, ``error: ...``, exit status 2."""

    def error(self, message):
        self.exit(2, 'error: %s (see --help)\n' % message)
