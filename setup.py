"""Shim for tools that still call setup.py; metadata lives in setup.cfg.

Before anything is resolved or built, one line refuses a Python or a
machine that MXNet 1.9.1 cannot run on (d2l_cnn/compat.py, read without
importing the package), so that pip shows it instead of a failure deep
in the dependencies; pip >= 23.1 also stops at python_requires itself.
"""
import importlib.util
import os
import sys

from setuptools import setup

_spec = importlib.util.spec_from_file_location(
    '_d2l_cnn_compat', os.path.join(os.path.dirname(os.path.abspath(
        __file__)), 'd2l_cnn', 'compat.py'))
_compat = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_compat)
_problem = _compat.python_problem() or _compat.platform_problem()
if _problem:
    sys.exit(_problem)

setup()
