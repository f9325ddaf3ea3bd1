"""Issue 13: no data lost, no folder stuck, no recipe silently changed.

One test (or a few) per numbered defect of the issue, on tiny synthetic
runs (64 examples, one or two epochs: well under a second of training),
and a property test that throws random mixes of bad arguments, bad
environment values and damaged run folders at the commands.
"""
import contextlib
import hashlib
import io
import json
import os
import pickle
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from unittest import mock

import mxnet as mx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mxnet import gluon

import d2l_cnn
from conftest import subprocess_env
from d2l_cnn import (checkpoint, cli, cost, data, export, launch, predict,
                     rundir, train)
from d2l_cnn.errors import D2LError, UsageError
from d2l_cnn.settings import make_settings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ['--data', 'synthetic', '--num-examples', '64', '--batch-size',
        '32', '--resize', '28', '--seed', '3']


def snapshot(folder):
    """Every file under ``folder`` with a hash of its bytes."""
    found = {}
    for dirpath, _, files in os.walk(str(folder)):
        for name in files:
            path = os.path.join(dirpath, name)
            with open(path, 'rb') as f:
                found[os.path.relpath(path, str(folder))] = hashlib.sha1(
                    f.read()).hexdigest()
    return found


def one_error(err):
    """The single ``error:`` line of ``err`` (and no traceback)."""
    assert 'Traceback' not in err, err
    errors = [line for line in err.splitlines() if line.startswith('error')]
    assert len(errors) == 1, err
    return errors[0]


def train_main(capsys, *argv):
    status = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def tiny_run(out, epochs=1, model='batchnorm', *extra):
    status = cli.main([model, *TINY, '--num-epochs', str(epochs), '--out',
                       str(out), *extra])
    assert status == 0
    return out


@pytest.fixture(scope='module')
def finished(tmp_path_factory):
    """A finished 2-epoch synthetic run of LeNet-BN (do not modify)."""
    out = tmp_path_factory.mktemp('finished') / 'run'
    with contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        tiny_run(out, 2)
    return out


def copy_run(src, dst):
    shutil.copytree(str(src), str(dst))
    return dst


# ---------------------------------------------- 1. files never deleted

def test_1_foreign_data_files_are_never_touched(tmp_path, capsys,
                                                monkeypatch):
    # a Fashion-MNIST-like folder given as --root of --data mnist,
    # offline: the files (unknown SHA-1s) stay as they are
    monkeypatch.setenv('MXNET_GLUON_REPO', 'http://127.0.0.1:9/')
    root = tmp_path / 'fashion'
    root.mkdir()
    for name in ('train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz',
                 't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'):
        (root / name).write_bytes(b'not the MNIST file ' + name.encode())
    before = snapshot(root)
    status, _, err = train_main(capsys, 'lenet', '--data', 'mnist',
                                '--root', root, '--out', tmp_path / 'o')
    assert status == 1
    one_error(err)
    assert snapshot(root) == before


# --------------------------------------------- 2. two runs, one folder

def test_2_a_folder_in_use_is_refused(tmp_path, capsys):
    out = tmp_path / 'run'
    out.mkdir()
    holder = subprocess.Popen(
        [sys.executable, '-c', 'import sys, time; from d2l_cnn import rundir; '
         'lock = rundir.RunLock(sys.argv[1]).__enter__(); print("held", '
         'flush=True); time.sleep(60)', str(out)],
        stdout=subprocess.PIPE, text=True, env=subprocess_env())
    try:
        assert holder.stdout.readline().strip() == 'held'
        status, _, err = train_main(capsys, 'lenet', *TINY, '--out', out)
        line = one_error(err)
        assert status == 1
        assert 'being written by another command' in line
        assert 'pid %d on %s' % (holder.pid, socket.gethostname()) in line
        assert os.listdir(out) == ['.lock']
    finally:
        holder.kill()
        holder.wait()
    # the holder was killed: its lock file is stale and taken over
    status, _, err = train_main(capsys, 'lenet', *TINY, '--out', out)
    assert status == 0, err
    assert 'took over the lock of pid %d' % holder.pid in err
    assert not (out / '.lock').exists()


def test_2_two_commands_at_once_one_wins(tmp_path):
    out = tmp_path / 'run'
    argv = [sys.executable, '-m', 'd2l_cnn.train', 'batchnorm', *TINY,
            '--num-epochs', '2', '--out', str(out)]
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True,
                              env=subprocess_env(OMP_NUM_THREADS='1'),
                              cwd=ROOT) for _ in range(2)]
    results = [p.communicate(timeout=120) + (p.returncode,) for p in procs]
    codes = sorted(r[2] for r in results)
    assert codes[0] == 0 and codes[1] in (1, 2), results
    loser = [r for r in results if r[2] != 0][0]
    line = one_error(loser[1])
    assert 'being written by another' in line or 'already holds' in line
    winner = [r for r in results if r[2] == 0][0]
    run = json.loads((out / 'run.json').read_text())
    history = json.loads((out / 'metrics.json').read_text())
    assert run['final'] == history[-1] and len(history) == 2
    assert 'test acc %.3f' % run['final']['test_acc'] in winner[0]


# -------------------------------------- 3. a folder is never stuck

@pytest.mark.parametrize('name', ['plain', 'a b $x'])
def test_3_ctrl_c_in_the_first_checkpoint(tmp_path, capsys, monkeypatch,
                                          name):
    out = tmp_path / name
    real = checkpoint.atomic_write

    def interrupted(path, data):
        if path.endswith('meta.json'):
            raise KeyboardInterrupt
        return real(path, data)
    monkeypatch.setattr(checkpoint, 'atomic_write', interrupted)
    argv = ['batchnorm', *TINY, '--num-epochs', '1', '--out', str(out)]
    status, _, err = train_main(capsys, *argv)
    monkeypatch.setattr(checkpoint, 'atomic_write', real)
    line = one_error(err)
    assert status == 130
    assert 'no epoch had finished' in line
    command = line.split('continue with: ', 1)[1]
    words = shlex.split(command)
    assert words[:3] == ['python', '-m', 'd2l_cnn.train']
    assert '--resume' not in words and str(out) in words
    assert rundir.folder_state(str(out)) == 'new'
    # --resume says there is nothing to resume; the printed command runs
    status, _, err = train_main(capsys, *argv, '--resume')
    assert status == 2 and 'no checkpoint' in one_error(err)
    status, _, err = train_main(capsys, *words[3:])
    assert status == 0, err
    assert rundir.folder_state(str(out)) == 'finished'


def test_3_continue_command_is_quoted_and_resumes_when_saved():
    cmd = cli.continue_command(['lenet', '--out', 'a b'], 'a b', True)
    assert shlex.split(cmd) == ['python', '-m', 'd2l_cnn.train', 'lenet',
                                '--out', 'a b', '--resume']
    cmd = cli.continue_command(['lenet', '--resume'], 'runs/lenet', False)
    assert shlex.split(cmd)[3:] == ['lenet', '--out', 'runs/lenet']


# ------------------------------ 4. --resume keeps the recipe it started

CHANGES = [('--data', 'mnist5k'), ('--batch-size', '16'), ('--lr', '0.5'),
           ('--optimizer', 'adam'), ('--seed', '4'),
           ('--num-examples', '48'), ('--num-epochs', '3')]


@pytest.mark.parametrize('flag, value', CHANGES,
                         ids=[c[0] for c in CHANGES])
def test_4_resume_refuses_other_settings(finished, tmp_path, capsys, flag,
                                         value):
    out = copy_run(finished, tmp_path / 'run')
    before = snapshot(out)
    argv = ['batchnorm', *TINY, '--num-epochs', '2', '--out', str(out),
            '--resume']
    i = argv.index(flag) if flag in argv else None
    if i is None:
        argv += [flag, value]
    else:
        argv[i + 1] = value
    status, _, err = train_main(capsys, *argv)
    line = one_error(err)
    assert status == 2
    assert 'other settings' in line and '--allow-changes' in line
    assert flag[2:].replace('-', '_') in line
    assert snapshot(out) == before


def test_4_allow_changes_is_recorded_per_epoch(finished, tmp_path, capsys):
    out = copy_run(finished, tmp_path / 'run')
    status, _, err = train_main(capsys, 'batchnorm', *TINY, '--num-epochs',
                                '3', '--lr', '0.5', '--out', out,
                                '--resume', '--allow-changes')
    assert status == 0, err
    assert 'changed settings' in err
    run = json.loads((out / 'run.json').read_text())
    first, second = run['settings_per_epoch']
    assert first['epochs'] == [1, 2] and second['epochs'] == [3, 3]
    lr = d2l_cnn.get_recipe('batchnorm', 'cpu').lr  # the run's first lr
    assert first['settings']['lr'] == lr and second['settings']['lr'] == 0.5
    assert second['changed']['lr'] == [lr, 0.5]
    assert second['changed']['num_epochs'] == [2, 3]


def test_4_missing_trainer_states_is_refused(tmp_path, capsys):
    out = tiny_run(tmp_path / 'run', 1, 'lenet', '--optimizer', 'momentum')
    os.remove(os.path.join(checkpoint.latest(str(out)), 'trainer.states'))
    before = snapshot(out)
    argv = ['lenet', *TINY, '--num-epochs', '2', '--optimizer', 'momentum',
            '--out', out, '--resume']
    status, _, err = train_main(capsys, *argv)
    assert status == 1 and 'trainer.states' in one_error(err)
    assert snapshot(out) == before
    status, _, err = train_main(capsys, *argv[:-1], '--resume',
                                '--allow-changes', '--num-epochs', '1')
    assert status == 0, err
    assert 'momentum restarts' in err


# --------------------------- 5. a damaged newest checkpoint is skipped

DAMAGE = {
    'truncated params': ('model.params', b'\x12\x01'),
    'meta of wrong types': ('meta.json', json.dumps(
        {'epoch': '2', 'history': 'x', 'model': 'batchnorm'}).encode()),
    'meta not json': ('meta.json', b'{"epoch": 2, '),
}


@pytest.mark.parametrize('damage', sorted(DAMAGE))
def test_5_resume_falls_back_to_an_older_checkpoint(finished, tmp_path,
                                                    capsys, damage):
    out = copy_run(finished, tmp_path / 'run')
    expected = (out / 'model.params').read_bytes()
    newest = checkpoint.latest(str(out))
    assert newest.endswith('epoch-0002')
    name, content = DAMAGE[damage]
    with open(os.path.join(newest, name), 'wb') as f:
        f.write(content)
    os.remove(out / 'run.json')  # as if killed before the end
    status, stdout, err = train_main(capsys, 'batchnorm', *TINY,
                                     '--num-epochs', '2', '--out', out,
                                     '--resume')
    assert status == 0, err
    assert 'skipped' in err and 'Traceback' not in err
    assert 'resuming from epoch 1' in stdout
    # the same parameters as the run that was never damaged
    assert (out / 'model.params').read_bytes() == expected


def test_5_no_loadable_checkpoint_is_one_line(finished, tmp_path, capsys):
    out = copy_run(finished, tmp_path / 'run')
    for folder in checkpoint.candidates(str(out)):
        with open(os.path.join(folder, 'model.params'), 'wb') as f:
            f.write(b'junk')
    before = snapshot(out)
    status, _, err = train_main(capsys, 'batchnorm', *TINY, '--num-epochs',
                                '2', '--out', out, '--resume')
    assert status == 1
    assert 'can be loaded' in one_error(err)
    assert snapshot(out) == before


# -------------------------------------- 6. preconditions come first

def test_6_export_onnx_without_onnx_fails_before_training(tmp_path, capsys,
                                                          monkeypatch):
    monkeypatch.setitem(sys.modules, 'onnx', None)  # import onnx fails
    out = tmp_path / 'run'
    status, stdout, err = train_main(capsys, 'lenet', *TINY, '--out', out,
                                     '--export', 'onnx')
    assert status == 1 and 'onnx' in one_error(err)
    assert 'training on' not in stdout
    assert not out.exists()


def test_6_run_json_is_written_when_the_export_fails(tmp_path, capsys,
                                                     monkeypatch):
    def fail(*args, **kwargs):
        raise D2LError('the export failed')
    monkeypatch.setattr(cli, 'export_run', fail)
    out = tmp_path / 'run'
    status, _, err = train_main(capsys, 'lenet', *TINY, '--out', out,
                                '--export')
    assert status == 1 and 'the export failed' in one_error(err)
    assert rundir.folder_state(str(out)) == 'finished'
    rundir.load_run(str(out))


# ------------------------------------ 7. predict rebuilds the run's data

def test_7_predict_uses_the_seed_of_the_run(finished, capsys):
    res = predict.predict(str(finished), num=0, verbose=False)
    run = json.loads((finished / 'run.json').read_text())
    assert run['seed'] == 3
    _, test3 = data.load_data('synthetic', 32, seed=3)
    _, test0 = data.load_data('synthetic', 32, seed=0)
    assert not np.array_equal(test3.labels, test0.labels)
    assert np.array_equal(res.labels, test3.labels)
    assert res.accuracy == pytest.approx(run['final']['test_acc'])


# ------------------------------------ 9. devices

def test_9_a_batch_smaller_than_the_devices(capsys):
    ctx = [mx.cpu(0), mx.cpu(1)]
    X = np.random.RandomState(0).randint(0, 255, (33, 1, 28, 28))
    it = data.ArrayDataIter(X.astype(np.uint8), np.arange(33) % 10, 32,
                            shuffle=True)
    net = d2l_cnn.get_model('lenet')
    net.initialize(ctx=ctx)
    trainer = gluon.Trainer(net.collect_params(), 'sgd',
                            {'learning_rate': 0.1})
    history = train.train_ch5(net, it, it, 32, trainer, ctx, 1,
                              verbose=False)  # last batch: one example
    assert history[0]['epoch'] == 1
    one = data.ArrayDataIter(X[:1].astype(np.uint8), np.zeros(1), 4)
    assert train.evaluate_accuracy(one, net, ctx) in (0.0, 1.0)


def test_9_device_numbers_checked_before_allocating(capsys):
    start = time.time()
    with pytest.raises(UsageError, match='numbered 0 to'):
        train.parse_ctx('cpu:100000000')
    status = cli.main(['lenet', *TINY, '--ctx', 'cpu:100000000'])
    assert status == 2
    assert 'CPU devices are numbered' in one_error(capsys.readouterr().err)
    assert time.time() - start < 5
    assert len(train.parse_ctx('cpu:0,1')) == 2  # always allowed


# ----------------------------------------- 10. no traceback leaks

def test_10_seed_too_large(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(['lenet', *TINY, '--seed', str(2 ** 32)])
    assert e.value.code == 2
    assert 'at most 4294967295' in one_error(capsys.readouterr().err)
    with pytest.raises(UsageError, match='seed'):
        make_settings('lenet', seed=2 ** 32)


@pytest.mark.parametrize('value', ['abc', '', '-2'])
def test_10_bad_omp_num_threads(value):
    r = subprocess.run([sys.executable, '-c', 'import d2l_cnn, os; '
                        'd2l_cnn.get_model("lenet"); print(os.environ['
                        '"OMP_NUM_THREADS"])'], capture_output=True,
                       text=True, env=subprocess_env(OMP_NUM_THREADS=value),
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert int(r.stdout) >= 1
    assert 'is not a positive whole number' in r.stderr


def test_10_hand_edited_run_json(finished, tmp_path, capsys):
    for key, value in (('resize', '28'), ('num_classes', 2.5),
                       ('model', ['lenet']), ('seed', -1)):
        out = copy_run(finished, tmp_path / key)
        run = json.loads((out / 'run.json').read_text())
        run[key] = value
        (out / 'run.json').write_text(json.dumps(run))
        assert predict.main(['--out', str(out), '--num', '0']) == 1
        assert key in one_error(capsys.readouterr().err)
        assert export.main(['--out', str(out)]) == 1
        one_error(capsys.readouterr().err)


def test_10_export_to_an_unwritable_prefix(finished, tmp_path, capsys):
    out = copy_run(finished, tmp_path / 'run')
    before = snapshot(out)
    for prefix, status in (('/proc/x', 2), ('model.params/x', 1),
                           ('..', 2)):
        assert export.main(['--out', str(out), '--prefix', prefix]) \
            == status, prefix
        one_error(capsys.readouterr().err)
    assert snapshot(out) == before


def test_10_interrupted_export_leaves_no_partial_file(finished, tmp_path,
                                                      capsys, monkeypatch):
    out = copy_run(finished, tmp_path / 'run')
    before = snapshot(out)
    real = gluon.HybridBlock.export

    def export_then_interrupt(self, path, epoch=0, **kwargs):
        real(self, path, epoch, **kwargs)
        raise KeyboardInterrupt
    monkeypatch.setattr(gluon.HybridBlock, 'export', export_then_interrupt)
    assert export.main(['--out', str(out)]) == 130
    assert one_error(capsys.readouterr().err) == 'error: interrupted'
    assert snapshot(out) == before


def test_10_predict_png_of_an_unknown_kind(finished, tmp_path, capsys):
    out = copy_run(finished, tmp_path / 'run')
    before = snapshot(out)
    assert predict.main(['--out', str(out), '--png',
                         str(tmp_path / 'x.xyz')]) == 2
    assert '.png' in one_error(capsys.readouterr().err)
    assert snapshot(out) == before and not (tmp_path / 'x.xyz').exists()


def _loaded(pid, library):
    try:
        with open('/proc/%d/maps' % pid) as f:
            return library in f.read()
    except OSError:
        return False


def test_10_ctrl_c_while_importing(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, '-m', 'd2l_cnn.train', 'lenet', *TINY, '--out',
         str(tmp_path / 'run')], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env=subprocess_env(), cwd=ROOT,
        # as from a terminal, even when pytest itself runs in the
        # background of a shell, which starts it with Ctrl-C ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 60
    while not _loaded(proc.pid, 'libmxnet') and time.time() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert one_error(err).startswith('error: interrupted')


def test_10_cost_resize_and_usage_errors(capsys):
    for argv in (['lenet', '--resize', '100000'], ['lenet', '--resize',
                                                   'x'], []):
        with pytest.raises(SystemExit) as e:
            cost.main(argv)
        assert e.value.code == 2
        one_error(capsys.readouterr().err)


def test_10_non_ascii_out_in_a_c_locale(tmp_path):
    argv = [sys.executable, '-m', 'd2l_cnn.train', 'lenet', *TINY]
    r = subprocess.run(argv + ['--out', str(tmp_path / 'ünï cödé')],
                       capture_output=True, text=True, cwd=ROOT,
                       env=subprocess_env(LC_ALL='C'), timeout=120)
    assert r.returncode == 0, r.stderr
    # without Python's UTF-8 mode: one line before any work
    r = subprocess.run(argv + ['--out', str(tmp_path / 'ünï 2')],
                       capture_output=True, cwd=ROOT, timeout=120,
                       env=subprocess_env(LC_ALL='C', PYTHONUTF8='0'))
    err = r.stderr.decode('utf-8', 'replace')
    assert r.returncode == 2, err
    assert 'UTF-8 locale' in one_error(err)


def test_10_launch_on_a_taken_port(capsys):
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        s.listen()
        port = s.getsockname()[1]
        assert launch.main(['-n', '1', '--port', str(port), '--',
                            'true']) == 2
    assert 'is taken' in one_error(capsys.readouterr().err)


# ---------------------------------------------------------- 11. API

@pytest.mark.parametrize('num_classes', [0, -3, 2.5, True, '10'])
def test_11_get_model_bad_num_classes(num_classes):
    with pytest.raises(UsageError, match='num_classes must be a positive'):
        d2l_cnn.get_model('nin', num_classes=num_classes)
    assert d2l_cnn.get_model('nin', num_classes=np.int64(3)) is not None


# ------------------------------------------------------ property test

def _damage(out, kind):
    """Damage a finished run folder the way a user or a crash might."""
    newest = checkpoint.latest(out)
    if kind == 'truncate newest params':
        with open(os.path.join(newest, 'model.params'), 'r+b') as f:
            f.truncate(10)
    elif kind == 'no trainer.states':
        os.remove(os.path.join(newest, 'trainer.states'))
    elif kind == 'meta wrong types':
        with open(os.path.join(newest, 'meta.json'), 'w') as f:
            json.dump({'epoch': [2], 'history': {}}, f)
    elif kind == 'run.json wrong types':
        with open(os.path.join(out, 'run.json'), 'w') as f:
            json.dump({'model': 'batchnorm', 'resize': 'big'}, f)
    elif kind == 'run.json not json':
        with open(os.path.join(out, 'run.json'), 'w') as f:
            f.write('{"model": ')
    elif kind == 'no run.json':
        os.remove(os.path.join(out, 'run.json'))
    elif kind == 'no model.params':
        os.remove(os.path.join(out, 'model.params'))
    elif kind == 'stale lock':
        with open(os.path.join(out, rundir.LOCK), 'w') as f:
            f.write('999999999 elsewhere\n')
    elif kind in ('symlinked lock', 'symlinked metrics.csv'):
        name = rundir.LOCK if 'lock' in kind else 'metrics.csv'
        if os.path.lexists(os.path.join(out, name)):
            os.remove(os.path.join(out, name))
        os.symlink(_victim(out), os.path.join(out, name))
    elif kind in ('hardlinked lock', 'hardlinked model.params'):
        name = rundir.LOCK if 'lock' in kind else 'model.params'
        if os.path.lexists(os.path.join(out, name)):
            os.remove(os.path.join(out, name))
        os.link(_victim(out), os.path.join(out, name))
    elif kind == 'symlinked checkpoints':
        moved = os.path.join(os.path.dirname(out), 'elsewhere')
        os.rename(os.path.join(out, checkpoint.FOLDER), moved)
        os.mkdir(os.path.join(moved, '.tmp-keep'))
        os.symlink(moved, os.path.join(out, checkpoint.FOLDER))
    elif kind in ('nested run.json', 'nested meta.json'):
        path = (os.path.join(out, 'run.json') if 'run' in kind
                else os.path.join(newest, 'meta.json'))
        with open(path, 'w') as f:
            f.write('[' * 50000 + ']' * 50000)
    elif kind == 'planted trainer.states':
        os.remove(os.path.join(newest, 'trainer.json'))
        with open(os.path.join(newest, 'trainer.states'), 'wb') as f:
            pickle.dump(_Planted(os.path.join(os.path.dirname(out),
                                              'pwned')), f)
    elif kind == 'empty checkpoints':
        shutil.rmtree(os.path.join(out, checkpoint.FOLDER))
        os.mkdir(os.path.join(out, checkpoint.FOLDER))
        for name in os.listdir(out):
            if os.path.isfile(os.path.join(out, name)):
                os.remove(os.path.join(out, name))


class _Planted:
    """Unpickles to ``open(path, 'w')``: code run from a run folder."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, 'w'))


VICTIM = b'a file of the user, outside the run folder\n'


def _victim(out):
    path = os.path.join(os.path.dirname(out), 'victim.txt')
    with open(path, 'wb') as f:
        f.write(VICTIM)
    return path


DAMAGES = ['none', 'truncate newest params', 'no trainer.states',
           'meta wrong types', 'run.json wrong types', 'run.json not json',
           'no run.json', 'no model.params', 'stale lock',
           'empty checkpoints', 'symlinked lock', 'hardlinked lock',
           'symlinked metrics.csv', 'hardlinked model.params',
           'symlinked checkpoints', 'nested run.json', 'nested meta.json',
           'planted trainer.states']
BAD_TRAIN = [[], ['--seed', str(2 ** 32)], ['--lr', '-1'], ['--lr', 'nan'],
             ['--ctx', 'cpu:100000000'], ['--ctx', 'cpu:0,1'],
             ['--resize', '5'], ['--batch-size', '0'],
             ['--num-examples', '0'], ['--num-examples', '100000'],
             ['--lr-steps', 'x'], ['--lr', '0.5'], ['--kvstore', 'local'],
             ['--warmup-epochs', '9'], ['--init', 'nosuch'],
             ['--allow-changes'], ['--export', 'symbol'], ['--bogus'],
             ['--see', '7'], ['--ou', 'elsewhere'], ['--num-epoch', '1']]
BAD_OTHER = [[], ['--num', '-1'], ['--png', 'x.xyz'], ['--batch-size', '0'],
             ['--prefix', '/proc/x'], ['--ctx', 'gpu:3'], ['--data',
                                                           'nosuch'],
             ['--prefix', '../../escaped'], ['--pre', 'x']]
ENVIRONMENT = [{}, {'MXNET_GLUON_REPO': 'http://127.0.0.1:9/'},
               {'D2L_CNN_VERIFY': 'abc'}, {'MXNET_HOME': '/proc/none'}]
# files each command may change (relative to the run folder)
MAY_CHANGE = {
    'resume': lambda name: True,
    'predict': lambda name: name == 'predictions.png',
    'export': lambda name: name.startswith('model-') or name.startswith(
        'model.onnx'),
}


def _run(command, out, extra):
    """Run one command in-process: (status, stdout, stderr)."""
    if command in ('train', 'resume'):
        argv = ['batchnorm', *TINY, '--num-epochs', '2', '--out', out]
        argv += ['--resume'] if command == 'resume' else []
        main = cli.main
    elif command == 'predict':
        argv, main = ['--out', out, '--num', '2'], predict.main
    elif command == 'export':
        argv, main = ['--out', out], export.main
    else:
        argv, main = ['batchnorm', '--resize', '28'], cost.main
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), \
            contextlib.redirect_stderr(stderr):
        try:
            status = main(argv + list(extra))
        except SystemExit as e:  # argparse
            status = e.code
    return status, stdout.getvalue(), stderr.getvalue()


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(damage=st.sampled_from(DAMAGES),
       command=st.sampled_from(['train', 'resume', 'predict', 'export',
                                'cost']),
       extra=st.lists(st.one_of(st.sampled_from(BAD_TRAIN),
                                st.sampled_from(BAD_OTHER)),
                      max_size=2).map(lambda xs: sum(xs, [])),
       environment=st.sampled_from(ENVIRONMENT))
def test_property_one_line_or_success_and_nothing_lost(
        finished, tmp_path_factory, damage, command, extra, environment):
    out = str(copy_run(finished, tmp_path_factory.mktemp('p') / 'run'))
    _damage(out, damage)
    before = snapshot(out)
    with mock.patch.dict(os.environ, environment):
        status, stdout, err = _run(command, out, extra)
    assert status in (0, 1, 2), (status, err)
    assert 'Traceback' not in err + stdout
    assert 'internal error' not in err, err
    errors = [line for line in err.splitlines() if line.startswith('error')]
    if status:
        assert len(errors) == 1 and err.splitlines()[-1] == errors[0], err
    else:
        assert not errors, err
    parent = os.path.dirname(out)
    assert not os.path.exists(os.path.join(parent, 'pwned'))
    assert not os.path.exists(os.path.join(parent, 'escaped-symbol.json'))
    if os.path.exists(os.path.join(parent, 'victim.txt')):
        with open(os.path.join(parent, 'victim.txt'), 'rb') as f:
            assert f.read() == VICTIM, (command, damage, err)
    if os.path.isdir(os.path.join(parent, 'elsewhere')):
        assert os.path.isdir(os.path.join(parent, 'elsewhere', '.tmp-keep'))
    after = snapshot(out)
    if command == 'resume':
        # once training began, resuming may rewrite the run's files
        began = 'training on' in stdout
        allowed = MAY_CHANGE['resume'] if began else (lambda name: False)
    elif status:
        allowed = (lambda name: False)
    else:
        allowed = MAY_CHANGE.get(command, lambda name: False)
    for name, digest in before.items():
        if name == rundir.LOCK and command != 'cost':
            continue  # a stale lock is taken over and released
        if not allowed(name):
            assert after.get(name) == digest, (name, command, damage, err)
