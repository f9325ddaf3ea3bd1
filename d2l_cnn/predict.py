"""Predict with a trained network: a picture of test images and a matrix.

``python -m d2l_cnn.predict --out RUN_DIR`` reads what
``python -m d2l_cnn.train ... --out RUN_DIR`` wrote (``run.json`` and
``model.params``), rebuilds the network, classifies the test set and

* draws the first ``--num`` test images with their true label (top) and
  the prediction (bottom, red when wrong) into ``RUN_DIR/predictions.png``,
  as the book's ``show_fashion_mnist`` does, with the Fashion-MNIST
  labels in Chinese and English when matplotlib finds a font with Chinese
  characters (otherwise in English only, with one note on stderr; give
  one with ``--font PATH``);
* prints the confusion matrix (rows: true class, columns: predicted
  class) and the test accuracy.

``predict(run_dir)`` does the same from Python and returns the
predictions, the labels and the confusion matrix.

``--explain KIND`` draws instead a look inside the trained network
(``d2l_cnn.explain``): ``maps`` (one test image's feature maps layer by
layer), ``filters`` (the first convolution's kernels), ``cam`` (Grad-CAM
on ``--num`` test images), ``occlusion`` (the drop in probability when a
patch is covered) or ``mistakes`` (the ``--num`` most confident wrong
predictions), into ``RUN_DIR/explain-KIND.png`` unless ``--png`` names
another file; an existing picture is replaced only with ``--force``.
"""
import collections
import io
import math
import os
import sys
import warnings

import numpy as np
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from mxnet import nd

from . import data, explain
from .checkpoint import atomic_write
from .devices import parse_ctx
from .errors import D2LError, OneLineParser, UsageError, run_command
from .figures import label
from .plots import find_cjk_font
from .registry import get_entry
from .rundir import RunDir, RunLock, load_run

Result = collections.namedtuple(
    'Result', 'predictions labels confusion accuracy png note')
Result.__doc__ = """What ``predict`` found.

``predictions`` and ``labels`` are int arrays over the test set,
``confusion[i, j]`` counts examples of class i predicted as j,
``accuracy`` is their agreement, ``png`` the picture's path (or None)
and ``note`` says why the labels are in English only (or is None).
"""


NO_CJK_NOTE = ('no font with Chinese characters found: labels in English '
               'only (install one, e.g. fonts-noto-cjk, or pass --font)')


# -------------------------------------------------------- predictions

def confusion_matrix(labels, predictions, num_classes):
    """``C[i, j]``: how many examples of class i were predicted as j."""
    labels = np.asarray(labels, dtype=np.int64)
    predictions = np.asarray(predictions, dtype=np.int64)
    counts = np.bincount(labels * num_classes + predictions,
                         minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def predict_iter(net, data_iter):
    """Predicted classes and true labels (int arrays) over ``data_iter``."""
    predictions, labels = [], []
    for X, y in data_iter:
        # (batch size, num_classes) -> (batch size,)
        predictions.append(net(X).argmax(axis=1).asnumpy())
        labels.append(y.asnumpy())
    return (np.concatenate(predictions).astype(np.int64),
            np.concatenate(labels).astype(np.int64))


def format_confusion(confusion, text_labels):
    """The confusion matrix as text, one row per true class."""
    k = len(confusion)
    names = [text_labels[i] if text_labels[i] == str(i)
             else '%d %s' % (i, text_labels[i]) for i in range(k)]
    left = max(len(s) for s in names)
    width = max(len(str(int(confusion.max()))), len(str(k - 1))) + 1
    lines = ['confusion matrix (rows: true class, columns: predicted)',
             ' ' * left + ''.join('%*d' % (width, j) for j in range(k))]
    for name, row in zip(names, confusion):
        lines.append(name.ljust(left)
                     + ''.join('%*d' % (width, c) for c in row))
    return '\n'.join(lines)


# ------------------------------------------------------------ picture


def _titles(true, pred, text_labels, text_labels_zh, chinese):
    def name(i):
        en = text_labels[i]
        zh = text_labels_zh[i] if text_labels_zh else en
        return '%s %s' % (zh, en) if chinese and zh != en else en
    return ['%s\n%s' % (name(t), name(p)) for t, p in zip(true, pred)]


def show_predictions(images, true, pred, text_labels, text_labels_zh=None,
                     font=None, ncols=9, title=None):
    """A matplotlib Figure: images with true (top) and predicted labels.

    ``images`` are uint8 (n, C, H, W); wrong predictions are titled in
    red. Chinese labels are shown beside the English ones when ``font``
    (a font file with Chinese glyphs) is given.
    """
    n = len(images)
    ncols = max(1, min(ncols, n))
    nrows = max(1, math.ceil(n / ncols))
    fig = Figure(figsize=(1.6 * ncols, 2.0 * nrows + 0.4))
    props = FontProperties(fname=font, size=8) if font else \
        FontProperties(size=8)
    titles = _titles(true, pred, text_labels, text_labels_zh, bool(font))
    for i in range(nrows * ncols):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        ax.axis('off')
        if i >= n:
            continue
        image = np.asarray(images[i])  # (C, H, W)
        if image.shape[0] == 1:
            ax.imshow(image[0], cmap='gray', vmin=0, vmax=255)
        else:
            ax.imshow(image.transpose(1, 2, 0))  # (H, W, C)
        ax.set_title(titles[i], fontproperties=props,
                     color='black' if true[i] == pred[i] else 'red')
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------ predict

def predict(run_dir, data_name=None, root=None, num=18, png=None,
            ctx=None, batch_size=256, font=None, lang='both',
            verbose=True):
    """Classify the test set with the network trained in ``run_dir``.

    ``data_name`` replaces the run's data set (same channels and number
    of classes), ``num`` test images go into the picture ``png``
    (default ``RUN_DIR/predictions.png``; ``num=0`` draws none), ``font``
    is a font file with Chinese glyphs (found automatically if None) and
    ``lang`` is 'both' or 'en'. Prints the confusion matrix and accuracy
    when ``verbose``. Returns a ``Result``.
    """
    ctx = parse_ctx(ctx or 'cpu')[0]
    if num < 0:
        raise UsageError('num must be >= 0, not %d' % num)
    if lang not in ('both', 'en'):
        raise UsageError("lang must be 'both' or 'en', not %r" % lang)
    if font is not None and not os.path.isfile(font):
        raise UsageError('font file %s does not exist' % font)
    if num:
        png = png or RunDir(run_dir).predictions_png
        image_format = _image_format(png)
    net, info = load_run(run_dir, ctx)
    name = data_name or info['data']
    dinfo = data.dataset_info(name)
    if (dinfo.shape[0], dinfo.num_classes) != (info['in_channels'],
                                               info['num_classes']):
        raise UsageError(
            '%s has %d channels and %d classes, but %s was trained on %d '
            'channels and %d classes' % (
                name, dinfo.shape[0], dinfo.num_classes, info['model'],
                info['in_channels'], info['num_classes']))
    # the run's seed: the synthetic data set is made from it
    _, test_iter = data.load_data(name, batch_size, resize=info['resize'],
                                  root=root, ctx=ctx, seed=info['seed'])
    if get_entry(info['model']).hybrid:
        net.hybridize()
    predictions, labels = predict_iter(net, test_iter)
    k = info['num_classes']
    confusion = confusion_matrix(labels, predictions, k)
    accuracy = float(np.mean(predictions == labels))
    note = None
    if num:
        chinese = lang == 'both' and (dinfo.text_labels_zh
                                      != dinfo.text_labels)
        if not chinese:
            font = None
        elif font is None:
            font = find_cjk_font(''.join(dinfo.text_labels_zh))
            if font is None:
                note = NO_CJK_NOTE
        n = min(num, len(labels))
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')  # glyph and layout chatter
            fig = show_predictions(
                test_iter.images[:n], labels[:n], predictions[:n],
                dinfo.text_labels, dinfo.text_labels_zh, font=font,
                title='%s on %s: true label (top), prediction (bottom), '
                      'test acc %.3f' % (info['model'], name, accuracy))
        write_picture(fig, png, image_format, run_dir)
    else:
        png = None
    if verbose:
        print(format_confusion(confusion, dinfo.text_labels))
        print('test acc %.4f (%d/%d)'
              % (accuracy, int(np.trace(confusion)), len(labels)))
        if png:
            print('wrote %s' % png)
        if note:
            print('note: %s' % note, file=sys.stderr)
    return Result(predictions, labels, confusion, accuracy, png, note)


def _image_format(path):
    """The picture format matplotlib writes for ``path`` (its ending)."""
    ending = os.path.splitext(path)[1][1:].lower()
    known = Figure().canvas.get_supported_filetypes()
    if ending not in known:
        raise UsageError('--png %s: name a picture file ending in one of '
                         '.%s' % (path, ', .'.join(sorted(known))))
    return ending


def write_picture(fig, png, image_format, run_dir):
    """Save ``fig`` to ``png`` atomically; under the run's lock when
    ``png`` is inside the run folder."""
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # glyph and layout chatter
        fig.savefig(buf, format=image_format, dpi=100)
    try:
        if _same_folder(png, run_dir):
            with RunLock(run_dir):
                atomic_write(png, buf.getvalue())
        else:
            atomic_write(png, buf.getvalue())
    except OSError as e:
        raise D2LError('cannot write %s: %s'
                       % (png, e.strerror or e)) from None


def _same_folder(path, folder):
    return (os.path.realpath(os.path.dirname(os.path.abspath(path)))
            == os.path.realpath(folder))


# --explain KIND: how many test images by default
EXPLAIN_NUM = {'maps': 1, 'filters': 0, 'cam': 8, 'occlusion': 4,
               'mistakes': 16}


def explain_run(run_dir, kind, num=None, png=None, force=False,
                data_name=None, root=None, ctx=None, batch_size=256):
    """Draw ``kind`` (one of ``explain.KINDS``) for the run's network.

    Writes ``png`` (default ``RUN_DIR/explain-KIND.png``) and returns its
    path; refuses to replace an existing file unless ``force``.
    """
    if kind not in explain.KINDS:
        raise UsageError('--explain must be one of %s, not %r'
                         % (', '.join(explain.KINDS), kind))
    num = EXPLAIN_NUM[kind] if num is None else num
    if num < 1 and kind != 'filters':
        raise UsageError('--num must be >= 1 for --explain %s' % kind)
    png = png or RunDir(run_dir).explain_png(kind)
    image_format = _image_format(png)
    if os.path.lexists(png) and not force:
        raise UsageError('%s exists: pass --force to replace it' % png)
    ctx = parse_ctx(ctx or 'cpu')[0]
    net, info = load_run(run_dir, ctx)
    dinfo = data.dataset_info(data_name or info['data'])
    if get_entry(info['model']).hybrid:
        net.hybridize()
    if kind == 'filters':
        fig = explain.show_filters(net)
    else:
        _, test_iter = data.load_data(
            dinfo.name, batch_size, resize=info['resize'], root=root,
            ctx=ctx, seed=info['seed'])
        fig = _explain_figure(net, kind, test_iter, num, dinfo)
    write_picture(fig, png, image_format, run_dir)
    return png


def _first(test_iter, num):
    """The first ``num`` test images and labels, as one batch."""
    images, labels = [], []
    for X, y in test_iter:
        images.append(X)
        labels.append(y)
        if sum(len(b) for b in labels) >= num:
            break
    return (nd.concat(*images, dim=0)[:num],
            nd.concat(*labels, dim=0)[:num])


def _explain_figure(net, kind, test_iter, num, dinfo):
    names = dinfo.text_labels
    if kind == 'mistakes':
        mistakes = explain.top_mistakes(net, test_iter, k=num)
        return explain.show_mistakes(mistakes, names)
    X, y = _first(test_iter, num)
    if kind == 'maps':
        return explain.show_feature_maps(net, X[:1])
    predictions = net(X).argmax(axis=1).asnumpy().astype(int)
    titles = ['%s -> %s' % (names[int(t)], names[p])
              for t, p in zip(y.asnumpy(), predictions)]
    if kind == 'cam':
        maps = explain.class_activation_map(net, X)
        title = label('Grad-CAM（Selvaraju et al., 2017）：真实 -> 预测',
                      'Grad-CAM (Selvaraju et al., 2017): true -> predicted')
    else:
        patch = max(2, X.shape[2] // 8)
        maps = explain.occlusion(net, X, patch=patch,
                                 stride=max(1, patch // 2))
        title = label('遮挡（Zeiler & Fergus, 2014）：遮住 %dx%d 的一块时'
                      '预测类别概率的下降' % (patch, patch),
                      'occlusion (Zeiler & Fergus, 2014): drop of the '
                      'predicted class\'s probability, patch %dx%d'
                      % (patch, patch))
    return explain.show_heatmaps(X, maps, titles, title)


def build_parser():
    p = OneLineParser(
        prog='python -m d2l_cnn.predict',
        description='Classify the test set with a trained network: a '
                    'picture of predictions, the confusion matrix and the '
                    'accuracy.')
    p.add_argument('--out', required=True, metavar='RUN_DIR',
                   help='the --out folder of python -m d2l_cnn.train')
    p.add_argument('--data', default=None, choices=data.DATASETS,
                   help="test set (default: the run's)")
    p.add_argument('--root', default=None, help='data folder')
    p.add_argument('--num', type=int, default=None,
                   help='test images to draw (default 18, 0 for none; '
                        'with --explain: maps 1, cam 8, occlusion 4, '
                        'mistakes 16)')
    p.add_argument('--png', default=None,
                   help='picture path (default RUN_DIR/predictions.png)')
    p.add_argument('--ctx', default='cpu',
                   help='cpu, gpu or gpu:N (default: cpu)')
    p.add_argument('--batch-size', type=int, default=256)
    p.add_argument('--font', default=None,
                   help='font file with Chinese characters for the labels')
    p.add_argument('--lang', choices=('both', 'en'), default='both',
                   help='labels in Chinese and English, or English only')
    p.add_argument('--explain', choices=explain.KINDS, default=None,
                   help='draw a look inside the network instead: feature '
                        'maps, filters, Grad-CAM, occlusion or the most '
                        'confident mistakes (RUN_DIR/explain-KIND.png)')
    p.add_argument('--force', action='store_true',
                   help='with --explain: replace an existing picture')
    return p


def main(argv=None):
    """Entry point: returns the exit status (2 usage, 1 runtime errors)."""
    args = build_parser().parse_args(argv)

    def body():
        if args.batch_size < 1:
            raise UsageError('--batch-size must be positive')
        if args.explain:
            print('wrote %s' % explain_run(
                args.out, args.explain, num=args.num, png=args.png,
                force=args.force, data_name=args.data, root=args.root,
                ctx=args.ctx, batch_size=args.batch_size))
            return
        if args.force:
            raise UsageError('--force goes with --explain')
        predict(args.out, data_name=args.data, root=args.root,
                num=18 if args.num is None else args.num, png=args.png,
                ctx=args.ctx,
                batch_size=args.batch_size, font=args.font, lang=args.lang)
    return run_command(body, args.debug)


if __name__ == '__main__':
    sys.exit(main())
