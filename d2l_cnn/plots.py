"""Training curves as the book draws them, a font for Chinese, PNG bytes.

``curves_figure(history)`` is a matplotlib ``Figure`` (no pyplot, no
GUI) of the train loss, train accuracy and test accuracy per epoch;
``png_bytes(fig)`` its PNG; ``find_cjk_font()`` a font with the Chinese
labels' glyphs. The run folder, the notebooks' live plot, the
prediction picture and the figures share them.
"""
import functools
import io


# key, (Chinese, English) label, line format: the book's three curves
CURVES = (('loss', ('训练损失', 'train loss'), '-'),
          ('train_acc', ('训练准确率', 'train acc'), 'm--'),
          ('test_acc', ('测试准确率', 'test acc'), 'g-.'))


EPOCH = ('迭代周期', 'epoch')


def draw_curves(ax, history, num_epochs=None, title=None, font=None):
    """The book's three curves (train loss, train and test acc) on ``ax``.

    ``num_epochs`` fixes the x axis for a run still going (a live plot);
    ticks are whole epochs. ``font`` (matplotlib ``FontProperties`` with
    Chinese glyphs) labels the curves in Chinese, as the book does.
    """
    from matplotlib.ticker import MaxNLocator
    lang = 0 if font is not None else 1
    ax.cla()
    epochs = [r['epoch'] for r in history]
    for key, label, fmt in CURVES:
        ax.plot(epochs, [float(r[key]) for r in history], fmt,
                label=label[lang])
    ax.set_xlabel(EPOCH[lang], fontproperties=font)
    ax.set_xlim(0.5, max([num_epochs or 1] + epochs) + 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(True)
    ax.legend(prop=font)
    if title:
        ax.set_title(title, fontproperties=font)


def curves_figure(history, num_epochs=None, title=None, fig=None,
                  font=None):
    """A matplotlib ``Figure`` (no pyplot, no GUI) with the curves."""
    # imported here: matplotlib is not needed until the first curves
    from matplotlib.figure import Figure
    if fig is None:
        fig = Figure(figsize=(4.5, 3), layout='tight')
        fig.add_subplot()
    draw_curves(fig.axes[0], history, num_epochs, title, font)
    return fig


def png_bytes(fig, dpi=100, **kwargs):
    """``fig`` as PNG bytes (``kwargs`` go to ``savefig``)."""
    buf = io.BytesIO()
    fig.savefig(buf, format='png', dpi=dpi, **kwargs)
    return buf.getvalue()


# Names of families that usually hold Chinese glyphs; checked first.
_CJK_HINTS = ('cjk', 'hei', 'song', 'ming', 'kai', 'wenquanyi', 'wqy',
              'han sans', 'han serif', 'noto sans sc', 'noto sans tc',
              'fallback', 'ar pl', 'yahei', 'simsun', 'pingfang',
              'hiragino', 'sarasa', 'unifont', 'gothic')


def _covers(path, text):
    from matplotlib import ft2font
    try:
        font = ft2font.FT2Font(path)
    except (OSError, RuntimeError, ValueError):
        return False
    return all(font.get_char_index(ord(ch)) for ch in text
               if not ch.isascii())


@functools.lru_cache(maxsize=None)
def find_cjk_font(text='T恤裤子套衫连衣裙外套凉鞋衬衫运动鞋包短靴'):
    """Path of a font matplotlib knows that has every glyph of ``text``.

    Families whose names suggest Chinese are tried first, then all the
    others; returns None when there is none.
    """
    # imported here: matplotlib is not needed until the first picture
    from matplotlib import font_manager
    fonts = font_manager.fontManager.ttflist
    hinted = [f for f in fonts
              if any(h in f.name.lower() for h in _CJK_HINTS)]
    seen = set()
    for f in hinted + fonts:
        if f.fname in seen:
            continue
        seen.add(f.fname)
        if _covers(f.fname, text):
            return f.fname
    return None
