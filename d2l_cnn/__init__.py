"""d2l_cnn: the convolutional networks of d2l-zh chapter 5 in MXNet Gluon.

>>> import d2l_cnn
>>> net = d2l_cnn.get_model('nin')
>>> d2l_cnn.get_recipe('nin')['lr']
0.1
"""
from ._threads import set_default_threads

# Before MXNet loads: OpenMP on every physical core, not half of them.
set_default_threads()

from .errors import D2LError, DataError, UsageError  # noqa: E402
from .registry import (get_entry, get_model, get_recipe,  # noqa: E402
                       list_models, register_model)
from . import models  # noqa: E402,F401  (registers the networks)

__version__ = '0.1.0'
__all__ = ['D2LError', 'DataError', 'UsageError', 'get_entry', 'get_model',
           'get_recipe', 'list_models', 'register_model']
