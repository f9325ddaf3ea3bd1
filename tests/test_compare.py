"""python -m d2l_cnn.compare: runs, the three files, resuming, errors."""
import csv
import json
import os
import shutil
import subprocess
import sys

import pytest
from conftest import subprocess_env

from d2l_cnn import compare, cost, get_model, list_models
from d2l_cnn.cli import main as train_main

TINY = ['--num-examples', '256', '--num-epochs', '1']
ARGS = ['lenet', 'batchnorm', '--recipe', 'cpu', '--data', 'synthetic',
        '--seeds', '0,1', '--train-args', ' '.join(TINY)]


def run_json(folder):
    with open(os.path.join(folder, 'run.json')) as f:
        return json.load(f)


@pytest.fixture(scope='module')
def done(tmp_path_factory):
    """Two tiny networks, two seeds each, one epoch on 256 examples."""
    out = str(tmp_path_factory.mktemp('compare'))
    status = compare.main(ARGS + ['--out', out])
    assert status == 0
    return out


def test_every_run_is_a_training_run_folder(done):
    for name in ('lenet', 'batchnorm'):
        for seed in (0, 1):
            run = run_json(os.path.join(done, '%s-seed%d' % (name, seed)))
            assert run['model'] == name and run['seed'] == seed
            assert run['data'] == 'synthetic' and run['finished']
            assert run['recipe']['kind'] == 'cpu'
            # recorded as the training command a user would type
            assert run['command'][0].endswith('train.py')
            assert run['command'][1:3] == [name, '--data']
            assert '--recipe' in run['command']


def test_csv_has_one_row_per_network_with_the_columns(done):
    with open(os.path.join(done, 'compare.csv')) as f:
        rows = list(csv.DictReader(f))
    assert [r['network'] for r in rows] == ['lenet', 'batchnorm']
    for column in ('params', 'flops_per_example', 'sec_per_epoch',
                   'sec_per_epoch_min', 'sec_per_epoch_max', 'best_acc',
                   'best_acc_min', 'best_acc_max', 'sec_to_0.90',
                   'sec_to_0.95', 'reached_0.90', 'reached_0.95'):
        assert column in rows[0]
    lenet = rows[0]
    assert lenet['seeds'] == '0 1' and lenet['resize'] == '28'
    assert lenet['recipe'] == 'cpu' and lenet['optimizer'] == 'adam'
    assert lenet['init'] == 'xavier'
    assert int(lenet['params']) == 44426  # LeNet, first edition, at 28
    net = get_model('lenet')
    assert int(lenet['flops_per_example']) == int(
        cost.flops_per_example(net, (1, 1, 28, 28)))
    for r in rows:
        low, mean, high = (float(r['best_acc' + s])
                           for s in ('_min', '', '_max'))
        assert 0 <= low <= mean <= high <= 1
        assert float(r['sec_per_epoch']) > 0
        # one epoch on random images: chance, far from 0.95
        assert r['sec_to_0.95'] == 'not reached'
        assert r['reached_0.95'] == '0/2'


def test_markdown_states_machine_recipe_and_command(done):
    with open(os.path.join(done, 'compare.md')) as f:
        text = f.read()
    assert 'OMP_NUM_THREADS=' in text and 'physical cores' in text
    assert '`python -m d2l_cnn.compare lenet batchnorm --recipe cpu ' \
        '--data synthetic' in text
    assert '- data: synthetic; recipe: cpu\n' in text
    assert 'mean (min-max) over the seeds' in text
    table = [line for line in text.splitlines() if line.startswith('| ')]
    assert table[0].startswith('| network | seeds | recipe | parameters')
    assert [row.split(' | ')[0] for row in table[1:]] == ['| lenet',
                                                          '| batchnorm']
    assert 'not reached' in table[1]
    assert '![test accuracy against time](compare.png)' in text


def test_plot_is_a_png(done):
    with open(os.path.join(done, 'compare.png'), 'rb') as f:
        head = f.read(8)
    assert head == b'\x89PNG\r\n\x1a\n'
    assert os.path.getsize(os.path.join(done, 'compare.png')) > 10000


def test_rerun_skips_finished_runs(done, capsys):
    stamps = {d: os.path.getmtime(os.path.join(done, d, 'run.json'))
              for d in os.listdir(done) if '-seed' in d}
    assert len(stamps) == 4
    os.remove(os.path.join(done, 'compare.csv'))
    assert compare.main(ARGS + ['--out', done]) == 0
    out, err = capsys.readouterr()
    assert 'training on' not in out
    assert err.splitlines() == [
        '[1/4] lenet seed 0: finished, skipped',
        '[2/4] lenet seed 1: finished, skipped',
        '[3/4] batchnorm seed 0: finished, skipped',
        '[4/4] batchnorm seed 1: finished, skipped']
    for d, stamp in stamps.items():
        assert os.path.getmtime(os.path.join(done, d, 'run.json')) == stamp
    assert os.path.exists(os.path.join(done, 'compare.csv'))


def test_the_same_folder_typed_relative_or_absolute_is_the_same_run(
        done, capsys, monkeypatch):
    monkeypatch.chdir(os.path.dirname(done))
    assert compare.main(ARGS + ['--out', os.path.basename(done)]) == 0
    err = capsys.readouterr().err
    assert err.splitlines()[0] == '[1/4] lenet seed 0: finished, skipped'
    assert 'other options' not in err


def test_finished_runs_with_other_options_are_kept_and_named(done,
                                                             capsys):
    stamp = os.path.getmtime(os.path.join(done, 'lenet-seed0', 'run.json'))
    assert compare.main(['lenet', '--recipe', 'cpu', '--data', 'synthetic',
                         '--seeds', '0', '--out', done, '--train-args',
                         '--num-examples 256 --num-epochs 3']) == 0
    out, err = capsys.readouterr()
    assert 'training on' not in out
    assert err == ('[1/1] lenet seed 0: finished, skipped (it ran with '
                   'other options; use another --out to train it again)\n')
    assert os.path.getmtime(os.path.join(done, 'lenet-seed0',
                                         'run.json')) == stamp


def test_interrupted_run_is_continued(tmp_path, capsys):
    out = str(tmp_path)
    folder = os.path.join(out, 'lenet-seed0')
    assert train_main(['lenet', '--recipe', 'cpu', '--data', 'synthetic',
                       '--out', folder, '--no-progress', '--num-examples',
                       '256', '--num-epochs', '2']) == 0
    with open(os.path.join(folder, 'metrics.json')) as f:
        first = json.load(f)
    # as if killed in epoch 2: no run.json, no checkpoint of epoch 2
    os.remove(os.path.join(folder, 'run.json'))
    shutil.rmtree(os.path.join(folder, 'checkpoints', 'epoch-0002'))
    capsys.readouterr()
    assert compare.main(['lenet', '--recipe', 'cpu', '--data', 'synthetic',
                         '--seeds', '0', '--out', out, '--train-args',
                         '--num-examples 256 --num-epochs 2']) == 0
    stdout, err = capsys.readouterr()
    assert err.splitlines()[0] == '[1/1] lenet seed 0, resuming ...'
    assert 'resuming from epoch 1' in stdout
    with open(os.path.join(folder, 'metrics.json')) as f:
        history = json.load(f)
    assert [r['epoch'] for r in history] == [1, 2]
    assert history[0] == first[0]  # epoch 1 was not trained again
    with open(os.path.join(out, 'compare.csv')) as f:
        assert next(csv.DictReader(f))['num_epochs'] == '2'


def test_failed_runs_are_listed_and_the_rest_still_train(tmp_path,
                                                         monkeypatch,
                                                         capsys):
    calls = []

    def fake(argv):
        calls.append(argv[0])
        return 1 if argv[0] == 'lenet' else 0

    monkeypatch.setattr(compare, 'train', fake)
    status = compare.main(['lenet', 'nin', '--seeds', '0',
                           '--out', str(tmp_path)])
    assert status == 1 and calls == ['lenet', 'nin']
    last = capsys.readouterr().err.splitlines()[-1]
    assert last.startswith('error: 1 of 2 runs failed (lenet seed 0;')


@pytest.mark.parametrize('status', [2, 130])
def test_bad_training_options_or_ctrl_c_stop_at_once(tmp_path, monkeypatch,
                                                     status):
    calls = []

    def fake(argv):
        calls.append(argv)
        return status

    monkeypatch.setattr(compare, 'train', fake)
    assert compare.main(['lenet', 'nin', '--out', str(tmp_path)]) == status
    assert len(calls) == 1
    assert calls[0][:7] == ['lenet', '--data', 'mnist5k', '--seed', '0',
                            '--out', os.path.join(str(tmp_path),
                                                  'lenet-seed0')]


@pytest.mark.parametrize('argv, message', [
    (['nim'], "error: unknown model 'nim'; choose one of: alexnet,"),
    (['lenet', '--seeds', '0,x'], "error: --seeds '0,x': give whole"),
    (['lenet', '--seeds', '1,1'], "error: --seeds '1,1': distinct"),
    (['lenet', '--seeds', '-1'], "error: --seeds '-1': distinct"),
    (['lenet', '--seeds', ''], "error: --seeds '': give whole"),
    (['lenet', '--data', 'mnist6k'], "error: unknown dataset 'mnist6k'"),
    (['lenet', '--train-args', '--seed 3'],
     'error: --train-args: --seed is set by compare itself'),
    (['lenet', '--train-args=--out=x'],
     'error: --train-args: --out is set by compare itself'),
    (['lenet', '--train-args', '"'], "error: --train-args '\"': No "),
])
def test_bad_input_is_one_error_line(tmp_path, capsys, argv, message):
    out = str(tmp_path / 'out')
    assert compare.main(argv + ['--out', out]) == 2
    stdout, err = capsys.readouterr()
    assert err.startswith(message) and err.count('\n') == 1
    assert not os.path.exists(os.path.join(out, 'lenet-seed0'))


def test_out_that_is_a_file(tmp_path, capsys):
    path = tmp_path / 'file'
    path.write_text('x')
    assert compare.main(['lenet', '--out', str(path)]) == 2
    assert capsys.readouterr().err == \
        'error: --out %s is a file, not a folder\n' % path


def test_out_with_runs_on_other_data(done, capsys):
    assert compare.main(['lenet', '--out', done]) == 2
    assert capsys.readouterr().err == (
        'error: --out %s holds runs on synthetic, not mnist5k; choose '
        'another --out\n' % done)


def test_debug_shows_the_traceback(tmp_path, capsys):
    assert compare.main(['nim', '--debug', '--out', str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert 'Traceback' in err and err.endswith(
        "error: unknown model 'nim'; choose one of: %s\n"
        % ', '.join(list_models()))


def test_command_line_error_exits_2_with_one_line():
    proc = subprocess.run(
        [sys.executable, '-m', 'd2l_cnn.compare', 'lenet', '--recipe', 'x'],
        capture_output=True, text=True, env=subprocess_env())
    assert proc.returncode == 2 and proc.stdout == ''
    assert proc.stderr.startswith("error: argument --recipe: invalid "
                                  "choice: 'x'")
    assert proc.stderr.count('\n') == 1


def test_time_to_target_and_spread():
    history = [dict(test_acc=0.5, time=2.0), dict(test_acc=0.92, time=3.0),
               dict(test_acc=0.96, time=2.5)]
    assert compare.elapsed(history) == [2.0, 5.0, 7.5]
    assert compare.time_to(history, 0.90) == 5.0
    assert compare.time_to(history, 0.95) == 7.5
    assert compare.time_to(history, 0.97) is None
    assert compare.spread([3.0, None, 1.0]) == (2.0, 1.0, 3.0)
    assert compare.spread([None, None]) is None
    assert compare._cell((2.0, 1.0, 3.0), compare._seconds, 2, 3) == \
        '2.0 (1.0-3.0), 2 of 3 seeds'
    assert compare._cell((2.0, 2.0, 2.0), compare._seconds, 1, 3) == \
        '2.0, 1 of 3 seeds'
    assert compare._cell(None, compare._seconds, 0, 3) == 'not reached'
    assert compare._cell((0.95, 0.95, 0.95), compare._acc, n=1) == '0.950'


def test_recipe_text_names_the_initializer_only_when_not_the_books():
    row = dict(recipe='cpu', optimizer='adam', lr=0.001,
               lr_schedule='cosine', batch_size=32, resize=67,
               num_epochs=6, init='xavier')
    assert compare.recipe_text(row) == \
        'cpu: adam lr 0.001 cosine, batch 32, 67x67, 6 epochs'
    row.update(init='centered', recipe='', lr_schedule='constant',
               num_epochs=1)
    assert compare.recipe_text(row) == \
        'adam lr 0.001, batch 32, 67x67, centered init, 1 epoch'
    row.update(centralize=True)  # gradient centralization, when on
    assert compare.recipe_text(row) == \
        'adam lr 0.001, batch 32, 67x67, centered init, centralized, 1 epoch'
