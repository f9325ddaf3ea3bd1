"""Time-to-accuracy benchmark: parsing, summaries, the sides, a smoke run."""
import importlib.util
import json
import math
import os
import pathlib
import subprocess
import sys

import pytest

from benchmarks import common, tta

ROOT = pathlib.Path(__file__).resolve().parents[1]
HAS_TORCH = importlib.util.find_spec('torch') is not None
HAS_D2LZH = importlib.util.find_spec('d2lzh') is not None
SMALL = {'data': 'mnist5k', 'resize': 28, 'batch_size': 64,
         'num_epochs': 2, 'optimizer': 'momentum', 'lr': 0.05, 'wd': 0.0,
         'lr_schedule': 'cosine', 'warmup_epochs': 0.5, 'init': 'xavier',
         'why': 'a small recipe for the tests'}


def test_parse_epoch_lines_of_every_side():
    ours = ('epoch 3, loss 0.1234, train acc 0.961, test acc 0.950, '
            'time 1.2 sec, 3400.1 examples/sec')
    book = 'epoch 12, loss 2.3026, train acc 0.101, test acc 0.100, ' \
        'time 10.3 sec'
    assert tta.parse_epoch(ours) == (3, 0.95)
    assert tta.parse_epoch(book) == (12, 0.1)
    assert tta.parse_epoch('training on cpu(0)') is None


def test_targets():
    assert tta.target('lenet') == 0.90
    assert all(tta.target(m) == 0.95 for m in tta.CHAPTER if m != 'lenet')


def _run(target_seconds, startup=1.0, epochs=(2.0, 3.0, 4.0)):
    return {'target_seconds': target_seconds, 'startup_seconds': startup,
            'target_epoch': 3 if target_seconds else None,
            'epochs': [{'epoch': i + 1, 'test_acc': 0.5, 'seconds': t}
                       for i, t in enumerate(epochs)],
            'first_epoch_seconds': epochs[0] - startup,
            'epoch_seconds': 1.0, 'warmup_seconds': epochs[0] - startup - 1}


def test_summarize_medians_ratios_and_goals():
    runs = {'a': [_run(4.0), _run(6.0), _run(5.0)],
            'c': [_run(12.0), _run(11.0), _run(10.0)],
            'd': [_run(4.0), {'error': 'boom'}, _run(5.0)]}
    s = tta.summarize(runs, 0.95)
    assert s['sides']['a']['target_seconds'] == 5.0
    assert s['ratios']['c_over_a'] == pytest.approx(11.0 / 5.0)
    assert s['goals']['c_over_a'] == {'value': pytest.approx(2.2),
                                      'goal': 2.0, 'met': True}
    assert s['sides']['d']['errors'] == ['boom']
    # one of the three PyTorch runs failed: no median that flatters it
    assert s['sides']['d']['target_seconds'] is None
    assert 'd_over_a' not in s['goals']
    assert s['sides']['a']['startup_seconds'] == 1.0


def test_not_reached_has_no_time():
    s = tta.summarize({'a': [_run(None), _run(5.0)]}, 0.95)
    assert s['sides']['a']['reached'] == 1
    assert s['sides']['a']['target_seconds'] is None


def test_epoch_stats_warm_up_is_the_first_epochs_excess():
    run = {'startup_seconds': 2.0,
           'epochs': [{'seconds': 7.0}, {'seconds': 9.0},
                      {'seconds': 11.0}]}
    stats = tta.epoch_stats(run)
    assert stats == {'first_epoch_seconds': 5.0, 'epoch_seconds': 2.0,
                     'warmup_seconds': 3.0}


def test_plan_repeats_fits_the_budget_cheapest_first():
    first = {'lenet': 10.0, 'nin': 100.0, 'vgg': 300.0}
    plan = tta.plan_repeats(first, 3, budget=700, spent=410)
    # 290 s left: lenet twice more (20), nin twice more (200), not vgg
    assert plan == {'lenet': 3, 'nin': 3, 'vgg': 1}
    assert tta.plan_repeats(first, 3, budget=0, spent=410) == \
        {'lenet': 1, 'nin': 1, 'vgg': 1}


def test_lr_schedule_warm_up_then_cosine():
    r = dict(SMALL, lr=0.1, num_epochs=4, warmup_epochs=1)
    assert common.lr_at(r, 5, 10) == pytest.approx(0.05)
    assert common.lr_at(r, 10, 10) == pytest.approx(0.1)
    assert common.lr_at(r, 25, 10) == pytest.approx(0.05)
    assert common.lr_at(r, 40, 10) == pytest.approx(0.0, abs=1e-12)
    flat = dict(r, lr_schedule='constant', warmup_epochs=0)
    assert common.lr_at(flat, 33, 10) == 0.1


def test_command_a_is_the_users_command(monkeypatch):
    monkeypatch.setattr(tta, 'has_cpu_recipes', lambda: True)
    cmd = tta.command_a('nin', SMALL, '/tmp/x', 0)
    assert cmd[1:4] == ['-m', 'd2l_cnn.train', 'nin']
    assert cmd[4:6] == ['--recipe', 'cpu']
    assert '--lr' not in cmd and cmd[cmd.index('--data') + 1] == 'mnist5k'
    monkeypatch.setattr(tta, 'has_cpu_recipes', lambda: False)
    cmd = tta.command_a('nin', SMALL, '/tmp/x', 0)
    assert '--recipe' not in cmd and cmd[cmd.index('--lr') + 1] == '0.05'


@pytest.mark.skipif(not HAS_D2LZH, reason='d2lzh is not installed')
def test_book_schedule_is_the_recipes():
    from benchmarks.tta_book import RecipeSchedule
    schedule = RecipeSchedule(SMALL, 7)
    for t in (1, 3, 7, 10, 14):
        assert schedule(t) == pytest.approx(common.lr_at(SMALL, t, 7))


@pytest.mark.parametrize('side', [
    pytest.param('c', marks=pytest.mark.skipif(
        not HAS_D2LZH, reason='d2lzh is not installed')),
    pytest.param('d', marks=pytest.mark.skipif(
        not HAS_TORCH, reason='PyTorch is not installed'))])
def test_side_prints_epochs_and_stops_at_target(tmp_path, side):
    digits = str(tmp_path / 'digits.npz')
    common.write_digits(digits, 256, 200)
    run = tta.run_side(side, 'batchnorm', dict(SMALL), 0, 1, digits,
                       str(tmp_path), timeout=300)
    assert 'error' not in run, run
    assert 0 < run['startup_seconds'] < run['epochs'][0]['seconds']
    accs = [e['test_acc'] for e in run['epochs']]
    assert all(0 <= a <= 1 for a in accs)
    if run['target_seconds'] is None:
        assert len(accs) == SMALL['num_epochs'] and max(accs) < 0.95
    else:
        assert accs[-1] >= 0.95 and run['target_epoch'] == len(accs)
    assert run['first_epoch_seconds'] > 0


@pytest.mark.slow
def test_quick_run_writes_the_table(tmp_path):
    path = tmp_path / 'tta.json'
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT)] + [p for p in os.environ.get('PYTHONPATH', '').split(
            os.pathsep) if p]))
    proc = subprocess.run(
        [sys.executable, '-m', 'benchmarks.tta', '--quick', '--json',
         str(path)], cwd=str(ROOT), env=env, capture_output=True,
        text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads(path.read_text())
    assert results['settings']['quick'] is True
    model = results['models']['batchnorm']
    assert model['repeats'] == 1
    for side in results['settings']['sides']:
        s = model['sides'][side]
        assert not s['errors'], s['errors']
        assert s['startup_seconds'] > 0
        run = model['runs'][side][0]
        assert run['epochs'] and not math.isnan(run['epochs'][0]['test_acc'])
    assert '| batchnorm |' in proc.stdout
