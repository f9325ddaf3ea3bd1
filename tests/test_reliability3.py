"""Issue 26 (round three): a run folder we did not write can neither run
code nor destroy files; no command hangs without an end.

One test (or a few) per numbered item of the issue, on tiny synthetic
runs. Subprocesses import ``d2l_cnn`` from wherever this process did.
"""
import contextlib
import io
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
from mxnet import nd

import d2l_cnn
from d2l_cnn import checkpoint, cli, fit, rundir, settings

HERE = os.path.dirname(os.path.dirname(os.path.abspath(d2l_cnn.__file__)))
TINY = ['--data', 'synthetic', '--num-examples', '64', '--batch-size',
        '32', '--resize', '28', '--seed', '3']


def env(**extra):
    """The environment of a child that imports this ``d2l_cnn``."""
    e = dict(os.environ, **extra)
    e['PYTHONPATH'] = HERE
    e.setdefault('OMP_NUM_THREADS', '1')
    return e


def one_error(err):
    """The single ``error:`` line of ``err`` (and no traceback)."""
    assert 'Traceback' not in err, err
    errors = [line for line in err.splitlines() if line.startswith('error')]
    assert len(errors) == 1, err
    return errors[0]


def train(capsys, *argv):
    status = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def tiny(out, epochs=1, *extra, model='batchnorm'):
    with contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()) as err:
        status = cli.main([model, *TINY, '--num-epochs', str(epochs),
                           '--out', str(out), *map(str, extra)])
    assert status == 0, err.getvalue()
    return out


@pytest.fixture(scope='module')
def finished(tmp_path_factory):
    """A finished 2-epoch run with momentum (do not modify)."""
    out = tmp_path_factory.mktemp('finished') / 'run'
    return tiny(out, 2, '--optimizer', 'momentum')


def copy(src, dst):
    shutil.copytree(str(src), str(dst), symlinks=True)
    return dst


def params(path):
    return {k: v.asnumpy() for k, v in nd.load(str(path)).items()}


# ------------------------------------- 1. no code runs on --resume

class _Planted:
    """Pickles to a call of ``os.system``: what an attacker plants."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def test_1_states_are_saved_as_data(finished):
    folder = checkpoint.latest(str(finished))
    with open(os.path.join(folder, 'trainer.states'), 'rb') as f:
        head = f.read(2)
    assert head != b'\x80\x04'  # not a pickle
    layout = json.loads(open(os.path.join(folder, 'trainer.json')).read())
    assert layout['num_update'] == 4  # 2 epochs of 2 batches


def test_1_a_planted_pickle_never_runs(finished, tmp_path, capsys):
    out = copy(finished, tmp_path / 'run')
    mark = tmp_path / 'pwned'
    for folder in checkpoint.candidates(str(out)):
        layout = os.path.join(folder, 'trainer.json')
        if os.path.exists(layout):
            os.remove(layout)
        with open(os.path.join(folder, 'trainer.states'), 'wb') as f:
            pickle.dump(({0: _Planted('touch %s' % mark)}, None), f)
    status, _, err = train(capsys, 'batchnorm', *TINY, '--num-epochs', '3',
                           '--optimizer', 'momentum', '--out', out,
                           '--resume')
    assert not mark.exists()
    assert status == 1
    assert 'posix.system' in one_error(err)


def test_1_old_pickled_states_still_resume_bit_identical(tmp_path,
                                                         capsys):
    # a checkpoint of MXNet's own format (before this fix): plain data
    reference = tiny(tmp_path / 'ref', 3, '--optimizer', 'momentum')
    out = copy(reference, tmp_path / 'run')
    shutil.rmtree(os.path.join(checkpoint.latest(str(out))))
    os.remove(out / 'run.json')
    folder = checkpoint.latest(str(out))
    s = settings.make_settings('batchnorm', 'auto', num_examples=64,
                               batch_size=32, resize=28, seed=3,
                               num_epochs=3, optimizer='momentum',
                               data='synthetic')
    net = d2l_cnn.get_model('batchnorm')
    net.initialize(s.initializer)
    net(nd.zeros((1, 1, 28, 28)))
    trainer = s.make_trainer(net)
    checkpoint.load(folder, net, trainer, {})
    trainer.save_states(os.path.join(folder, 'trainer.states'))  # pickle
    if os.path.exists(os.path.join(folder, 'trainer.json')):
        os.remove(os.path.join(folder, 'trainer.json'))
    status, _, err = train(capsys, 'batchnorm', *TINY, '--num-epochs', '3',
                           '--optimizer', 'momentum', '--out', out,
                           '--resume')
    assert status == 0, err
    got, want = (params(p / 'model.params') for p in (out, reference))
    assert all(np.array_equal(got[k], want[k]) for k in want)


# ------------------------------- 2. a linked .lock is never followed

def _victim(tmp_path):
    victim = tmp_path / 'victim.txt'
    victim.write_text('precious\n')
    return victim


@pytest.mark.parametrize('link', ['symlink', 'hardlink'])
@pytest.mark.parametrize('command', ['train', 'predict', 'export'])
def test_2_a_linked_lock_is_refused_and_its_target_kept(
        finished, tmp_path, capsys, link, command):
    from d2l_cnn import export, predict
    victim = _victim(tmp_path)
    if command == 'train':
        out = tmp_path / 'lk'
        out.mkdir()
    else:
        out = copy(finished, tmp_path / 'lk')
    (os.symlink if link == 'symlink' else os.link)(str(victim),
                                                   str(out / rundir.LOCK))
    main, argv = {
        'train': (cli.main, ['lenet', *TINY, '--out', str(out)]),
        'predict': (predict.main, ['--out', str(out), '--num', '2']),
        'export': (export.main, ['--out', str(out)])}[command]
    status = main(argv)
    err = capsys.readouterr().err
    assert victim.read_text() == 'precious\n'
    assert status == 1
    assert 'not a lock file of ours' in one_error(err)


# ---------------------------- 12. a stale lock is rewritten cleanly

def test_12_taking_over_a_stale_lock_leaves_no_nul_bytes(tmp_path):
    import socket
    out = tmp_path / 'run'
    out.mkdir()
    (out / rundir.LOCK).write_text('999999999 a-much-longer-host-name'
                                   '.example.org\n')
    with contextlib.redirect_stderr(io.StringIO()) as err:
        with rundir.RunLock(str(out)):
            text = (out / rundir.LOCK).read_bytes()
    assert 'took over the lock of pid 999999999' in err.getvalue()
    assert text == ('%d %s\n' % (os.getpid(), socket.gethostname())
                    ).encode()


# ------------------------------ 3. a user's own folder is not a run

def test_3_out_with_a_users_files_is_refused_unless_force(tmp_path,
                                                          capsys):
    proj = tmp_path / 'proj'
    proj.mkdir()
    (proj / 'model.params').write_text('mine\n')
    (proj / 'metrics.csv').write_text('a,b\n')
    status, _, err = train(capsys, 'batchnorm', *TINY, '--out', proj)
    line = one_error(err)
    assert status == 2
    assert 'metrics.csv, model.params' in line and '--force' in line
    assert (proj / 'model.params').read_text() == 'mine\n'
    assert (proj / 'metrics.csv').read_text() == 'a,b\n'
    status, _, err = train(capsys, 'batchnorm', *TINY, '--out', proj,
                           '--force')
    assert status == 0, err
    assert (proj / 'run.json').exists()


def test_3_a_run_stopped_before_its_first_epoch_is_not_foreign(tmp_path):
    out = tmp_path / 'run'
    (out / checkpoint.FOLDER / '.tmp-abc').mkdir(parents=True)
    (out / rundir.LOCK).write_text('')
    assert rundir.foreign_files(str(out)) == []


# --------------------- 9. a symlinked checkpoints/ is never cleaned

@pytest.mark.parametrize('resume', [False, True])
def test_9_a_symlinked_checkpoints_folder_is_refused(finished, tmp_path,
                                                     capsys, resume):
    elsewhere = tmp_path / 'elsewhere'
    (elsewhere / '.tmp-keep').mkdir(parents=True)
    (elsewhere / '.tmp-keep' / 'thesis.tex').write_text('mine')
    (elsewhere / '.tmp-file').write_text('mine')
    out = tmp_path / 'run'
    if resume:
        copy(finished, out)
        shutil.copytree(str(out / checkpoint.FOLDER), str(elsewhere),
                        dirs_exist_ok=True)
        shutil.rmtree(str(out / checkpoint.FOLDER))
        os.remove(out / 'run.json')
    else:
        out.mkdir()
    os.symlink(str(elsewhere), str(out / checkpoint.FOLDER))
    extra = ['--resume', '--num-epochs', '2', '--optimizer', 'momentum'
             ] if resume else ['--force']
    status, _, err = train(capsys, 'batchnorm', *TINY, '--out', out, *extra)
    assert status == 1
    assert 'symbolic link' in one_error(err)
    assert (elsewhere / '.tmp-keep' / 'thesis.tex').read_text() == 'mine'
    assert (elsewhere / '.tmp-file').read_text() == 'mine'


# ------------------- 10. resuming a finished run rewrites nothing

def test_10_resume_of_a_finished_run_keeps_its_files(finished, tmp_path,
                                                     capsys):
    out = copy(finished, tmp_path / 'run')
    before = {p: (out / p).read_bytes() for p in ('run.json', 'model.params',
                                                  'metrics.json')}
    status, stdout, err = train(capsys, 'batchnorm', *TINY, '--num-epochs',
                                '2', '--optimizer', 'momentum', '--out',
                                out, '--resume')
    assert status == 0, err
    assert 'nothing to resume' in stdout
    assert {p: (out / p).read_bytes() for p in before} == before


# ------------------------- 11. a deleted run folder is not recreated

def test_11_a_run_folder_deleted_mid_run_is_not_recreated(tmp_path, capsys,
                                                          monkeypatch):
    out = tmp_path / 'run'
    write_metrics = fit.write_metrics

    def then_delete(folder, history):
        write_metrics(folder, history)
        shutil.rmtree(folder)  # a user's rm -rf after epoch 1
    monkeypatch.setattr(fit, 'write_metrics', then_delete)
    status, _, err = train(capsys, 'batchnorm', *TINY, '--num-epochs', '2',
                           '--out', out)
    assert status == 1
    assert 'removed while this run' in one_error(err)
    assert not out.exists()


# ------------------------------- 13. no option by a prefix of its name

def _compare(capsys, tmp_path, *argv):
    from d2l_cnn import compare
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            status = compare.main(['batchnorm', '--data', 'synthetic',
                                   '--seeds', '0', '--out',
                                   str(tmp_path / 'cmp'), *argv])
        except SystemExit as e:
            status = e.code
    return status, capsys.readouterr().err


@pytest.mark.parametrize('option', ['--see 7', '--ou elsewhere',
                                    '--se=7', '--res'])
def test_13_compare_train_args_refuse_prefixes_of_its_own(
        tmp_path, capsys, option):
    status, err = _compare(
        capsys, tmp_path, '--train-args=--num-examples 64 --batch-size 32 '
        '--resize 28 --num-epochs 1 ' + option)
    assert status == 2
    assert 'set by compare itself' in one_error(err)
    assert not (tmp_path / 'elsewhere').exists()
    assert not os.path.exists(tmp_path / 'cmp' / 'batchnorm-seed0')


@pytest.mark.parametrize('argv', [['--ou', 'x'], ['--num-epoch', '1'],
                                  ['--see', '7']])
def test_13_train_takes_no_abbreviated_option(tmp_path, capsys, argv):
    with pytest.raises(SystemExit) as e:
        cli.main(['batchnorm', *TINY, '--out', str(tmp_path / 'o'), *argv])
    assert e.value.code == 2
    assert 'unrecognized arguments' in one_error(capsys.readouterr().err)
    assert not (tmp_path / 'o').exists() and not (tmp_path / 'x').exists()


# ----------------------------------------- 24. smaller defects

def test_24_compare_seeds_beyond_2_32_are_its_own_error(tmp_path, capsys):
    status, err = _compare(capsys, tmp_path, '--seeds', '4294967296')
    assert status == 2
    assert one_error(err).startswith("error: --seeds '4294967296'")


# --------------------------- 14. export writes inside the run folder

@pytest.mark.parametrize('prefix', ['../../escaped', 'a/../../escaped',
                                    'link/model'])
def test_14_export_prefix_stays_in_the_run_folder(finished, tmp_path,
                                                  capsys, prefix):
    from d2l_cnn import export
    out = copy(finished, tmp_path / 'a' / 'run')
    os.symlink(str(tmp_path), str(out / 'link'))
    status = export.main(['--out', str(out), '--prefix', prefix])
    assert status == 2
    assert '--prefix' in one_error(capsys.readouterr().err)
    assert not [p for p in tmp_path.rglob('*-symbol.json')]


# ------------------------------ 21. hand-edited files, odd options

DEEP = '[' * 100000 + ']' * 100000


@pytest.mark.parametrize('command', ['predict', 'export'])
def test_21_deeply_nested_run_json_is_one_line(finished, tmp_path, capsys,
                                               command):
    from d2l_cnn import export, predict
    out = copy(finished, tmp_path / 'run')
    (out / 'run.json').write_text(DEEP)
    main = predict.main if command == 'predict' else export.main
    status = main(['--out', str(out)])
    line = one_error(capsys.readouterr().err)
    assert status == 1 and 'internal error' not in line
    assert 'nested too deeply' in line


def _older_only(finished, tmp_path):
    """A copy of ``finished`` stopped after epoch 1 (epoch 2 unsaved)."""
    out = copy(finished, tmp_path / 'run')
    shutil.rmtree(checkpoint.latest(str(out)))
    os.remove(out / 'run.json')
    os.remove(out / 'model.params')
    return out


@pytest.mark.parametrize('damage', ['deep meta.json', 'segments types'])
def test_21_resume_over_hand_edited_meta(finished, tmp_path, capsys,
                                         damage):
    out = copy(finished, tmp_path / 'run')
    if damage == 'deep meta.json':
        # the newest is skipped with a note, the older one resumes
        with open(os.path.join(checkpoint.latest(str(out)), 'meta.json'),
                  'w') as f:
            f.write(DEEP)
        os.remove(out / 'run.json')
        note = 'unreadable'
    else:
        out = _older_only(finished, tmp_path / 'x')
        meta_path = os.path.join(checkpoint.latest(str(out)), 'meta.json')
        meta = json.loads(open(meta_path).read())
        meta['segments'] = [{'from_epoch': '1'}, 7, {'from_epoch': None}]
        with open(meta_path, 'w') as f:
            json.dump(meta, f)
        note = 'skipped 3 entries'
    status, _, err = train(capsys, 'batchnorm', *TINY, '--num-epochs', '2',
                           '--optimizer', 'momentum', '--out', out,
                           '--resume')
    assert status == 0, err
    assert note in err
    run = json.loads((out / 'run.json').read_text())
    assert run['settings_per_epoch'][-1]['epochs'][-1] == 2


def test_21_compare_over_a_damaged_metrics_json(finished, tmp_path, capsys):
    folder = copy(finished, tmp_path / 'cmp' / 'batchnorm-seed0')
    (folder / 'metrics.json').write_text('[1]')
    status, err = _compare(capsys, tmp_path)
    assert 'internal error' not in err and 'Traceback' not in err
    assert 'left out of the comparison' in err
    assert status in (0, 1)


def test_21_lr_steps_with_a_factor_above_one(tmp_path, capsys):
    status, _, err = train(capsys, 'batchnorm', *TINY, '--lr-schedule',
                           'constant', '--lr-steps', '1', '--lr-factor', '2',
                           '--out', tmp_path / 'o')
    assert status == 2
    assert '--lr-factor 2' in one_error(err)
    assert not (tmp_path / 'o').exists()


def test_24_empty_out_is_refused(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    status, _, err = train(capsys, 'batchnorm', *TINY, '--out', '')
    assert status == 2 and '--out is empty' in one_error(err)
    assert not (tmp_path / 'runs').exists()


def test_24_argument_error_after_out_leaves_no_empty_folder(tmp_path,
                                                            capsys):
    status, _, err = train(capsys, 'batchnorm', '--data', 'mnist5k',
                           '--num-examples', '1000000000', '--out',
                           tmp_path / 'o')
    assert status in (1, 2)
    one_error(err)
    assert not (tmp_path / 'o').exists()


def test_24_slow_note_does_not_suggest_the_running_recipe(
        tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(fit, 'SLOW_RUN', -1)
    status, _, err = train(capsys, 'batchnorm', '--data', 'mnist5k',
                           '--recipe', 'cpu', '--num-examples', '256',
                           '--batch-size', '32', '--num-epochs', '1',
                           '--out', tmp_path / 'o')
    assert status == 0, err
    assert 'this run will take about' in err
    assert '--recipe cpu' not in err and '--num-epochs' in err


def test_24_a_closed_stdout_pipe_does_not_stop_training(tmp_path):
    out = tmp_path / 'run'
    proc = subprocess.Popen(
        [sys.executable, '-m', 'd2l_cnn.train', 'batchnorm', *TINY,
         '--num-epochs', '3', '--out', str(out)], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, env=env(PYTHONUNBUFFERED='1'))
    proc.stdout.readline()  # head -1
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0, err
    assert 'Error' not in err
    assert len(json.loads((out / 'metrics.json').read_text())) == 3


# ----------------------------- 19, 20. MXNet's errors, said plainly

@pytest.mark.parametrize('argv', [['alexnet', '--resize', '2048',
                                   '--batch-size', '8'],
                                  ['alexnet', '--resize', '2048',
                                   '--batch-size', '1024']])
def test_19_cost_of_a_huge_input_is_one_plain_line(capsys, argv):
    from d2l_cnn import cost
    status = cost.main(argv + ['--debug'])
    err = capsys.readouterr().err
    line = [x for x in err.splitlines() if x.startswith('error')][-1]
    assert status == 1
    assert 'Traceback' not in line and 'USE_INT64' not in line
    assert 'more than 2**31 elements' in line and '--resize' in line


def test_20_dist_sync_without_the_launcher(tmp_path):
    proc = subprocess.run(
        [sys.executable, '-m', 'd2l_cnn.train', 'batchnorm', *TINY,
         '--kvstore', 'dist_sync', '--out', str(tmp_path / 'o')],
        capture_output=True, text=True, env=env(), timeout=120)
    assert proc.returncode in (1, 2)
    line = one_error(proc.stderr)
    assert 'python -m d2l_cnn.launch' in line and 'notnull' not in line


def test_20_out_of_memory_in_mxnet_has_a_hint(capsys):
    from mxnet.base import MXNetError

    from d2l_cnn.errors import run_command

    def body():
        raise MXNetError('Traceback (most recent call last):\n  File "x"\n'
                         'MXNetError: Failed to allocate CPU Memory')
    assert run_command(body) == 1
    assert 'try a smaller --batch-size' in one_error(
        capsys.readouterr().err)


# ------------------ 18. a full disk: one line, what is safe, what next

@pytest.fixture
def small_disk(tmp_path):
    """A 600 kB tmpfs (root only): room for one epoch's checkpoint."""
    mount = tmp_path / 'disk'
    mount.mkdir()
    done = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=600k',
                           'tmpfs', str(mount)], capture_output=True)
    if done.returncode:
        pytest.skip('cannot mount a tmpfs here (not root?)')
    try:
        yield mount
    finally:
        subprocess.run(['umount', str(mount)])


def _disk_full_line(err, out, name, epoch=1):
    line = one_error(err)
    assert 'no space left on the disk to write' in line and name in line
    assert 'epochs before are safe in %s' % os.path.join(
        str(out), checkpoint.FOLDER, 'epoch-%04d' % epoch) in line
    assert line.endswith('--resume')
    return line


def test_18_disk_full_during_a_checkpoint(small_disk, capsys):
    out = small_disk / 'run'
    status, _, err = train(capsys, 'batchnorm', *TINY, '--num-epochs', '3',
                           '--out', out)
    assert status == 1
    _disk_full_line(err, out, 'epoch-0002')
    assert checkpoint.read_meta(checkpoint.latest(str(out)))['epoch'] == 1


def test_18_disk_full_during_the_metrics(tmp_path, capsys, monkeypatch):
    import errno
    out = tmp_path / 'run'
    write = checkpoint._atomic_write

    def full_at_epoch_2(path, data):
        if path.endswith('metrics.csv') and b'\n2,' in (
                data if isinstance(data, bytes) else data.encode()):
            raise OSError(errno.ENOSPC, 'No space left on device')
        write(path, data)
    monkeypatch.setattr(checkpoint, '_atomic_write', full_at_epoch_2)
    status, _, err = train(capsys, 'batchnorm', *TINY, '--num-epochs', '3',
                           '--out', out)
    assert status == 1
    # the checkpoint of epoch 2 is written before its metrics
    _disk_full_line(err, out, 'metrics.csv', epoch=2)


def test_18_disk_full_during_an_export(finished, tmp_path, capsys,
                                       monkeypatch):
    from mxnet import gluon
    from mxnet.base import MXNetError

    from d2l_cnn import export
    out = copy(finished, tmp_path / 'run')

    def full(*args, **kwargs):
        raise MXNetError('Traceback (most recent call last):\n'
                         'MXNetError: FileStream.Write incomplete')
    monkeypatch.setattr(gluon.HybridBlock, 'export', full)
    status = export.main(['--out', str(out)])
    line = one_error(capsys.readouterr().err)
    assert status == 1
    assert 'no space left on the disk to write' in line
    assert 'model-0000.params' in line and 'unchanged' in line


# ------------- 6. a worker without its scheduler ends, said plainly

def _lonely_worker(tmp_path, **extra):
    """A dist_sync worker whose scheduler (a free port) never comes."""
    from d2l_cnn.launch import free_port
    roles = dict(DMLC_ROLE='worker', DMLC_PS_ROOT_URI='127.0.0.1',
                 DMLC_PS_ROOT_PORT=str(free_port()), DMLC_NUM_SERVER='1',
                 DMLC_NUM_WORKER='1', **extra)
    environ = env(**roles)
    # stdout is a pipe here: the first line must arrive while the worker
    # waits, without the caller's PYTHONUNBUFFERED (CI need not set it)
    environ.pop('PYTHONUNBUFFERED', None)
    return subprocess.Popen(
        [sys.executable, '-m', 'd2l_cnn.train', 'batchnorm', *TINY,
         '--kvstore', 'dist_sync', '--out', str(tmp_path / 'o')],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=environ)


@pytest.mark.parametrize('sig', [signal.SIGTERM, signal.SIGINT])
def test_6_a_worker_blocked_in_mxnet_ends_on_a_signal(tmp_path, sig):
    import time
    proc = _lonely_worker(tmp_path)
    try:
        assert proc.stdout.readline().startswith('run: ')
        time.sleep(1.0)  # now inside mx.kv.create, in C
        proc.send_signal(sig)
        start = time.monotonic()
        _, err = proc.communicate(timeout=15)
        took = time.monotonic() - start
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert one_error(err).startswith('error: interrupted')
    assert took < 8


def test_6_a_worker_says_it_cannot_reach_its_scheduler(tmp_path):
    proc = _lonely_worker(tmp_path, D2L_CNN_CONNECT_TIMEOUT='2')
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 1
    line = one_error(err)
    assert 'cannot reach the scheduler at 127.0.0.1:' in line
    assert 'python -m d2l_cnn.launch' in line


def test_21_a_fifo_in_a_run_folder_blocks_nothing(finished, tmp_path,
                                                  capsys):
    out = copy(finished, tmp_path / 'run')
    newest = checkpoint.latest(str(out))
    for path in (os.path.join(newest, 'model.params'),
                 os.path.join(newest, 'meta.json')):
        os.remove(path)
        os.mkfifo(path)
    os.remove(out / 'run.json')
    os.mkfifo(out / 'run.json')
    status, stdout, err = train(capsys, 'batchnorm', *TINY, '--num-epochs',
                                '2', '--optimizer', 'momentum', '--out',
                                out, '--resume')
    assert status == 0, err  # from the older checkpoint
    assert 'resuming from epoch 1' in stdout
