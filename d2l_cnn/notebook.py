"""What the notebooks need: how big a run is, and a live training plot.

``run_config(name)`` is the one switch deciding the size of a run. With
a GPU and the Fashion-MNIST files on disk it is the book's recipe;
otherwise, and always when ``CI`` is set or ``D2L_CNN_QUICK=1``, it is a
small run on the embedded ``mnist5k`` digits (smaller images, fewer
examples and epochs) that finishes in seconds on a 2-core CPU.
``D2L_CNN_QUICK=0`` asks for the book's recipe on any device (it may
download Fashion-MNIST and take hours on a CPU). ``print(cfg)`` says
which run it is and why.

``LivePlot`` is a ``train_ch5`` callback: inside Jupyter it redraws one
figure after every epoch (in place, so the printed epoch lines stay);
elsewhere it draws once, after the last epoch.
"""
import copy
import io
import os

from . import data as _data
from .errors import UsageError
from .registry import get_model, get_recipe
from .train import try_gpu

# Small runs on mnist5k (4,000 training / 1,000 test digits). ``resize``
# is at least the network's summary.min_input_size; ``num_train`` and
# ``num_test`` take every k-th example (they must divide 4,000 and
# 1,000). The book's learning rates are kept. In so few steps the deep
# networks without batch normalization (alexnet, vgg, nin, googlenet)
# stay at chance level: their quick runs only show that everything runs.
QUICK = {
    # sigmoid LeNet leaves its plateau only after ~900 steps at lr 0.9:
    # 80 steps show the plateau (the notebook's ReLU exercise learns)
    'lenet': dict(resize=28, batch_size=256, lr=0.9, num_epochs=5,
                  num_train=4000, num_test=1000),
    'alexnet': dict(resize=67, batch_size=64, lr=0.01, num_epochs=2,
                    num_train=500, num_test=500),
    'vgg': dict(resize=32, batch_size=64, lr=0.05, num_epochs=2,
                num_train=1000, num_test=500),
    'nin': dict(resize=67, batch_size=64, lr=0.1, num_epochs=2,
                num_train=1000, num_test=500),
    'googlenet': dict(resize=32, batch_size=64, lr=0.1, num_epochs=2,
                      num_train=1000, num_test=500),
    # the from-scratch batch_norm is the slow part: half the digits
    'batchnorm': dict(resize=28, batch_size=128, lr=1.0, num_epochs=5,
                      num_train=2000, num_test=1000),
    'batchnorm_scratch': dict(resize=28, batch_size=128, lr=1.0,
                              num_epochs=5, num_train=2000, num_test=1000),
    'resnet': dict(resize=32, batch_size=64, lr=0.05, num_epochs=3,
                   num_train=1000, num_test=500),
    'densenet': dict(resize=32, batch_size=64, lr=0.1, num_epochs=3,
                     num_train=1000, num_test=500),
}

# When a network is not in QUICK: its smallest input (at least 28), a
# quarter of the digits, two epochs, batch size 128 and the book's lr.
QUICK_DEFAULT = dict(batch_size=128, num_epochs=2, num_train=1000,
                     num_test=500)

MNIST5K_TRAIN, MNIST5K_TEST = 4000, 1000


def _env_quick(env):
    """(quick, reason) from the environment, or (None, None)."""
    if env.get('CI'):
        return True, 'the CI environment variable is set'
    value = env.get('D2L_CNN_QUICK')
    if value in (None, ''):
        return None, None
    if value == '1':
        return True, 'D2L_CNN_QUICK=1'
    if value == '0':
        return False, 'D2L_CNN_QUICK=0 asks for the book\'s recipe'
    raise UsageError('D2L_CNN_QUICK must be 0 or 1, got %r' % (value,))


def data_present(name, root=None):
    """Whether the files of data set ``name`` are on disk (no download)."""
    files = _data.SHA1.get(name)
    if not files:
        return False
    root = root or _data.default_root(name)
    return all(os.path.isfile(os.path.join(root, f)) for f in files)


def _is_gpu(ctx):
    return ctx.device_type == 'gpu'


class RunConfig:
    """The settings of one notebook's run and why they were chosen."""

    def __init__(self, name, quick, reason, ctx, data, resize, batch_size,
                 lr, num_epochs, num_train, num_test, book, root=None):
        self.name, self.quick, self.reason = name, quick, reason
        self.ctx, self.data, self.root = ctx, data, root
        self.resize, self.batch_size, self.lr = resize, batch_size, lr
        self.num_epochs = num_epochs
        self.num_train, self.num_test = num_train, num_test
        self.book = book  # the book's recipe, for comparison

    def replace(self, **changes):
        """A copy with some settings changed, e.g. ``batch_size=64``."""
        unknown = set(changes) - {'resize', 'batch_size', 'lr',
                                  'num_epochs'}
        if unknown:
            raise UsageError('cannot change %s; change resize, batch_size, '
                             'lr or num_epochs' % ', '.join(sorted(unknown)))
        cfg = copy.copy(self)
        cfg.__dict__.update(changes)
        return cfg

    def load_data(self):
        """(train_iter, test_iter) for this run, batches on ``ctx``."""
        if not self.quick:
            return _data.load_data(self.data, self.batch_size,
                                   resize=self.resize, root=self.root,
                                   ctx=self.ctx)
        train_iter, test_iter = _data.load_data_mnist5k(
            self.batch_size, resize=self.resize, ctx=self.ctx)
        # every k-th example: a smaller, still class-balanced subset
        if self.num_train < MNIST5K_TRAIN:
            train_iter = train_iter.shard(MNIST5K_TRAIN // self.num_train, 0)
        if self.num_test < MNIST5K_TEST:
            test_iter = test_iter.shard(MNIST5K_TEST // self.num_test, 0)
        return train_iter, test_iter

    def __str__(self):
        book = self.book
        if self.quick:
            lines = ['run: QUICK, not the book\'s recipe (because %s)'
                     % self.reason,
                     'data: mnist5k, the embedded MNIST digits: %d training '
                     '/ %d test images' % (self.num_train, self.num_test)]
        else:
            info = _data.dataset_info(self.data)
            lines = ['run: the BOOK\'s recipe (because %s)' % self.reason,
                     'data: %s, %d training / %d test images'
                     % (self.data, info.num_train, info.num_test)]
        lines.append('device: %s' % (self.ctx,))
        lines.append('settings: resize %d, batch size %d, lr %g, %d epochs, '
                     'SGD, Xavier init'
                     % (self.resize, self.batch_size, self.lr,
                        self.num_epochs))
        if self.quick:
            lines.append('the book: %s, resize %d, batch size %d, lr %g, '
                         '%d epochs' % (book['data'], book['resize'],
                                        book['batch_size'], book['lr'],
                                        book['num_epochs']))
        return '\n'.join(lines)

    def __repr__(self):
        return '<RunConfig %s %s>' % (self.name,
                                      'quick' if self.quick else 'book')


def quick_settings(name):
    """The small run's settings for network ``name`` (a new dict)."""
    if name in QUICK:
        return dict(QUICK[name])
    from .summary import min_input_size
    recipe = get_recipe(name)
    settings = dict(QUICK_DEFAULT, lr=recipe['lr'])
    settings['resize'] = max(28, min_input_size(get_model(name)))
    return settings


def run_config(name, root=None, env=None, ctx=None):
    """Decide the size of the run for network ``name``; see the module.

    ``env`` defaults to ``os.environ`` and ``ctx`` to ``try_gpu()``;
    ``root`` is where the book's data set is looked for.
    """
    book = get_recipe(name)
    env = os.environ if env is None else env
    ctx = try_gpu() if ctx is None else ctx
    quick, reason = _env_quick(env)
    if quick is None:
        root_dir = root or _data.default_root(book['data'])
        if not _is_gpu(ctx):
            quick, reason = True, 'no GPU was found'
        elif not data_present(book['data'], root):
            quick, reason = True, ('the %s files are not in %s (no '
                                   'download here)' % (book['data'],
                                                       root_dir))
        else:
            quick, reason = False, ('a GPU and the %s files are present'
                                    % book['data'])
    if quick:
        s = quick_settings(name)
        return RunConfig(name, True, reason, ctx, 'mnist5k', s['resize'],
                         s['batch_size'], s['lr'], s['num_epochs'],
                         s['num_train'], s['num_test'], book)
    info = _data.dataset_info(book['data'])
    return RunConfig(name, False, reason, ctx, book['data'], book['resize'],
                     book['batch_size'], book['lr'], book['num_epochs'],
                     info.num_train, info.num_test, book, root=root)


def in_notebook():
    """Whether this code runs inside a Jupyter (IPython) kernel."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and 'IPKernelApp' in shell.config


class LivePlot:
    """A ``train_ch5`` callback plotting loss and accuracies per epoch.

    Inside Jupyter the figure is shown after the first epoch and updated
    in place after every other one (``display_id``), so the epoch lines
    printed by ``train_ch5`` stay visible (``d2l.Animator`` clears the
    cell instead). Elsewhere nothing is shown: the figure is drawn once,
    after epoch ``num_epochs``, and kept in ``self.fig`` (``save`` writes
    it to a file).
    """

    KEYS = (('loss', 'train loss', '-'), ('train_acc', 'train acc', 'm--'),
            ('test_acc', 'test acc', 'g-.'))

    def __init__(self, num_epochs, title=None, live=None):
        self.num_epochs = num_epochs
        self.title = title
        self.live = in_notebook() if live is None else live
        self.records = []
        self.fig = None
        self._handle = None
        self.draws = 0

    def __call__(self, record):
        self.records.append(dict(record))
        if self.live:
            self.draw()
            self._show()
        elif record['epoch'] >= self.num_epochs:
            self.draw()

    def draw(self):
        """Draw the epochs seen so far; returns the matplotlib figure."""
        # A bare Figure (not pyplot): no GUI backend, and Jupyter's
        # inline backend does not show it a second time at the cell's end
        from matplotlib.figure import Figure
        if self.fig is None:
            self.fig = Figure(figsize=(4.5, 3), layout='tight')
            self.ax = self.fig.add_subplot()
        ax = self.ax
        ax.cla()
        epochs = [r['epoch'] for r in self.records]
        for key, label, fmt in self.KEYS:
            ax.plot(epochs, [float(r[key]) for r in self.records], fmt,
                    label=label)
        ax.set_xlabel('epoch')
        ax.set_xlim(1, max(self.num_epochs, 2))
        ax.grid(True)
        ax.legend()
        if self.title:
            ax.set_title(self.title)
        self.draws += 1
        return self.fig

    def png(self):
        """The current figure as PNG bytes."""
        buf = io.BytesIO()
        self.fig.savefig(buf, format='png', dpi=80)
        return buf.getvalue()

    def save(self, path):
        """Write the figure (drawn if needed) to ``path``."""
        if self.fig is None:
            self.draw()
        self.fig.savefig(path)

    def _show(self):
        from IPython.display import Image, display
        image = Image(data=self.png(), format='png')
        if self._handle is None:
            self._handle = display(image, display_id=True)
        else:
            self._handle.update(image)
