"""``python -m d2l_cnn.compare``: train several networks, plot and tabulate.

Each network and seed is one ordinary run of the training command
(``python -m d2l_cnn.train NAME --seed K --out OUT/NAME-seedK ...``), run
in this process one after another. From every finished run in ``--out``
it then writes:

* ``compare.png``: test accuracy against wall-clock seconds and against
  epochs, one line per network (mean over seeds, min-max shaded);
* ``compare.csv``: one row per network: recipe, parameters, FLOPs per
  example, seconds per epoch, best and final test accuracy, seconds to
  reach 0.90 and 0.95 (mean, min and max over seeds);
* ``compare.md``: the same as a Markdown table, with the machine and the
  command.

Rerunning the same command skips finished runs and continues interrupted
ones from their last checkpoint (the training command's ``--resume``).
"""
import csv
import io
import os
import platform
import shlex
import sys
import time

from . import checkpoint, data, threads
from .errors import (STATUS_INTERRUPTED, D2LError, OneLineParser,
                     UsageError, run_command)
from .plots import png_bytes
from .registry import get_entry, get_model
from .devices import MAX_SEED
from .rundir import (SEED_RUN, SEED_RUN_NAME, is_finished, read_metrics,
                     read_run)
from .settings import RECIPE_CHOICES

# The networks of d2l-zh chapter 5, in the book's order (5.5 to 5.12).
CHAPTER = ('lenet', 'alexnet', 'vgg', 'nin', 'googlenet', 'batchnorm',
           'resnet', 'densenet')
TARGETS = (0.90, 0.95)
# Options that compare sets itself for each run.
OWN_OPTIONS = ('--out', '--seed', '--resume', '--data', '--recipe')


def build_parser():
    p = OneLineParser(
        prog='python -m d2l_cnn.compare',
        description='Train networks one after another (each seed an '
        'ordinary run of python -m d2l_cnn.train) and compare their test '
        'accuracy against time: compare.png, compare.csv, compare.md.')
    p.add_argument('names', nargs='*', metavar='NAME',
                   help='networks to train (default: the chapter\'s '
                   'eight: %s)' % ', '.join(CHAPTER))
    p.add_argument('--recipe', choices=RECIPE_CHOICES,
                   default=None, help='passed to the training command '
                   '(default: its own, auto)')
    p.add_argument('--data', default='mnist5k',
                   help='%s (default: mnist5k)' % ', '.join(data.DATASETS))
    p.add_argument('--seeds', default='0,1,2',
                   help='comma-separated seeds (default: 0,1,2)')
    p.add_argument('--out', default=os.path.join('runs', 'compare'),
                   help='folder for the runs and the three files '
                   '(default: runs/compare)')
    p.add_argument('--train-args', default='',
                   help='more options for every training run, e.g. '
                   '--train-args="--num-epochs 2 --batch-size 64"')
    return p


def parse_seeds(text):
    """``'0,1,2'`` -> ``[0, 1, 2]``: distinct whole numbers, 0 or more."""
    try:
        seeds = [int(s) for s in text.split(',')]
    except ValueError:
        raise UsageError('--seeds %r: give whole numbers like 0,1,2'
                         % text) from None
    if (min(seeds) < 0 or max(seeds) > MAX_SEED
            or len(set(seeds)) != len(seeds)):
        raise UsageError('--seeds %r: distinct seeds from 0 to %d (2**32 '
                         '- 1)' % (text, MAX_SEED))
    return seeds


def parse_train_args(text):
    """Extra training options as a list; compare's own ones are refused."""
    try:
        extra = shlex.split(text)
    except ValueError as e:
        raise UsageError('--train-args %r: %s' % (text, e)) from None
    for arg in extra:
        name = arg.split('=')[0]
        own = [o for o in OWN_OPTIONS if o == name or (
            name.startswith('--') and len(name) > 2 and o.startswith(name))]
        if own:
            raise UsageError('--train-args: %s is set by compare itself; '
                             'give it to compare' % own[0])
    return extra


def plan(args):
    """Check every argument before anything trains; list of runs."""
    names = args.names or list(CHAPTER)
    for name in names:
        get_entry(name)  # UsageError listing the choices
    data.dataset_info(args.data)
    seeds = parse_seeds(args.seeds)
    parse_train_args(args.train_args)
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise UsageError('--out %s is a file, not a folder' % args.out)
    try:
        os.makedirs(args.out, exist_ok=True)
    except OSError as e:
        raise D2LError('cannot create --out %s (%s)'
                       % (args.out, e.strerror or e)) from None
    for run in finished_runs(args.out):
        if run['data'] != args.data:
            raise UsageError('--out %s holds runs on %s, not %s; choose '
                             'another --out' % (args.out, run['data'],
                                                args.data))
    return [(name, seed) for name in dict.fromkeys(names) for seed in seeds]


def finished_runs(out):
    """``run.json`` + per-epoch history of every finished run in ``out``."""
    runs = []
    for entry in sorted(os.listdir(out)):
        folder = os.path.join(out, entry)
        if SEED_RUN_NAME.match(entry) and is_finished(folder):
            run = read_run(folder)
            try:
                run['history'] = read_metrics(folder)
            except D2LError as e:  # a damaged run is left out, said so
                print('note: %s; left out of the comparison' % e,
                      file=sys.stderr)
                continue
            if run['history']:
                runs.append(run)
    return runs


def train_argv(name, seed, folder, args):
    """The training command's arguments for one run."""
    argv = [name, '--data', args.data, '--seed', str(seed), '--out', folder,
            '--no-progress']
    if args.recipe:
        argv += ['--recipe', args.recipe]
    argv += parse_train_args(args.train_args)
    if checkpoint.latest(folder) is not None:
        argv.append('--resume')
    return argv


def train(argv):
    """Run ``python -m d2l_cnn.train ARGV`` in this process; exit status.

    The run's ``run.json`` records the training command, as if the user
    had typed it.
    """
    from .cli import main
    return main(argv, command=[os.path.join(os.path.dirname(__file__),
                                            'train.py')] + argv)


def run_all(runs, args):
    """Train the runs not yet finished; returns the failed ``(name, seed)``."""
    failed = []
    for i, (name, seed) in enumerate(runs, 1):
        folder = os.path.join(args.out, SEED_RUN % (name, seed))
        head = '[%d/%d] %s seed %d' % (i, len(runs), name, seed)
        argv = train_argv(name, seed, folder, args)
        if is_finished(folder):
            done = read_run(folder)
            same = _options(done.get('command', [])[1:]) == _options(argv)
            print('%s: finished, skipped%s' % (
                head, '' if same else ' (it ran with other options; '
                'use another --out to train it again)'), file=sys.stderr)
            continue
        sys.stdout.flush()  # the training's lines so far come first
        print('%s%s ...' % (head, ', resuming' if '--resume' in argv
                            else ''), file=sys.stderr, flush=True)
        status = train(argv)
        if status in (2, STATUS_INTERRUPTED):
            # a bad option fails every run alike; Ctrl-C stops them all
            raise Stop(status)
        if status != 0:
            failed.append((name, seed))
    return failed


def _options(argv):
    """The options that decide a run: ``--out`` as an absolute path (the
    same folder typed relative or absolute is the same run), without
    ``--resume``."""
    options = [a for a in argv if a != '--resume']
    for i, a in enumerate(options[:-1]):
        if a == '--out':
            options[i + 1] = os.path.abspath(options[i + 1])
    return options


class Stop(Exception):
    """The training command stopped with ``status``; its error is shown."""

    def __init__(self, status):
        super().__init__(status)
        self.status = status


# ---- summarising the runs ---------------------------------------------

def elapsed(history):
    """Cumulative seconds at the end of each epoch."""
    total, out = 0.0, []
    for record in history:
        total += record['time']
        out.append(total)
    return out


def time_to(history, target):
    """Seconds until the test accuracy first reaches ``target``, or None."""
    for record, seconds in zip(history, elapsed(history)):
        if record['test_acc'] >= target:
            return seconds
    return None


def spread(values):
    """(mean, min, max) of the values that are not None, or None."""
    values = [v for v in values if v is not None]
    if not values:
        return None
    return sum(values) / len(values), min(values), max(values)


def network_cost(name, run):
    """Trainable parameters and FLOPs per example at the run's input."""
    from mxnet import init, nd
    from .cost import flops_per_example
    from .summary import count_params
    shape = (1, run['in_channels'], run['resize'], run['resize'])
    net = get_model(name, num_classes=run['num_classes'])
    net.initialize(init.Xavier())
    net(nd.zeros(shape))
    return count_params(net), flops_per_example(net, shape)


def summarise(runs):
    """One dict per network, in the order the networks first appear."""
    by_name = {}
    for run in runs:
        by_name.setdefault(run['model'], []).append(run)
    rows = []
    for name, group in by_name.items():
        group.sort(key=lambda r: r['seed'])
        recipe = group[0]['recipe']
        params, flops = network_cost(name, group[0])
        row = dict(network=name, seeds=[r['seed'] for r in group],
                   recipe=recipe.get('kind', ''),
                   lr_schedule=recipe.get('lr_schedule', 'constant'),
                   resize=group[0]['resize'],
                   batch_size=recipe.get('batch_size'),
                   optimizer=recipe.get('optimizer'), lr=recipe.get('lr'),
                   init=recipe.get('init', 'xavier'),
                   centralize=recipe.get('centralize', False),
                   num_epochs=len(group[0]['history']),
                   params=params, flops=flops)
        histories = [r['history'] for r in group]
        row['sec_per_epoch'] = spread(
            [elapsed(h)[-1] / len(h) for h in histories])
        row['best_acc'] = spread(
            [max(r['test_acc'] for r in h) for h in histories])
        row['final_acc'] = spread([h[-1]['test_acc'] for h in histories])
        for target in TARGETS:
            times = [time_to(h, target) for h in histories]
            row['reached_%.2f' % target] = sum(t is not None for t in times)
            row['sec_to_%.2f' % target] = spread(times)
        row['curves'] = histories
        rows.append(row)
    return rows


def order_runs(runs, names):
    """Runs of ``names`` first, in that order, then the others by name."""
    rank = {n: i for i, n in enumerate(names)}
    return sorted(runs, key=lambda r: (rank.get(r['model'], len(rank)),
                                       r['model'], r['seed']))


# ---- the three files ----------------------------------------------------

STATS = ('sec_per_epoch', 'best_acc', 'final_acc', 'sec_to_0.90',
         'sec_to_0.95')
CSV_FIELDS = (['network', 'seeds', 'recipe', 'resize', 'batch_size',
               'optimizer', 'lr', 'init', 'num_epochs', 'params',
               'flops_per_example'] +
              [s + suffix for s in STATS for suffix in ('', '_min', '_max')]
              + ['reached_0.90', 'reached_0.95'])
NOT_REACHED = 'not reached'


def write_csv(rows, path):
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator='\n')
    writer.writeheader()
    for row in rows:
        record = {k: row[k] for k in CSV_FIELDS if k in row}
        record['seeds'] = ' '.join(str(s) for s in row['seeds'])
        record['flops_per_example'] = '%d' % row['flops']
        for stat in STATS:
            values = row[stat] or (NOT_REACHED, '', '')
            for suffix, value in zip(('', '_min', '_max'), values):
                record[stat + suffix] = (value if isinstance(value, str)
                                         else '%.4g' % value)
        record['reached_0.90'] = '%d/%d' % (row['reached_0.90'],
                                            len(row['seeds']))
        record['reached_0.95'] = '%d/%d' % (row['reached_0.95'],
                                            len(row['seeds']))
        writer.writerow(record)
    checkpoint.atomic_write(path, buf.getvalue())


def _human(x):
    for unit, size in (('G', 1e9), ('M', 1e6), ('k', 1e3)):
        if x >= size:
            return '%.3g %s' % (x / size, unit)
    return '%d' % x


def _seconds(s):
    return '%.0f' % s if s >= 100 else '%.1f' % s


def _cell(stat, fmt, reached=None, n=None):
    """``mean (min-max)``; for times also how many seeds got there."""
    if stat is None:
        return NOT_REACHED
    mean, low, high = stat
    text = fmt(mean)
    if (n if reached is None else reached) > 1:
        text += ' (%s-%s)' % (fmt(low), fmt(high))
    if reached is not None and reached < n:
        text += ', %d of %d seeds' % (reached, n)
    return text


def machine():
    """CPU model, cores, OpenMP threads: where the seconds were measured."""
    model = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    model = line.partition(':')[2].strip()
                    break
    except OSError:
        pass
    import mxnet as mx
    return ('%s; %d physical cores, %d logical CPUs; OMP_NUM_THREADS=%s; '
            'mxnet %s, Python %s'
            % (model, threads.physical_cores(), os.cpu_count() or 1,
               os.environ.get('OMP_NUM_THREADS', 'unset'), mx.__version__,
               platform.python_version()))


def _acc(a):
    return '%.3f' % a


def recipe_text(row):
    """'cpu: adam lr 0.001 cosine, batch 32, 67x67, 6 epochs' for a row.

    The initializer is named only when it is not the book's Xavier, and
    gradient centralization only when it is on.
    """
    how = '%s lr %g%s, batch %s, %dx%d' % (
        row['optimizer'], row['lr'],
        '' if row['lr_schedule'] == 'constant' else ' ' + row['lr_schedule'],
        row['batch_size'], row['resize'], row['resize'])
    if row.get('init', 'xavier') != 'xavier':
        how += ', %s init' % row['init']
    if row.get('centralize'):
        how += ', centralized'
    how += ', %d epoch%s' % (row['num_epochs'],
                             '' if row['num_epochs'] == 1 else 's')
    return '%s: %s' % (row['recipe'], how) if row['recipe'] else how


def write_md(rows, path, command, recipe, data_name):
    lines = [
        '# Comparing the networks', '',
        '- command: `%s`' % command,
        '- machine: %s' % machine(),
        '- data: %s; recipe: %s' % (data_name, recipe),
        '- each cell: mean (min-max) over the seeds; seconds are '
        'wall-clock training and test time, summed over epochs',
        '- written %s' % time.strftime('%Y-%m-%d %H:%M'), '',
        '| network | seeds | recipe | parameters | FLOPs/example | '
        's/epoch | best test acc | final test acc | s to 0.90 | '
        's to 0.95 |',
        '|---|---|---|--:|--:|--:|--:|--:|--:|--:|']
    for row in rows:
        n = len(row['seeds'])
        lines.append('| %s |' % ' | '.join([
            row['network'], ','.join(str(s) for s in row['seeds']),
            recipe_text(row),
            _human(row['params']), _human(row['flops']),
            _cell(row['sec_per_epoch'], _seconds, n=n),
            _cell(row['best_acc'], _acc, n=n),
            _cell(row['final_acc'], _acc, n=n),
            _cell(row['sec_to_0.90'], _seconds, row['reached_0.90'], n),
            _cell(row['sec_to_0.95'], _seconds, row['reached_0.95'], n)]))
    lines += ['', '![test accuracy against time](compare.png)', '']
    checkpoint.atomic_write(path, '\n'.join(lines))


def plot(rows, path, data_name):
    """Accuracy against seconds and against epochs, readable from afar."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator
    fig = Figure(figsize=(16, 7), layout='constrained')
    FigureCanvasAgg(fig)
    by_time, by_epoch = fig.subplots(1, 2, sharey=True)
    styles = ('-', '--', '-.', ':')
    for i, row in enumerate(rows):
        n = min(len(h) for h in row['curves'])
        accs = [[r['test_acc'] for r in h[:n]] for h in row['curves']]
        times = [elapsed(h)[:n] for h in row['curves']]
        by_epoch_accs = list(zip(*accs))
        mean = [sum(a) / len(a) for a in by_epoch_accs]
        low = [min(a) for a in by_epoch_accs]
        high = [max(a) for a in by_epoch_accs]
        secs = [sum(t) / len(t) for t in zip(*times)]
        style = dict(color='C%d' % (i % 10), linestyle=styles[i // 10 % 4],
                     linewidth=3, marker='o', markersize=6)
        for ax, x in ((by_time, secs), (by_epoch, range(1, n + 1))):
            ax.plot(x, mean, label=row['network'], **style)
            ax.fill_between(x, low, high, color=style['color'], alpha=0.2)
    for ax, label in ((by_time, 'wall-clock seconds'), (by_epoch, 'epoch')):
        for target in TARGETS:
            ax.axhline(target, color='grey', linestyle=':', linewidth=1.5)
        ax.set_xlabel(label, fontsize=20)
        ax.tick_params(labelsize=16)
        ax.grid(True, alpha=0.4)
        ax.set_ylim(0, 1)
    by_time.set_xlim(left=0)
    by_epoch.xaxis.set_major_locator(MaxNLocator(integer=True))
    by_time.set_ylabel('test accuracy', fontsize=20)
    fig.legend(*by_epoch.get_legend_handles_labels(),
               loc='outside right center', fontsize=18, frameon=False)
    seeds = max(len(r['seeds']) for r in rows)
    fig.suptitle('%s: mean of %d seed%s, shaded from min to max'
                 % (data_name, seeds, '' if seeds == 1 else 's'),
                 fontsize=22)
    checkpoint.atomic_write(path, png_bytes(fig, dpi=80,
                                            bbox_inches='tight'))


def command_line(argv):
    return ' '.join(['python -m d2l_cnn.compare'] +
                    [shlex.quote(a) for a in argv])


def write_all(args, argv):
    """The three files from every finished run in ``--out``."""
    runs = order_runs(finished_runs(args.out), args.names or CHAPTER)
    if not runs:
        return None
    rows = summarise(runs)
    command = command_line(argv)
    kinds = sorted(set(r['recipe'] for r in rows) - {''})
    recipe = (', '.join(kinds) or args.recipe or
              'the training command\'s default')
    if args.recipe == 'auto' or (kinds and not args.recipe):
        recipe += ' (--recipe auto: the book\'s on a GPU, cpu on a CPU)'
    write_csv(rows, os.path.join(args.out, 'compare.csv'))
    write_md(rows, os.path.join(args.out, 'compare.md'), command, recipe,
             args.data)
    plot(rows, os.path.join(args.out, 'compare.png'), args.data)
    return rows


def main(argv=None):
    """Entry point: returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)

    def body():
        runs = plan(args)
        try:
            failed = run_all(runs, args)
        except Stop as e:
            # the training command has said why; keep what is finished
            write_all(args, argv)
            if e.status == STATUS_INTERRUPTED:
                print('to continue every run: %s' % command_line(argv),
                      file=sys.stderr)
            return e.status
        if write_all(args, argv):
            print('wrote %s' % ', '.join(
                os.path.join(args.out, 'compare.' + ext)
                for ext in ('png', 'csv', 'md')))
        if failed:
            raise D2LError('%d of %d runs failed (%s; their errors are '
                           'above); rerun the same command to retry them'
                           % (len(failed), len(runs), ', '.join(
                               '%s seed %d' % f for f in failed)))

    def interrupted():
        return 'interrupted; continue with: %s' % command_line(argv)

    return run_command(body, args.debug, interrupted)


if __name__ == '__main__':
    sys.exit(main())
