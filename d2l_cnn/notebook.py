"""What the notebooks need: which recipe runs, and a live training plot.

``run_config(name)`` is the one switch deciding the run. With a GPU and
the Fashion-MNIST files on disk it is the book's recipe; otherwise, and
always when ``CI`` is set or ``D2L_CNN_QUICK=1``, it is the network's
``cpu`` recipe on the embedded ``mnist5k`` digits (the quick mode),
which learns in minutes on a 2-core CPU. ``D2L_CNN_QUICK=0`` asks for
the book's recipe on any device (it may download Fashion-MNIST and take
hours on a CPU). The result is a ``settings.Settings``: ``print(cfg)`` shows
which recipe runs and why, beside the other one; ``cfg.load_data()``,
``cfg.initializer`` and ``cfg.make_trainer(net)`` train with it and
``cfg.replace(lr=...)`` changes it.

``LivePlot`` is a ``train_ch5`` callback: inside Jupyter it redraws one
figure after every epoch (in place, so the printed epoch lines stay);
elsewhere it draws once, after the last epoch.
"""
import os

from . import data, figures
from .devices import try_gpu
from .errors import UsageError
from .plots import curves_figure, png_bytes
from .registry import get_recipe
from .settings import choose_recipe, make_settings


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


def run_config(name, root=None, env=None, ctx=None):
    """The settings of network ``name``'s run in a notebook; see above.

    ``env`` defaults to ``os.environ`` and ``ctx`` to ``try_gpu()``;
    ``root`` is where the book's data set is looked for. Quick mode
    (``cfg.quick``) is the ``cpu`` recipe, all of it.
    """
    book = get_recipe(name)
    env = os.environ if env is None else env
    ctx = try_gpu() if ctx is None else ctx
    quick, reason = _env_quick(env)
    if quick is None:
        root_dir = root or data.default_root(book.data)
        kind, reason = choose_recipe('auto', [ctx])
        if kind == 'cpu':
            quick = True
        elif not data.data_present(book.data, root):
            quick, reason = True, ('the %s files are not in %s (no '
                                   'download here)' % (book.data, root_dir))
        else:
            quick, reason = False, ('a GPU and the %s files are present'
                                    % book.data)
    return make_settings(name, 'cpu' if quick else 'book', ctx=ctx,
                         reason=reason, root=None if quick else root)


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

    def __init__(self, num_epochs, title=None, live=None):
        self.num_epochs = num_epochs
        self.title = title
        self.live = in_notebook() if live is None else live
        self.records = []
        self.fig = None
        self._handle = None

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
        # Chinese labels, as in the book, when a font has the glyphs
        font = figures.font(10) if figures.language() == 'zh' else None
        self.fig = curves_figure(self.records, self.num_epochs, self.title,
                                 fig=self.fig, font=font)
        return self.fig

    def png(self):
        """The current figure as PNG bytes."""
        return png_bytes(self.fig, dpi=80)

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
