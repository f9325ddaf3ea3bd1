"""Networks by name, each with the book's training recipe beside it.

``@register_model(resize=224, lr=0.1, batch_size=128)`` above a builder
adds it to the registry; ``get_model('nin')`` builds an uninitialised
network, ``get_recipe('nin')`` tells how the book trains it and
``list_models()`` lists the names.
"""
import mxnet as mx

from .errors import UsageError

_MODELS = {}

# First edition, chapter 5: plain SGD, Xavier initialisation, 5 epochs.
DEFAULT_RECIPE = dict(resize=28, lr=0.1, batch_size=256, num_epochs=5,
                      optimizer='sgd', data='fashion-mnist')


class Entry:
    """A registered network: its builder, recipe and book section."""

    def __init__(self, name, builder, recipe, section, hybrid):
        self.name = name
        self.builder = builder
        self.recipe = recipe
        self.section = section
        self.hybrid = hybrid

    @property
    def title(self):
        """First line of the builder's docstring."""
        return (self.builder.__doc__ or self.name).strip().splitlines()[0]


def register_model(section=None, hybrid=True, **recipe):
    """Decorator: register ``builder`` under its function name.

    ``section`` is the book section (``'5.8'``), ``hybrid=False`` marks a
    network whose forward pass cannot be one cached graph, and the keyword
    arguments override ``DEFAULT_RECIPE``.
    """
    unknown = set(recipe) - set(DEFAULT_RECIPE)
    if unknown:
        raise TypeError('unknown recipe keys: %s' % ', '.join(sorted(unknown)))

    def decorate(builder):
        name = builder.__name__
        if name in _MODELS:
            raise ValueError('model %r is already registered' % name)
        full = dict(DEFAULT_RECIPE, **recipe)
        _MODELS[name] = Entry(name, builder, full, section, hybrid)
        return builder
    return decorate


def list_models():
    """Names of all registered networks, sorted."""
    return sorted(_MODELS)


def _entry(name):
    try:
        return _MODELS[name]
    except (KeyError, TypeError):
        raise UsageError('unknown model %r; choose one of: %s'
                         % (name, ', '.join(list_models()))) from None


def get_model(name, **kwargs):
    """Build the uninitialised network registered as ``name``.

    Layers are named afresh (``conv0``, ``pool0``, ...) as in the book,
    however many networks were built before. ``kwargs`` go to the
    builder, e.g. ``num_classes``.
    """
    builder = _entry(name).builder
    with mx.name.NameManager():
        return builder(**kwargs)


def get_recipe(name):
    """The book's training recipe for ``name`` (a new dict)."""
    return dict(_entry(name).recipe)


def get_entry(name):
    """The registry entry (builder, recipe, section, hybrid) of ``name``."""
    return _entry(name)
