"""Training curves as the book draws them (d2l-zh 3.x ``set_figsize``).

``curves_figure(history)`` is a matplotlib ``Figure`` (no pyplot, no
GUI) of the train loss, train accuracy and test accuracy per epoch;
``png_bytes(fig)`` its PNG. The run folder, the notebooks' live plot
and the figures share them.
"""
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


def png_bytes(fig, dpi=100):
    buf = io.BytesIO()
    fig.savefig(buf, format='png', dpi=dpi)
    return buf.getvalue()
