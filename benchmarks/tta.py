"""Time to accuracy: seconds from the command to a trained network.

``python -m benchmarks.tta`` (or ``python benchmarks/tta.py`` from a
clone) trains each chapter network with its ``cpu`` recipe on the
embedded digits (mnist5k: 4,000 train, 1,000 test) three ways, each a
fresh process, and measures the wall-clock seconds from the process's
start to the first printed epoch whose test accuracy reaches 0.95
(0.90 for sigmoid LeNet):

a. d2l_cnn as a user runs it: ``python -m d2l_cnn.train NAME --recipe
   cpu --data mnist5k``;
c. the book's own package, ``d2lzh`` 1.0.0: its ``train_ch5`` with the
   same network, optimizer, learning rate, schedule and batch size, on
   the same digits through a Gluon ``DataLoader`` with the book's
   per-image ``Resize`` + ``ToTensor`` (``benchmarks.tta_book``);
d. PyTorch: the same architecture, recipe and order of examples
   (``benchmarks.tta_torch``).

All three print the book's epoch line; the driver stamps each line as
it arrives and stops a run at its target epoch. Runs are interleaved (a
c d a c d ...), seeds fixed (the same seed for every repeat: the
spread is the machine's, not the seed's); the report gives medians,
the ratios (c)/(a) and (d)/(a), the start-up (process start to
``training on``: imports, data, network) and the warm-up (the first
epoch's excess over the later ones: graph building, MKLDNN primitives,
DataLoader workers) separately. ``--budget`` keeps the whole run within
a time limit: after the first round, the remaining repeats go to the
networks that fit, cheapest first, and the report says how many each
got. ``--quick`` is a seconds-long smoke run (LeNet-BN, 512 examples,
2 epochs).
"""
if __name__ == '__main__' and not __package__:
    # ``python benchmarks/tta.py``: run as ``python -m benchmarks.tta``
    import os
    import sys
    _root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    os.execve(sys.executable,
              [sys.executable, '-m', 'benchmarks.tta'] + sys.argv[1:],
              dict(os.environ, PYTHONPATH=os.pathsep.join(
                  [_root, os.environ.get('PYTHONPATH', '')]).rstrip(
                      os.pathsep)))

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import inspect  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

from benchmarks.common import (ROOT, fmt, load_average,  # noqa: E402
                               load_summary, machine_info, median, ratio,
                               recipe, worker_env, write_digits)

CHAPTER = ('lenet', 'alexnet', 'vgg', 'nin', 'googlenet', 'batchnorm',
           'resnet', 'densenet')
SIDES = ('a', 'c', 'd')
SIDE_NAMES = {'a': 'd2l_cnn (python -m d2l_cnn.train)',
              'c': 'd2lzh 1.0.0 train_ch5', 'd': 'PyTorch'}
MODULES = {'c': 'benchmarks.tta_book', 'd': 'benchmarks.tta_torch'}
TARGET, TARGET_LENET = 0.95, 0.90
GOALS = {'c_over_a': 2.0, 'd_over_a': 1.0}
EPOCH_LINE = re.compile(r'epoch (\d+), loss (\S+), train acc (\S+), '
                        r'test acc (\S+), time (\S+) sec')
QUICK = {'num_epochs': 2, 'batch_size': 64}
QUICK_EXAMPLES = 512


def target(model):
    """Test accuracy to reach: 0.90 for sigmoid LeNet, 0.95 otherwise."""
    return TARGET_LENET if model == 'lenet' else TARGET


def has_cpu_recipes():
    """Whether the registry knows ``get_recipe(name, 'cpu')``."""
    from d2l_cnn import registry
    return len(inspect.signature(registry.get_recipe).parameters) >= 2


def run_recipe(model, quick=False):
    """The recipe a run uses: ``cpu`` (the book's where there is none)."""
    r = recipe(model, 'cpu' if has_cpu_recipes() else 'book')
    if quick:
        r.update(QUICK)
    r.setdefault('wd', 0.0)
    r.setdefault('lr_schedule', 'constant')
    r.setdefault('warmup_epochs', 0)
    r.setdefault('init', 'xavier')
    return r


def command_a(model, r, out, seed, num_examples=None, quick=False):
    """``python -m d2l_cnn.train MODEL --recipe cpu --data mnist5k ...``.

    Without ``--recipe`` (a tree older than the cpu recipes) the
    recipe's fields go as options instead.
    """
    cmd = [sys.executable, '-m', 'd2l_cnn.train', model]
    if has_cpu_recipes():
        cmd += ['--recipe', 'cpu']
    else:
        cmd += ['--lr', repr(r['lr']), '--batch-size', str(r['batch_size']),
                '--resize', str(r['resize']), '--optimizer', r['optimizer'],
                '--num-epochs', str(r['num_epochs']), '--wd', repr(r['wd'])]
    cmd += ['--data', 'mnist5k', '--seed', str(seed), '--out', out,
            '--no-progress']
    if quick:
        cmd += ['--num-epochs', str(r['num_epochs']), '--batch-size',
                str(r['batch_size'])]
    if num_examples:
        cmd += ['--num-examples', str(num_examples)]
    return cmd


def parse_epoch(line):
    """(epoch, test acc) of a book-style epoch line, or None."""
    m = EPOCH_LINE.search(line)
    if not m:
        return None
    return int(m.group(1)), float(m.group(4))


def watch(cmd, env, goal, timeout, cwd=ROOT):
    """Run ``cmd``, stamping its lines; stop it at the target epoch.

    Returns the seconds (from just before the process starts) of the
    ``training on`` line and of each epoch line, and when the test
    accuracy first reached ``goal``.
    """
    run = {'epochs': [], 'startup_seconds': None, 'target_seconds': None,
           'target_epoch': None}
    with tempfile.TemporaryFile('w+') as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, text=True,
                                stdout=subprocess.PIPE, stderr=err)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            for line in proc.stdout:
                now = time.perf_counter() - start
                if line.startswith('training on') and \
                        run['startup_seconds'] is None:
                    run['startup_seconds'] = now
                parsed = parse_epoch(line)
                if parsed is None:
                    continue
                epoch, acc = parsed
                run['epochs'].append({'epoch': epoch, 'test_acc': acc,
                                      'seconds': now})
                if acc >= goal:
                    run['target_seconds'], run['target_epoch'] = now, epoch
                    proc.terminate()  # the rest is not measured
                    break
            proc.stdout.close()
            proc.wait()
        finally:
            timer.cancel()
        run['process_seconds'] = time.perf_counter() - start
        if run['target_seconds'] is None:
            if run['process_seconds'] >= timeout:
                run['error'] = 'timed out after %d s' % timeout
            elif proc.returncode:
                err.seek(0)
                lines = [ln for ln in err.read().splitlines() if ln.strip()]
                run['error'] = (lines[-1] if lines else
                                'exit status %d' % proc.returncode)
    run.update(epoch_stats(run))
    return run


def epoch_stats(run):
    """First epoch's length, the later ones' median, and the excess."""
    stamps = [run['startup_seconds']] + [e['seconds'] for e in run['epochs']]
    if run['startup_seconds'] is None or len(stamps) < 2:
        return {}
    lengths = [t1 - t0 for t0, t1 in zip(stamps, stamps[1:])]
    out = {'first_epoch_seconds': lengths[0]}
    if len(lengths) > 1:
        out['epoch_seconds'] = median(lengths[1:])
        out['warmup_seconds'] = max(lengths[0] - out['epoch_seconds'], 0.0)
    return out


def available_sides(sides):
    """Drop (c) without d2lzh and (d) without torch; say why."""
    missing = {'c': 'd2lzh', 'd': 'torch'}
    keep, skipped = [], {}
    for side in sides:
        module = missing.get(side)
        if module and importlib.util.find_spec(module) is None:
            skipped[side] = '%s is not installed (pip install -e ".[bench]")' \
                % module
        else:
            keep.append(side)
    return keep, skipped


def run_side(side, model, r, seed, threads, digits, tmp, timeout,
             num_examples=None, quick=False):
    env = worker_env(threads)
    if side == 'a':
        out = tempfile.mkdtemp(prefix='run-%s-' % model, dir=tmp)
        cmd = command_a(model, r, out, seed, num_examples, quick)
    else:
        spec = {'model': model, 'recipe': r, 'seed': seed,
                'threads': threads, 'data': digits}
        cmd = [sys.executable, '-m', MODULES[side], json.dumps(spec)]
    load = load_average()
    run = watch(cmd, env, target(model), timeout)
    run['load_before'] = load
    return run


def summarize(runs, goal):
    """Medians of one network's runs per side, and the ratios."""
    out = {'sides': {}, 'ratios': {}, 'target': goal}
    for side, results in runs.items():
        ok = [r for r in results if 'error' not in r]
        s = {'runs': len(results),
             'errors': [r['error'] for r in results if 'error' in r],
             'reached': sum(r['target_seconds'] is not None for r in ok)}
        for key in ('target_seconds', 'target_epoch', 'startup_seconds',
                    'first_epoch_seconds', 'epoch_seconds',
                    'warmup_seconds'):
            s[key] = median([r.get(key) for r in ok])
        s['target_seconds_all'] = [r.get('target_seconds') for r in results]
        if s['reached'] < len(results):
            # a median over runs that did not all arrive would flatter
            s['target_seconds'] = None
        out['sides'][side] = s
    a = out['sides'].get('a', {}).get('target_seconds')
    for side in ('c', 'd'):
        if side in out['sides']:
            out['ratios']['%s_over_a' % side] = ratio(
                out['sides'][side]['target_seconds'], a)
    out['goals'] = {k: {'value': v, 'goal': GOALS[k], 'met': v >= GOALS[k]}
                    for k, v in out['ratios'].items() if v is not None}
    return out


def plan_repeats(first_round, repeats, budget, spent):
    """Repeats per network that fit the budget, cheapest network first.

    ``first_round`` maps each network to the seconds its first round
    took (all sides); every network keeps at least that one round.
    """
    plan = {m: 1 for m in first_round}
    left = budget - spent
    for model in sorted(first_round, key=first_round.get):
        extra = repeats - 1
        while extra and first_round[model] <= left:
            plan[model] += 1
            left -= first_round[model]
            extra -= 1
    return plan


def benchmark(models, sides, repeats, seed, threads, budget, timeout,
              quick=False, log=print):
    """The interleaved runs; returns the results dict."""
    sides, skipped = available_sides(sides)
    recipes = {m: run_recipe(m, quick) for m in models}
    num_examples = QUICK_EXAMPLES if quick else None
    started = time.perf_counter()
    results = {
        'machine': machine_info(threads),
        'settings': {'models': list(models), 'sides': sides,
                     'skipped': skipped, 'side_names': SIDE_NAMES,
                     'repeats': repeats, 'seed': seed, 'budget': budget,
                     'quick': quick, 'num_examples': num_examples,
                     'recipe_kind': 'cpu' if has_cpu_recipes() else 'book',
                     'data': 'mnist5k (4,000 train, 1,000 test digits)'},
        'recipes': recipes, 'models': {}}
    runs = {m: {s: [] for s in sides} for m in models}
    with tempfile.TemporaryDirectory() as tmp:
        digits = os.path.join(tmp, 'digits.npz')
        write_digits(digits, num_examples or 4000, 1000)
        plan, first_round = {m: repeats for m in models}, {}
        for rep in range(repeats):
            for model in models:
                if rep >= plan[model]:
                    continue
                t0 = time.perf_counter()
                for side in sides:
                    run = run_side(side, model, recipes[model], seed,
                                   threads, digits, tmp, timeout,
                                   num_examples, quick)
                    runs[model][side].append(run)
                    log('round %d/%d %-10s %s: %s'
                        % (rep + 1, plan[model], model, side, brief(run)))
                if rep == 0:
                    first_round[model] = time.perf_counter() - t0
            if rep == 0 and repeats > 1:
                plan = plan_repeats(first_round, repeats, budget,
                                    time.perf_counter() - started)
                fewer = {m: n for m, n in plan.items() if n < repeats}
                if fewer:
                    log('budget %d s: fewer repeats for %s'
                        % (budget, ', '.join('%s (%d)' % kv
                                             for kv in fewer.items())))
    for model in models:
        summary = summarize(runs[model], target(model))
        summary['repeats'] = len(runs[model][sides[0]]) if sides else 0
        summary['runs'] = runs[model]
        results['models'][model] = summary
    results['load_average'] = load_summary(
        [r for m in runs.values() for v in m.values() for r in v])
    results['elapsed_seconds'] = time.perf_counter() - started
    return results


def brief(run):
    if 'error' in run:
        return 'error: ' + run['error']
    acc = run['epochs'][-1]['test_acc'] if run['epochs'] else float('nan')
    if run['target_seconds'] is None:
        return 'not reached (test acc %.3f after %d epochs, %.1f s)' % (
            acc, len(run['epochs']), run['process_seconds'])
    return 'test acc %.3f at epoch %d, %.1f s (start-up %.1f s)' % (
        acc, run['target_epoch'], run['target_seconds'],
        run['startup_seconds'] or 0)


def markdown_report(results):
    """The time-to-accuracy table as Markdown (for a README)."""
    m = results['machine']
    st = results['settings']
    lines = ['Machine: %s, %d physical cores, %d threads per side; %s '
             'recipes, seed %d; seconds from the command to the first '
             'epoch at the target test accuracy (medians of up to %d '
             'interleaved runs).' % (m['cpu'], m['physical_cores'],
                                     m['threads'], st['recipe_kind'],
                                     st['seed'], st['repeats']), '',
             '| network | recipe | target | runs | d2l_cnn s (epoch) | '
             'd2lzh s | PyTorch s | d2lzh / d2l_cnn | PyTorch / d2l_cnn | '
             'start-up s (a/c/d) | warm-up s (a/c/d) |',
             '|---|---|---|---|---|---|---|---|---|---|---|']
    for model, s in results['models'].items():
        r = results['recipes'][model]
        sides = s['sides']

        def get(side, key, pattern='%.1f'):
            return fmt(sides.get(side, {}).get(key), pattern)
        a = sides.get('a', {})
        lines.append(
            '| %s | %s %g, batch %d, %d px, %d ep | %.2f | %d | %s (%s) | '
            '%s | %s | %s | %s | %s | %s |' % (
                model, r['optimizer'], r['lr'], r['batch_size'],
                r['resize'], r['num_epochs'], s['target'], s['repeats'],
                fmt(a.get('target_seconds'), '%.1f'),
                fmt(a.get('target_epoch'), '%d'),
                get('c', 'target_seconds'), get('d', 'target_seconds'),
                fmt(s['ratios'].get('c_over_a'), '%.2fx'),
                fmt(s['ratios'].get('d_over_a'), '%.2fx'),
                '/'.join(get(x, 'startup_seconds') for x in SIDES),
                '/'.join(get(x, 'warmup_seconds') for x in SIDES)))
    lines += ['', '"-": the target was not reached in every run (or the '
              'side was skipped); goals: d2lzh / d2l_cnn >= %.1f, PyTorch '
              '/ d2l_cnn >= %.1f.' % (GOALS['c_over_a'], GOALS['d_over_a'])]
    return '\n'.join(lines)


def print_report(results, file=None):
    file = file or sys.stdout
    print(markdown_report(results), file=file)
    for side, why in results['settings']['skipped'].items():
        print('side %s (%s) skipped: %s' % (side, SIDE_NAMES[side], why),
              file=file)
    for model, s in results['models'].items():
        for side, v in s['sides'].items():
            for err in v['errors'][:1]:
                print('%s %s: error: %s' % (model, side, err), file=file)
        for key, g in s['goals'].items():
            print('%s: %s = %.2f (goal %.1f) %s'
                  % (model, key, g['value'], g['goal'],
                     'met' if g['met'] else 'MISSED'), file=file)
    load = results.get('load_average')
    if load:
        print('1-minute load average before the runs: median %.1f, max '
              '%.1f; %.0f s in all' % (load['median_before_runs'],
                                       load['max_before_runs'],
                                       results['elapsed_seconds']),
              file=file)


def _positive(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError('must be at least 1')
    return value


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog='python -m benchmarks.tta',
        description='Seconds from the command to a trained network: '
                    'd2l_cnn, the book\'s d2lzh 1.0.0 and PyTorch, '
                    'interleaved.')
    p.add_argument('--models', default=','.join(CHAPTER),
                   help='comma-separated networks (default: the eight '
                        'chapter networks)')
    p.add_argument('--sides', default=','.join(SIDES),
                   help='a (d2l_cnn), c (d2lzh), d (PyTorch); default all')
    p.add_argument('--repeats', type=_positive, default=3)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--threads', type=_positive, default=None,
                   help='OpenMP / torch threads of every side (default: '
                        'the physical cores)')
    p.add_argument('--budget', type=float, default=19 * 60,
                   help='seconds for the whole run; repeats after the '
                        'first round only where they fit (default 1140)')
    p.add_argument('--timeout', type=float, default=300,
                   help='seconds one run may take (default 300)')
    p.add_argument('--quick', action='store_true',
                   help='a seconds-long smoke run (batchnorm, %d '
                        'examples, 2 epochs, one round)' % QUICK_EXAMPLES)
    p.add_argument('--json', default=None, help='write the results here')
    p.add_argument('--report', default=None, metavar='JSON',
                   help='print the table of a saved results file')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.report:
        with open(args.report) as f:
            print(markdown_report(json.load(f)))
        return 0
    from d2l_cnn.threads import physical_cores
    from d2l_cnn.registry import list_models
    models = [m for m in args.models.split(',') if m]
    sides = [s for s in args.sides.split(',') if s]
    if args.quick:
        if args.models == ','.join(CHAPTER):
            models = ['batchnorm']
        args.repeats = 1
    for m in models:
        if m not in list_models():
            print('error: unknown model %r; choose one of: %s'
                  % (m, ', '.join(list_models())), file=sys.stderr)
            return 2
    for s in sides:
        if s not in SIDES:
            print('error: unknown side %r; choose from a, c, d' % s,
                  file=sys.stderr)
            return 2
    results = benchmark(models, sides, args.repeats, args.seed,
                        args.threads or physical_cores(), args.budget,
                        args.timeout, quick=args.quick,
                        log=lambda msg: print(msg, file=sys.stderr,
                                              flush=True))
    print_report(results)
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)),
                    exist_ok=True)
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=1, sort_keys=True)
            f.write('\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
