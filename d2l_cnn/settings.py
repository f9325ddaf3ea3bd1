"""A run's settings: a registered recipe with overrides, and its choices.

``make_settings('nin', kind='auto')`` is the one settings object of a
training run: a registered recipe (``book`` on a GPU, ``cpu`` on a CPU
for ``'auto'``) with overrides, plus the run's own choices (seed,
subset, data folder, device). The command line, the notebooks
(``d2l_cnn.notebook.run_config``) and the benchmark all start from it;
``settings.load_data()``, ``settings.make_trainer(net)`` and
``settings.initializer`` turn it into MXNet objects, and ``str(settings)``
says which recipe runs and why, beside the other one.
"""
import dataclasses
import math

from . import data, summary
from .devices import check_seed, parse_ctx
from .errors import UsageError
from .optim import make_initializer, make_trainer
from .registry import Recipe, get_entry, get_model, get_recipe


RECIPE_CHOICES = ('auto', 'book', 'cpu')


MAX_RESIZE = 512


@dataclasses.dataclass(frozen=True)
class Settings:
    """A registered recipe with overrides, and the run's own choices.

    Every ``Recipe`` field reads through: ``settings.lr`` is
    ``settings.recipe.lr``.
    """

    model: str
    recipe: Recipe
    kind: str = 'book'       # the registered recipe it starts from
    reason: str = ''         # why that one
    overrides: tuple = ()    # recipe fields changed from it
    ctx: object = None       # a context, or a list of them
    seed: int = 0
    num_examples: int = None  # the first N training examples only
    lr_steps: tuple = ()      # epochs: multiply the lr by lr_factor
    lr_factor: float = 0.1
    root: str = None          # folder of the data set's files

    RUN_KEYS = ('ctx', 'seed', 'num_examples', 'lr_steps', 'lr_factor',
                'root')

    def __getattr__(self, name):
        if name in Recipe.names():
            return getattr(self.recipe, name)
        raise AttributeError(name)

    # what the run is made of
    @property
    def contexts(self):
        """The devices as a list (``ctx`` may be one context)."""
        return parse_ctx(self.ctx)

    @property
    def book(self):
        """The book's recipe of this network."""
        return get_recipe(self.model, 'book')

    @property
    def cpu(self):
        """The cpu recipe of this network."""
        return get_recipe(self.model, 'cpu')

    @property
    def quick(self):
        """Whether this is the cpu recipe (the notebooks' quick mode)."""
        return self.kind == 'cpu'

    @property
    def dataset(self):
        """``data.dataset_info`` of the recipe's data set."""
        return data.dataset_info(self.recipe.data)

    @property
    def in_channels(self):
        return self.dataset.shape[0]

    @property
    def num_classes(self):
        return self.dataset.num_classes

    @property
    def num_train(self):
        n = self.dataset.num_train
        return min(n, self.num_examples) if self.num_examples else n

    @property
    def num_test(self):
        return self.dataset.num_test

    @property
    def batches_per_epoch(self):
        return math.ceil(self.num_train / self.recipe.batch_size)

    @property
    def initializer(self):
        """The recipe's MXNet initializer (``init.Xavier()``, ...)."""
        return make_initializer(self.recipe)

    # changing it
    def replace(self, **changes):
        """A copy with recipe fields or run choices changed.

        ``cfg.replace(batch_size=64, num_epochs=3)``; what may change:
        the recipe's fields except ``why``, and ``RUN_KEYS``.
        """
        names = [f.name for f in Recipe.overridable()]
        unknown = set(changes) - set(names) - set(self.RUN_KEYS)
        if unknown:
            raise UsageError('cannot change %s; change one of: %s'
                             % (', '.join(sorted(unknown)),
                                ', '.join(names + list(self.RUN_KEYS))))
        mine = {k: v for k, v in changes.items() if k in self.RUN_KEYS}
        recipe = {k: v for k, v in changes.items() if k not in mine}
        if recipe:
            changed = set(self.overrides) | {
                k for k, v in recipe.items() if v != self.recipe[k]}
            mine['recipe'] = self.recipe.replace(**recipe)
            mine['overrides'] = tuple(n for n in names if n in changed)
        return dataclasses.replace(self, **mine)

    # turning it into MXNet objects
    def load_data(self, ctx=None):
        """(train_iter, test_iter), batches made on ``ctx`` (or ours)."""
        ctx = ctx or self.contexts[0]
        train_iter, test_iter = data.load_data(
            self.recipe.data, self.recipe.batch_size,
            resize=self.recipe.resize, root=self.root, ctx=ctx,
            seed=self.seed)
        if self.num_examples:
            train_iter = train_iter.subset(self.num_examples)
        return train_iter, test_iter

    def make_trainer(self, net, kvstore=None, batches_per_epoch=None):
        """The recipe's ``gluon.Trainer`` for ``net`` (see optim.py)."""
        return make_trainer(net, self.recipe,
                            batches_per_epoch or self.batches_per_epoch,
                            kvstore, self.lr_steps, self.lr_factor)

    # saying what it is
    def headline(self):
        """One line: which recipe runs, why, and why it differs."""
        if self.kind == 'book':
            line = "run: the BOOK's recipe"
        else:
            line = "run: the %s recipe, not the book's" % self.kind
        if self.reason:
            line += ' (because %s)' % self.reason
        if self.overrides:
            line += ', changed: %s' % ', '.join(self.overrides)
        if self.kind != 'book' and self.recipe.why:
            line += '. ' + self.recipe.why
        return line

    def __str__(self):
        """The header a notebook prints: the run, then both recipes."""
        info = self.dataset
        lines = [self.headline(),
                 'data: %s, %d training / %d test images'
                 % (self.recipe.data, self.num_train, info.num_test),
                 'device: %s' % (self.ctx,),
                 'settings: %s' % self.recipe.describe()]
        columns = [('this run', self.recipe)] if self.overrides else []
        columns += [('cpu' + (' (runs)' if self.kind == 'cpu' and not
                              self.overrides else ''), self.cpu),
                    ('book' + (' (runs)' if self.kind == 'book' and not
                               self.overrides else ''), self.book)]
        lines.append(recipe_table(columns))
        if self.kind == 'book':
            lines.append('why the cpu recipe differs: %s' % self.cpu.why)
        return '\n'.join(lines)

    def asdict(self):
        """For run.json: the recipe's fields and the run's choices."""
        return dict(self.recipe.asdict(), kind=self.kind,
                    overrides=list(self.overrides), seed=self.seed,
                    num_examples=self.num_examples,
                    lr_steps=list(self.lr_steps), lr_factor=self.lr_factor)


def recipe_table(columns):
    """Recipes side by side, one row per field (``why`` left out)."""
    names = [f.name for f in Recipe.overridable()]
    width = max(len(n) for n in names) + 2
    cells = [[title] + ['%g' % r[n] if isinstance(r[n], float) else
                        str(r[n]) for n in names] for title, r in columns]
    col = [max(len(c) for c in column) + 2 for column in cells]
    rows = []
    for i, name in enumerate(['recipe'] + names):
        rows.append((name.ljust(width) + ''.join(
            column[i].ljust(w) for column, w in zip(cells, col))).rstrip())
    return '\n'.join(rows)


def choose_recipe(kind, contexts):
    """``(kind, reason)``: 'auto' is the book's on a GPU, else cpu."""
    if kind not in RECIPE_CHOICES:
        raise UsageError('unknown recipe %r; choose one of: %s'
                         % (kind, ', '.join(RECIPE_CHOICES)))
    if kind != 'auto':
        return kind, '--recipe %s' % kind
    if contexts[0].device_type == 'gpu':
        return 'book', 'a GPU was found'
    return 'cpu', 'no GPU was found'


def make_settings(model, kind='auto', ctx=None, reason=None, **changes):
    """The settings of a run of ``model``: a registered recipe + changes.

    ``kind`` is 'book', 'cpu' or 'auto' (book on a GPU, cpu on a CPU;
    ``ctx`` defaults to ``try_gpu()``). ``changes`` are recipe fields
    and run choices (see ``Settings.replace``); None values are ignored,
    so the command line passes its options as they are.
    """
    get_entry(model)  # unknown model: the list of choices
    contexts = parse_ctx(ctx)
    kind, why = choose_recipe(kind, contexts)
    s = Settings(model, get_recipe(model, kind), kind=kind,
                 reason=why if reason is None else reason,
                 ctx=contexts[0] if ctx is None else ctx)
    s = s.replace(**{k: v for k, v in changes.items() if v is not None})
    s.dataset  # unknown data set: the list of choices
    check_seed(s.seed)
    if s.lr_steps and not 0 < s.lr_factor <= 1:
        raise UsageError('--lr-factor %g: the lr steps lower the lr, give a '
                         'factor above 0 and at most 1 (e.g. 0.1)'
                         % s.lr_factor)
    if s.num_examples is not None and (
            not isinstance(s.num_examples, int) or s.num_examples < 1):
        raise UsageError('num_examples must be a positive whole number, '
                         'not %r' % (s.num_examples,))
    return s


def check_input_size(s):
    """Refuse input sizes the network cannot take, with the minimum."""
    net = get_model(s.model, num_classes=s.num_classes)
    smallest = summary.min_input_size(net, s.in_channels)
    if s.resize < smallest:
        raise UsageError('--resize %d is too small for %s: its smallest '
                         'input is %dx%d' % (s.resize, s.model, smallest,
                                             smallest))
    if s.resize > MAX_RESIZE:
        raise UsageError('--resize %d is larger than %d; the book trains '
                         '%s at %d' % (s.resize, MAX_RESIZE, s.model,
                                       s.book.resize))
