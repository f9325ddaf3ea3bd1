"""Does a recipe learn for every seed and every OpenMP thread count?

``python -m benchmarks.robust nin --seeds 0-4 --threads 1,2,4,8`` runs
``python -m d2l_cnn.train MODEL --data mnist5k --seed S`` with
``OMP_NUM_THREADS=T`` for every cell of the grid, each in its own
process, ``--jobs`` at a time under ``nice``, and prints one markdown
table per network: final test accuracy and seconds per epoch, a cell
in bold when it misses ``--target``. Another thread count adds the
floating-point sums in another order, so each cell follows its own
path; more threads than cores gives the numbers of a machine with that
many cores, only slower. Such cells run with ``OMP_NUM_THREADS=T`` and
``OMP_WAIT_POLICY=PASSIVE`` (unless set): idle OpenMP threads sleep
instead of spinning, which leaves the sums and their order as they are
(LeNet, 4 threads on 2 cores: the same ten test accuracies, 1.5 instead
of 16 s an epoch beside another job).

Every finished cell goes into ``--json`` at once, and a rerun skips the
cells already there (a run killed half-way resumes from its last
epoch), so the grid can be stopped and continued. ``--train-args``
(e.g. ``--train-args=--no-centralize``) go to every run and name the
recipe variant in the table (``--tag`` names it otherwise). It runs for
long: not part of the tests (tests/test_robust.py checks its grid, JSON
and table with a fake runner).
"""
import argparse
import concurrent.futures
import json
import os
import shlex
import subprocess
import sys
import time

from benchmarks.common import ROOT

TARGETS = {'lenet': 0.90}  # every other chapter network: 0.95
DEFAULT_TARGET = 0.95


def parse_ints(text):
    """'0-4' -> [0, 1, 2, 3, 4]; '1,2,4,8' -> [1, 2, 4, 8]."""
    values = []
    for part in text.split(','):
        low, _, high = part.partition('-')
        values += range(int(low), int(high or low) + 1)
    return values


def cell_key(model, tag, threads, seed):
    return '%s|%s|t%d|s%d' % (model, tag, threads, seed)


def cell_env(threads, cores=None):
    """The environment of a cell: T OpenMP threads, waiting passively
    when there are more threads than cores (same numbers, no spinning)."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    if threads > (cores or os.cpu_count() or 1):
        env.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
    return env


def run_cell(model, tag, threads, seed, train_args, out_root, nice):
    """Train one cell in a subprocess; its record (or its error)."""
    out = os.path.join(out_root, '%s-%s-t%d-s%d' % (
        model, tag.replace(' ', '_'), threads, seed))
    cmd = [sys.executable, '-m', 'd2l_cnn.train', model, '--data',
           'mnist5k', '--seed', str(seed), '--out', out, '--no-progress']
    cmd += shlex.split(train_args)
    if os.path.isdir(os.path.join(out, 'checkpoints')):
        cmd.append('--resume')  # a killed run continues
    env = cell_env(threads)
    if nice:
        cmd = ['nice', '-n', str(nice)] + cmd
    record = dict(model=model, tag=tag, threads=threads, seed=seed,
                  train_args=train_args, load_before=os.getloadavg()[0])
    start = time.time()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True,
                          text=True)
    record['wall_seconds'] = round(time.time() - start, 1)
    record['load_after'] = os.getloadavg()[0]
    if proc.returncode:
        lines = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
        record['error'] = lines[-1] if lines else 'exit %d' % (
            proc.returncode)
        return record
    with open(os.path.join(out, 'metrics.json')) as f:
        history = json.load(f)
    record.update(summarise(history))
    return record


def summarise(history):
    """Final and best test accuracy, epochs, seconds per epoch."""
    return dict(final_acc=history[-1]['test_acc'],
                best_acc=max(h['test_acc'] for h in history),
                epochs=len(history),
                sec_per_epoch=sum(h['time'] for h in history)
                / len(history),
                curve=[round(h['test_acc'], 3) for h in history])


def load(path):
    if os.path.isfile(path):
        with open(path) as f:
            return json.load(f)
    return {'cells': {}}


def save_cell(path, key, cell):
    """Add one cell to the JSON at ``path`` as it is now (another grid
    may be writing other cells to it); returns the whole results."""
    results = load(path)
    results['cells'][key] = cell
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(results, f, indent=1, sort_keys=True)
    os.replace(tmp, path)
    return results


def table(results, model, tag, target, seeds=(), threads=()):
    """A markdown table: one row per thread count, one column per seed.

    The rows and columns are the grid asked for and every one measured;
    a cell not run is blank.
    """
    cells = [c for c in results['cells'].values()
             if c['model'] == model and c['tag'] == tag]
    if not cells:
        return ''
    seeds = sorted({c['seed'] for c in cells} | set(seeds))
    threads = sorted({c['threads'] for c in cells} | set(threads))
    by = {(c['threads'], c['seed']): c for c in cells}
    lines = ['| threads | ' + ' | '.join('seed %d' % s for s in seeds)
             + ' | s/epoch |',
             '|---|' + '---|' * (len(seeds) + 1)]
    passed = done = 0
    for t in threads:
        row, times = [], []
        for s in seeds:
            c = by.get((t, s))
            if c is None:
                row.append('')
            elif 'error' in c:
                row.append('error')
                done += 1
            else:
                done += 1
                ok = c['final_acc'] >= target
                passed += ok
                row.append(('%.3f' if ok else '**%.3f**') % c['final_acc'])
                times.append(c['sec_per_epoch'])
        spread = ('%.1f (%.1f-%.1f)' % (sum(times) / len(times),
                                        min(times), max(times))
                  if times else '')
        lines.append('| %d | %s | %s |' % (t, ' | '.join(row), spread))
    head = ('%s, %s: %d of %d runs >= %.2f final test acc'
            % (model, tag, passed, done, target))
    return head + '\n\n' + '\n'.join(lines) + '\n'


def main(argv=None):
    p = argparse.ArgumentParser(prog='python -m benchmarks.robust',
                                description=__doc__.split('\n')[0])
    p.add_argument('models', nargs='+')
    p.add_argument('--seeds', default='0-4', type=parse_ints)
    p.add_argument('--threads', default='1,2,4,8', type=parse_ints)
    p.add_argument('--jobs', type=int, default=2)
    p.add_argument('--nice', type=int, default=5)
    p.add_argument('--train-args', default='')
    p.add_argument('--tag', default=None,
                   help='name of the recipe variant (default: cpu, or '
                   'the train args)')
    p.add_argument('--json', default=os.path.join(ROOT, 'benchmarks',
                                                  'robust.json'))
    p.add_argument('--out', default=os.path.join(ROOT, 'runs', 'robust'))
    p.add_argument('--dry-run', action='store_true',
                   help='only print the tables of --json')
    args = p.parse_args(argv)
    tag = args.tag or args.train_args.strip() or 'cpu'
    results = load(args.json)
    todo = [(m, t, s) for m in args.models for t in args.threads
            for s in args.seeds
            if cell_key(m, tag, t, s) not in results['cells']
            or 'error' in results['cells'][cell_key(m, tag, t, s)]]
    if not args.dry_run and todo:
        print('%d runs to do, %d at a time' % (len(todo), args.jobs),
              flush=True)
        with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
            futures = [pool.submit(run_cell, m, tag, t, s,
                                   args.train_args, args.out, args.nice)
                       for m, t, s in todo]
            for future in concurrent.futures.as_completed(futures):
                c = future.result()
                results = save_cell(args.json, cell_key(
                    c['model'], tag, c['threads'], c['seed']), c)
                print('%s threads %d seed %d: %s' % (
                    c['model'], c['threads'], c['seed'],
                    c.get('error') or '%.3f, %.1f s/epoch' % (
                        c['final_acc'], c['sec_per_epoch'])), flush=True)
    for m in args.models:
        print(table(results, m, tag, TARGETS.get(m, DEFAULT_TARGET),
                    args.seeds, args.threads))
    return 0


if __name__ == '__main__':
    sys.exit(main())
