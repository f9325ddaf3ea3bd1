"""What several test files share: input channels and subprocess settings.

Import the helpers (``from conftest import channels, subprocess_env``);
pytest puts this folder on ``sys.path``.
"""
import os

import d2l_cnn
from d2l_cnn import data

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def channels(name):
    """Input channels of network ``name``: its book data set's."""
    return data.dataset_info(d2l_cnn.get_recipe(name).data).shape[0]


def subprocess_env(**extra):
    """The environment for a command run as a user runs it.

    This checkout comes first on ``PYTHONPATH`` (so the child imports the
    code under test); ``extra`` sets more variables.
    """
    env = dict(os.environ, **extra)
    env['PYTHONPATH'] = os.pathsep.join(
        [ROOT] + [p for p in [os.environ.get('PYTHONPATH')] if p
                  and p != ROOT])
    return env
