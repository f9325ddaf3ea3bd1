"""``python -m d2l_cnn.train MODEL``: train a network with a recipe.

``--recipe auto`` (the default) is the book's recipe on a GPU and the
network's ``cpu`` recipe on a CPU; ``--recipe book`` / ``cpu`` choose.
Every field of the recipe is an option (``--lr``, ``--batch-size``,
...; made from ``registry.Recipe``) that overrides it. The first line
printed says which recipe runs and why. The run folder (``--out``) is
written by ``d2l_cnn.fit``; errors are one line (``d2l_cnn.errors``).
"""
import argparse
import os
import shlex
import sys
import textwrap

from .checkpoint import DiskFull
from .devices import MAX_SEED
from .errors import (LAUNCH_HINT, DataError, OneLineParser, UsageError,
                     non_negative, positive, run_command)
from .export import check_exportable, check_onnx, export_run
from .fit import train_run
from .registry import Recipe, get_recipe, list_models
from .rundir import default_out, last_saved
from .settings import RECIPE_CHOICES, make_settings
from .worker import skip_exit_barrier

KVSTORES = ('local', 'device', 'dist_sync', 'dist_device_sync')


def _seed(text):
    value = non_negative(int)(text)
    if value > MAX_SEED:
        raise argparse.ArgumentTypeError(
            'must be at most %d (2**32 - 1), not %s' % (MAX_SEED, text))
    return value


def _recipe_options(p):
    """One option per overridable ``Recipe`` field (default: the recipe)."""
    group = p.add_argument_group(
        'recipe', 'each overrides the field of the chosen recipe')
    for f in Recipe.overridable():
        meta = f.metadata
        kind = {'int': int, 'float': float}.get(getattr(f.type, '__name__',
                                                        f.type), str)
        if meta.get('positive'):
            kind = positive(kind)
        elif meta.get('non_negative'):
            kind = non_negative(kind)
        flags = ['--' + f.name.replace('_', '-')] + list(
            meta.get('aliases', ()))
        if f.type in ('bool', bool):  # --centralize / --no-centralize
            group.add_argument(*flags, dest=f.name, default=None,
                               action=argparse.BooleanOptionalAction,
                               help=meta['help'])
            continue
        group.add_argument(*flags, dest=f.name, type=kind, default=None,
                           choices=meta.get('choices'), help=meta['help'])


def _epilog():
    lines = ['The cpu recipes (--recipe cpu, the default on a CPU), and '
             'why they differ from the book\'s:', '']
    for name in list_models():
        r = get_recipe(name, 'cpu')
        lines += textwrap.wrap('%s: %s. %s' % (name, r.describe(), r.why),
                               76, initial_indent='  ',
                               subsequent_indent='    ',
                               break_on_hyphens=False)  # 'zero-sum' whole
    return '\n'.join(lines)


def build_parser():
    p = OneLineParser(
        prog='python -m d2l_cnn.train',
        description='Train a network of d2l-zh chapter 5 with the book\'s '
        'recipe (on a GPU) or its cpu recipe (on a CPU); override any part '
        'of it.', epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('model', help='one of: ' + ', '.join(list_models()))
    p.add_argument('--recipe', choices=RECIPE_CHOICES, default='auto',
                   help='auto (the default): the book\'s on a GPU, cpu '
                   'on a CPU')
    _recipe_options(p)
    p.add_argument('--root', default=None,
                   help='folder of the data set\'s files (default: '
                   '$MXNET_HOME/datasets/NAME)')
    p.add_argument('--ctx', default=None,
                   help='cpu, gpu, gpu:0,1 or cpu:0,1 (default: gpu(0) '
                   'if there is one, else cpu)')
    p.add_argument('--seed', type=_seed, default=0,
                   help='0 to 2**32 - 1 (default 0)')
    p.add_argument('--lr-steps', default='',
                   help='epochs after which the lr is multiplied by '
                   '--lr-factor, e.g. 30,60')
    p.add_argument('--lr-factor', type=positive(float), default=0.1)
    p.add_argument('--kvstore', choices=KVSTORES, default=None,
                   help='how gradients are combined (dist_* need '
                   'python -m d2l_cnn.launch)')
    p.add_argument('--num-examples', type=positive(int), default=None,
                   help='use only the first N training examples')
    p.add_argument('--out', default=None,
                   help='folder for metrics, curves, checkpoints and '
                   'parameters (default: a new runs/MODEL[-N])')
    p.add_argument('--resume', action='store_true',
                   help='continue from the last checkpoint in --out, with '
                   'the settings it was saved with')
    p.add_argument('--force', action='store_true',
                   help='train into an --out folder that holds other '
                   'files (those named like a run\'s are replaced)')
    p.add_argument('--allow-changes', action='store_true',
                   help='with --resume: accept other settings (and a '
                   'checkpoint without optimizer state); run.json records '
                   'from which epoch they apply')
    p.add_argument('--export', nargs='?', const='symbol', default=None,
                   choices=('symbol', 'onnx'),
                   help='after training also write the network as symbol '
                   'JSON + params (the default) or as model.onnx')
    p.add_argument('--no-hybridize', action='store_true')
    p.add_argument('--amp', action='store_true',
                   help='mixed precision (float16) with mxnet.contrib.amp; '
                   'GPU only, untested on this project\'s CPU machines')
    p.add_argument('--progress', dest='progress', action='store_true',
                   default=None, help='show a progress bar (default: on '
                   'a terminal)')
    p.add_argument('--no-progress', dest='progress', action='store_false')
    return p


def _parse_steps(text):
    try:
        steps = [int(s) for s in text.split(',') if s.strip()]
    except ValueError:
        raise UsageError('--lr-steps %r: give epochs like 30,60' % text)
    if any(s <= 0 for s in steps) or steps != sorted(set(steps)):
        raise UsageError('--lr-steps %r: positive, increasing epochs'
                         % text)
    return tuple(steps)


def settings(args):
    """The run's settings: the chosen recipe, overridden by the options."""
    changes = {f.name: getattr(args, f.name) for f in Recipe.overridable()}
    return make_settings(
        args.model, args.recipe, ctx=args.ctx, seed=args.seed,
        num_examples=args.num_examples, root=args.root,
        lr_steps=_parse_steps(args.lr_steps), lr_factor=args.lr_factor,
        **changes)


def run(args, state=None, command=None):
    """Train as ``args`` say; returns the history.

    ``state`` (a dict) receives the kvstore, so that ``main`` can let a
    failing ``dist_sync`` worker exit without waiting for the others.
    ``command`` is recorded in run.json (default: ``sys.argv``).
    """
    state = {} if state is None else state
    s = settings(args)
    if (args.kvstore or '').startswith('dist') and not os.environ.get(
            'DMLC_ROLE'):
        raise UsageError('--kvstore %s: %s' % (args.kvstore, LAUNCH_HINT))
    if args.allow_changes and not args.resume:
        raise UsageError('--allow-changes goes with --resume')
    # every precondition before the first batch
    if args.export:
        check_exportable(args.model)
        if args.export == 'onnx':
            check_onnx()
    if args.out == '':
        raise UsageError('--out is empty: give a folder (or leave --out out '
                         'for a new runs/%s)' % args.model)
    out = args.out = args.out or default_out(args.model, args.resume)
    print(s.headline())
    try:
        history = train_run(
            s, out, resume=args.resume, kvstore=args.kvstore,
            hybridize=not args.no_hybridize, amp=args.amp,
            progress=args.progress, state=state, command=command,
            allow_changes=args.allow_changes, force=args.force)
    except DataError as e:
        if s.dataset.embedded:  # no download to fall back from
            raise
        # a run that learns without any download
        raise DataError('%s; or train on the embedded digits: python -m '
                        'd2l_cnn.train %s --data mnist5k'
                        % (e, args.model)) from None
    if state.get('rank', 0) == 0:
        if args.export:
            for path in export_run(out, symbol=args.export == 'symbol',
                                   onnx=args.export == 'onnx'):
                print('wrote %s' % path)
        print('wrote %s' % out)
    return history


def main(argv=None, command=None):
    """Entry point: returns the exit status.

    ``command`` is what run.json records as the command that trained
    (default: ``sys.argv``).
    """
    args = build_parser().parse_args(argv)
    state = {}

    def interrupted():
        if args.out is None:  # before a folder was chosen
            return 'interrupted before training began; nothing was written'
        last = last_saved(args.out)
        where = ('the last complete epoch is saved in %s' % last if last
                 else 'no epoch had finished, nothing to resume')
        return 'interrupted; %s; continue with: %s' % (
            where, continue_command(argv, args.out, bool(last)))

    def body():
        try:
            run(args, state, command)
        except DiskFull as e:
            # as after Ctrl-C: what is safe, and how to go on
            last = last_saved(args.out)
            where = ('the epochs before are safe in %s; free some space '
                     'and continue with: %s'
                     % (last, continue_command(argv, args.out, True))
                     if last else 'no epoch had been saved')
            raise DiskFull(e.path, '%s; %s' % (e, where)) from None
    status = run_command(body, args.debug, interrupted)
    if status and 'kv' in state:
        # a failing dist_sync worker must not wait for the others
        skip_exit_barrier(state['kv'])
    return status


def continue_command(argv, out, resume):
    """The command that continues (``resume``) or restarts this run.

    Shell-quoted (``shlex.join``); ``--out`` is added when the run chose
    its own folder; ``--resume`` only when an epoch was saved.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if '--out' not in argv and not any(a.startswith('--out=')
                                       for a in argv):
        argv += ['--out', out]
    argv = [a for a in argv if a != '--resume']
    if resume:
        argv.append('--resume')
    else:
        argv = [a for a in argv if a != '--allow-changes']
    return shlex.join(['python', '-m', 'd2l_cnn.train'] + argv)


if __name__ == '__main__':
    sys.exit(main())
