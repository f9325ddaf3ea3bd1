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
``cfg.replace(lr=...)`` changes it. The notebooks are Chinese, so
``print(cfg)`` is Chinese too (``lang='en'`` gives the CLI's English).

``LivePlot`` is a ``train_ch5`` callback: inside Jupyter it redraws one
figure after every epoch (in place, so the printed epoch lines stay);
elsewhere it draws once, after the last epoch.
"""
import dataclasses
import os
import unicodedata

from matplotlib.figure import Figure

from . import data, figures
from .devices import try_gpu
from .errors import UsageError
from .plots import curves_figure, png_bytes
from .registry import Recipe, get_recipe
from .settings import Settings, choose_recipe, make_settings

# the recipe's fields, as the book names them
FIELDS_ZH = {'data': '数据集', 'resize': '输入高宽', 'batch_size': '批量大小',
             'num_epochs': '迭代周期', 'optimizer': '优化器', 'lr': '学习率',
             'wd': '权重衰减', 'lr_schedule': '学习率调度',
             'warmup_epochs': '预热周期', 'init': '初始化',
             'centralize': '梯度中心化', 'steps': '每周期步数'}
KINDS_ZH = {'cpu': 'CPU 配置', 'book': '书中的配置'}


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


def run_config(name, root=None, env=None, ctx=None, lang='zh'):
    """The settings of network ``name``'s run in a notebook; see above.

    ``env`` defaults to ``os.environ`` and ``ctx`` to ``try_gpu()``;
    ``root`` is where the book's data set is looked for. Quick mode
    (``cfg.quick``) is the ``cpu`` recipe, all of it. ``print(cfg)``
    speaks ``lang``: 'zh' (the notebooks) or 'en' (the CLI's words).
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
    cfg = make_settings(name, 'cpu' if quick else 'book', ctx=ctx,
                        reason=reason, root=None if quick else root)
    return NotebookSettings(**{f.name: getattr(cfg, f.name)
                               for f in dataclasses.fields(Settings)},
                            lang=lang, reason_zh=_reason_zh(env, ctx, quick,
                                                            book.data))


def _reason_zh(env, ctx, quick, name):
    """The reason of ``run_config``, in Chinese."""
    if env.get('CI'):
        return '设置了 CI 环境变量'
    if env.get('D2L_CNN_QUICK') in ('0', '1'):
        return 'D2L_CNN_QUICK=%s' % env['D2L_CNN_QUICK']
    if ctx.device_type != 'gpu':
        return '没有找到 GPU'
    if quick:
        return '没有找到 %s 的数据文件（这里不下载）' % name
    return '有 GPU，也有 %s 的数据文件' % name


def _width(text):
    """Columns ``text`` takes in a monospaced font (CJK: two each)."""
    return sum(2 if unicodedata.east_asian_width(c) in 'WF' else 1
               for c in text)


def _steps(recipe):
    """Steps in an epoch of ``recipe`` on its whole training set."""
    num_train = data.dataset_info(recipe.data).num_train
    return -(-num_train // recipe.batch_size)


def _table(columns, names):
    rows = [[''] + [title for title, _ in columns]]
    for n in names:
        rows.append([FIELDS_ZH.get(n, n)] + [
            str(_steps(r)) if n == 'steps' else
            '%g' % r[n] if isinstance(r[n], float) else str(r[n])
            for _, r in columns])
    widths = [max(_width(row[i]) for row in rows) + 2
              for i in range(len(rows[0]))]
    return '\n'.join(''.join(cell + ' ' * (w - _width(cell))
                             for cell, w in zip(row, widths)).rstrip()
                     for row in rows)


@dataclasses.dataclass(frozen=True)
class NotebookSettings(Settings):
    """``settings.Settings`` printed in the notebook's language."""

    lang: str = 'zh'
    reason_zh: str = ''

    def __str__(self):
        if self.lang != 'zh':
            return Settings.__str__(self)
        if self.kind == 'book':
            line = '运行：书中的配置'
        else:
            line = '运行：%s，不是书中的配置' % KINDS_ZH.get(self.kind, self.kind)
        if self.reason_zh:
            line += '（原因：%s）' % self.reason_zh
        if self.overrides:
            line += '；改动了 %s' % '、'.join(
                FIELDS_ZH.get(n, n) for n in self.overrides)
        lines = [line, '数据：%s，训练图像 %d 张，测试图像 %d 张'
                 % (self.recipe.data, self.num_train, self.num_test),
                 '设备：%s' % (self.ctx,)]
        columns = [('本次运行', self.recipe)] if self.overrides else []
        columns += [(KINDS_ZH[kind] + ('（运行）' if self.kind == kind
                                       and not self.overrides else ''),
                     getattr(self, kind)) for kind in ('cpu', 'book')]
        names = [f.name for f in Recipe.overridable()]
        table = _table(columns, names + ['steps'])
        lines.append(table)
        return '\n'.join(lines)


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

    # 9 x 4.5 inches at DPI 80: 720 pixels wide, for a projector
    FIGSIZE = (9, 4.5)
    DPI = 80

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
        font = figures.font(14) if figures.language() == 'zh' else None
        if self.fig is None:
            self.fig = Figure(figsize=self.FIGSIZE, layout='tight')
            self.fig.add_subplot()
        self.fig = curves_figure(self.records, self.num_epochs, self.title,
                                 fig=self.fig, font=font)
        ax = self.fig.axes[0]
        ax.tick_params(labelsize=13)
        ax.xaxis.label.set_size(14)
        ax.title.set_size(15)
        return self.fig

    def png(self):
        """The current figure as PNG bytes."""
        return png_bytes(self.fig, dpi=self.DPI)

    def save(self, path):
        """Write the figure (drawn if needed) to ``path``."""
        if self.fig is None:
            self.draw()
        self.fig.savefig(path, dpi=self.DPI)

    def _show(self):
        from IPython.display import Image, display
        image = Image(data=self.png(), format='png')
        if self._handle is None:
            self._handle = display(image, display_id=True)
        else:
            self._handle.update(image)
