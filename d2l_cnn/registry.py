"""Networks by name, each with two training recipes beside it.

``@register_model(resize=224, lr=0.1, batch_size=128, cpu=dict(...))``
above a builder adds it to the registry with the book's recipe (the
keyword arguments) and a ``cpu`` recipe (what learns on the embedded
digits on a laptop CPU, with one sentence saying why it differs).
``get_model('nin')`` builds an uninitialised network,
``get_recipe('nin')`` / ``get_recipe('nin', 'cpu')`` tell how to train
it and ``list_models()`` lists the names.

A recipe is a frozen ``Recipe``; its fields are the whole vocabulary of
a training recipe: the command line's options and what a notebook may
change are made from them, so a new field is added here and nowhere
else.
"""
import dataclasses
import numbers

import mxnet as mx

from .errors import UsageError

OPTIMIZERS = ('sgd', 'momentum', 'adam')
LR_SCHEDULES = ('constant', 'cosine')
RECIPE_KINDS = ('book', 'cpu')


def _field(default, help, **meta):
    """A recipe field; ``help`` and ``meta`` describe its CLI option."""
    return dataclasses.field(default=default,
                             metadata=dict(meta, help=help))


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How a network is trained: data, sizes, optimizer, schedule.

    The defaults are the book's (first edition, chapter 5: plain SGD,
    Xavier initialisation, 5 epochs). ``recipe['lr']`` reads a field as
    well as ``recipe.lr``.
    """

    data: str = _field('fashion-mnist', 'data set')
    resize: int = _field(28, 'input height and width', positive=True)
    batch_size: int = _field(256, 'examples per step', positive=True)
    num_epochs: int = _field(5, 'passes over the training data',
                             positive=True, aliases=('--epochs',))
    optimizer: str = _field('sgd', 'sgd (the book), momentum (SGD, '
                            'momentum 0.9) or adam', choices=OPTIMIZERS)
    lr: float = _field(0.1, 'learning rate', positive=True)
    wd: float = _field(0.0, 'weight decay', non_negative=True)
    lr_schedule: str = _field('constant', 'constant, or cosine decay to 0 '
                              'over the run', choices=LR_SCHEDULES)
    warmup_epochs: float = _field(0.0, 'epochs of linear warm-up from lr 0',
                                  non_negative=True)
    init: str = _field('xavier', 'initializer: xavier (the book), he '
                       '(He et al., 2015), centered (Xavier, zero-sum '
                       'weights) or another MXNet initializer name')
    centralize: bool = _field(False, 'gradient centralization (Yong et '
                              'al., 2020): each weight gradient minus its '
                              'mean over the unit\'s inputs, so zero-sum '
                              'weights stay (about, under Adam) zero-sum')
    why: str = _field('', 'why this recipe differs from the book\'s',
                      fixed=True)

    def __post_init__(self):
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.type in ('int', int) and not isinstance(value, int):
                raise UsageError('%s must be a whole number, not %r'
                                 % (f.name, value))
            if f.type in ('bool', bool) and not isinstance(value, bool):
                raise UsageError('%s must be True or False, not %r'
                                 % (f.name, value))
            if (f.metadata.get('positive') and not value > 0
                    or f.metadata.get('non_negative') and not value >= 0):
                raise UsageError('%s must be %s, not %r' % (
                    f.name, 'positive' if f.metadata.get('positive')
                    else '0 or more', value))
            choices = f.metadata.get('choices')
            if choices and value not in choices:
                raise UsageError('%s must be one of %s, not %r'
                                 % (f.name, ', '.join(choices), value))
        if self.warmup_epochs > self.num_epochs:
            raise UsageError('warmup_epochs (%g) is longer than the run '
                             '(%d epochs)' % (self.warmup_epochs,
                                              self.num_epochs))

    def __getitem__(self, key):
        if key not in self.names():
            raise KeyError(key)
        return getattr(self, key)

    @classmethod
    def names(cls):
        """All field names, in order."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def overridable(cls):
        """The fields a run may change (all but ``why``)."""
        return tuple(f for f in dataclasses.fields(cls)
                     if not f.metadata.get('fixed'))

    def replace(self, **changes):
        """A copy with some fields changed (checked like a new recipe)."""
        return dataclasses.replace(self, **changes)

    def asdict(self):
        """The fields as a plain dict (for run.json)."""
        return dataclasses.asdict(self)

    def describe(self):
        """One line: 'resize 224, batch size 128, sgd, lr 0.1, ...'."""
        text = ('%s, resize %d, batch size %d, %s, lr %g'
                % (self.data, self.resize, self.batch_size, self.optimizer,
                   self.lr))
        if self.wd:
            text += ', wd %g' % self.wd
        if self.lr_schedule != 'constant':
            text += ', %s schedule' % self.lr_schedule
        if self.warmup_epochs:
            text += ', %g warm-up epoch%s' % (
                self.warmup_epochs, '' if self.warmup_epochs == 1 else 's')
        text += ', %s init' % self.init
        if self.centralize:
            text += ', centralized gradients'
        return text + ', %d epochs' % self.num_epochs


class Entry:
    """A registered network: builder, recipes, book section, hybrid."""

    def __init__(self, name, builder, recipes, section, hybrid):
        self.name = name
        self.builder = builder
        self.recipes = recipes  # {'book': Recipe, 'cpu': Recipe}
        self.section = section
        self.hybrid = hybrid


_MODELS = {}


def register_model(section=None, hybrid=True, cpu=None, **book):
    """Decorator: register ``builder`` under its function name.

    ``section`` is the book section (``'5.8'``), ``hybrid=False`` marks
    a network whose forward pass cannot be one cached graph (it cannot
    be exported), the keyword arguments are the book's recipe (fields
    of ``Recipe`` not given keep its defaults) and ``cpu`` the fields of
    the ``cpu`` recipe that differ from the book's, ``why`` included;
    its data set is the embedded ``mnist5k`` unless it says otherwise.
    """
    unknown = set(book) - set(Recipe.names())
    if unknown:
        raise TypeError('unknown recipe keys: %s' % ', '.join(sorted(unknown)))

    def decorate(builder):
        name = builder.__name__
        if name in _MODELS:
            raise ValueError('model %r is already registered' % name)
        if not cpu or not cpu.get('why'):
            raise TypeError('%s: give its cpu recipe, with a why sentence'
                            % name)
        book_recipe = Recipe(**book)
        recipes = {'book': book_recipe,
                   'cpu': book_recipe.replace(**dict({'data': 'mnist5k'},
                                                     **cpu))}
        _MODELS[name] = Entry(name, builder, recipes, section, hybrid)
        return builder
    return decorate


def list_models():
    """Names of all registered networks, sorted."""
    return sorted(_MODELS)


def get_entry(name):
    """The registry entry (builder, recipes, section, hybrid) of ``name``."""
    try:
        return _MODELS[name]
    except (KeyError, TypeError):
        raise UsageError('unknown model %r; choose one of: %s'
                         % (name, ', '.join(list_models()))) from None


def get_model(name, **kwargs):
    """Build the uninitialised network registered as ``name``.

    Layers are named afresh (``conv0``, ``pool0``, ...) as in the book,
    however many networks were built before. ``kwargs`` go to the
    builder, e.g. ``num_classes`` (a positive whole number: checked
    here, before MXNet would fail deep inside a layer).
    """
    builder = get_entry(name).builder
    for key in ('num_classes', 'in_channels'):
        value = kwargs.get(key)
        if key in kwargs and (isinstance(value, bool) or not isinstance(
                value, numbers.Integral) or value < 1):
            raise UsageError('%s must be a positive whole number, not %r'
                             % (key, value))
        if key in kwargs:
            kwargs[key] = int(value)  # numpy integers too
    with mx.name.NameManager():
        return builder(**kwargs)


def get_recipe(name, kind='book'):
    """The ``book`` or ``cpu`` recipe of ``name`` (a frozen ``Recipe``)."""
    if kind not in RECIPE_KINDS:
        raise UsageError('unknown recipe %r; choose one of: %s'
                         % (kind, ', '.join(RECIPE_KINDS)))
    return get_entry(name).recipes[kind]
