"""python -m d2l_cnn.train: files it writes, and every bad input."""
import contextlib
import errno
import hashlib
import importlib
import io
import json
import os
import signal
import subprocess
import sys
import time

import mxnet as mx
import pytest

import d2l_cnn
from conftest import subprocess_env
from d2l_cnn import checkpoint, cli, errors
from d2l_cnn.errors import DataError, UsageError
from d2l_cnn.registry import Recipe

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUICK = ['--data', 'mnist5k', '--num-examples', '512', '--batch-size',
         '64', '--num-epochs', '1']


def run_cli(*args, env=None, timeout=300):
    """The CLI in a fresh process, as a user runs it."""
    full = subprocess_env(**(env or {}))
    return subprocess.run([sys.executable, '-m', 'd2l_cnn.train', *args],
                          capture_output=True, text=True, env=full,
                          timeout=timeout, cwd=ROOT)


def snapshot(folder):
    """Every file under ``folder`` with a hash of its bytes."""
    found = {}
    for dirpath, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(dirpath, name)
            with open(path, 'rb') as f:
                found[os.path.relpath(path, folder)] = hashlib.sha1(
                    f.read()).hexdigest()
    return found


def one_line_error(err):
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith('error: '), err
    assert 'Traceback' not in err
    return lines[0]


@pytest.fixture(scope='module')
def finished_run(tmp_path_factory):
    """A real (short) run of LeNet-BN on the embedded digits."""
    out = tmp_path_factory.mktemp('runs') / 'bn'
    proc = run_cli('batchnorm', *QUICK[:-1], '2', '--out', str(out),
                   '--progress')
    assert proc.returncode == 0, proc.stderr
    return out, proc


def test_end_to_end_writes_everything(finished_run):
    out, proc = finished_run
    assert 'training on cpu(0)' in proc.stdout
    assert 'epoch 2, loss' in proc.stdout
    assert '|' in proc.stderr and 'batch' in proc.stderr  # tqdm bar
    for name in ('metrics.csv', 'metrics.json', 'curves.png',
                 'model.params', 'run.json'):
        assert (out / name).is_file(), name
    assert (out / 'curves.png').read_bytes()[:4] == b'\x89PNG'
    rows = (out / 'metrics.csv').read_text().splitlines()
    assert rows[0] == 'epoch,loss,train_acc,test_acc,time,examples_per_sec'
    assert len(rows) == 3
    history = json.loads((out / 'metrics.json').read_text())
    assert history[1]['loss'] < history[0]['loss']
    run = json.loads((out / 'run.json').read_text())
    for key in ('model', 'num_classes', 'in_channels', 'data', 'resize',
                'recipe', 'seed', 'ctx', 'versions', 'elapsed'):
        assert key in run, key
    assert run['model'] == 'batchnorm' and run['data'] == 'mnist5k'
    # the cpu recipe ran (no GPU here), and run.json says so
    assert run['recipe']['lr'] == d2l_cnn.get_recipe('batchnorm', 'cpu').lr
    assert run['versions']['mxnet']
    assert checkpoint.latest(str(out)).endswith('epoch-0002')


def test_resume_refuses_another_network(finished_run, capsys):
    out, _ = finished_run
    before = snapshot(out)
    status = cli.main(['lenet', *QUICK, '--out', str(out), '--resume'])
    line = one_line_error(capsys.readouterr().err)
    assert status == 2
    assert "model='batchnorm'" in line and "model='lenet'" in line
    assert snapshot(out) == before


def test_resume_refuses_another_number_of_classes(finished_run, tmp_path,
                                                  capsys):
    out, _ = finished_run
    other = tmp_path / 'other'
    ckpt = checkpoint.latest(str(out))
    os.makedirs(other / 'checkpoints')
    target = other / 'checkpoints' / os.path.basename(ckpt)
    os.makedirs(target)
    for name in os.listdir(ckpt):
        data = open(os.path.join(ckpt, name), 'rb').read()
        if name == 'meta.json':
            meta = json.loads(data)
            meta['num_classes'] = 7
            data = json.dumps(meta).encode()
        (target / name).write_bytes(data)
    before = snapshot(other)
    status = cli.main(['batchnorm', *QUICK, '--out', str(other),
                       '--resume'])
    line = one_line_error(capsys.readouterr().err)
    assert status == 2 and 'num_classes=7' in line
    assert snapshot(other) == before


def test_a_run_is_never_overwritten(finished_run, capsys):
    out, _ = finished_run
    before = snapshot(out)
    status = cli.main(['batchnorm', *QUICK, '--out', str(out)])
    line = one_line_error(capsys.readouterr().err)
    assert status == 2 and 'already holds a run' in line
    assert '--resume' in line
    assert snapshot(out) == before


BAD = [
    (['nim'], 2, "unknown model 'nim'; choose one of: alexnet"),
    (['lenet', '--data', 'imagenet'], 2, "unknown dataset 'imagenet'"),
    (['lenet', '--lr', '0'], 2, 'must be positive'),
    (['lenet', '--lr', '-0.1'], 2, 'must be positive'),
    (['lenet', '--lr', 'abc'], 2, "'abc' is not a number"),
    (['lenet', '--lr', 'nan'], 2, 'must be positive'),
    (['lenet', '--num-epochs', '-1'], 2, 'must be positive'),
    (['lenet', '--num-epochs', 'two'], 2, 'not a whole number'),
    (['lenet', '--batch-size', '0'], 2, 'must be positive'),
    (['lenet', '--batch-size', '2.5'], 2, 'not a whole number'),
    (['nin', '--data', 'mnist5k', '--resize', '32'], 2,
     'too small for nin: its smallest input is 67x67'),
    (['lenet', '--data', 'mnist5k', '--resize', '100000'], 2,
     'larger than 512'),
    (['lenet', '--ctx', 'gpu'], 2, 'sees no GPU'),
    (['lenet', '--ctx', 'gpu:0,1'], 2, 'use --ctx cpu'),
    (['lenet', '--ctx', 'tpu'], 2, 'use cpu, gpu, gpu:0,1 or cpu:0,1'),
    (['lenet', '--ctx', 'cpu:a'], 2, 'whole numbers'),
    (['lenet', '--optimizer', 'rmsprop'], 2, 'invalid choice'),
    (['lenet', '--lr-steps', '3,x'], 2, '--lr-steps'),
    (['lenet', '--seed', '-3'], 2, 'must be 0 or more'),
    (['lenet', '--amp', '--ctx', 'cpu'], 2, '--amp trains in float16 and '
     'needs a GPU'),
]


@pytest.mark.parametrize('argv, status, message', BAD,
                         ids=[' '.join(b[0]) for b in BAD])
def test_bad_input_is_one_clear_line(argv, status, message, tmp_path,
                                     capsys):
    out = tmp_path / 'out'
    with pytest.raises(SystemExit) if status == 2 and _argparse(argv) \
            else _nothing() as exit_info:
        result = cli.main(argv + ['--out', str(out)])
    code = exit_info.value.code if exit_info else result
    line = one_line_error(capsys.readouterr().err)
    assert code == status
    assert message in line
    assert not out.exists() or not os.listdir(out)


def _argparse(argv):
    """Errors argparse itself reports (it exits through SystemExit)."""
    text = ' '.join(argv)
    return any(s in text for s in ('--lr ', '--num-epochs', '--batch-size',
                                   '--optimizer', '--seed'))


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def test_bad_input_from_a_real_process_has_no_traceback(tmp_path):
    proc = run_cli('nin', '--data', 'mnist5k', '--resize', '32', '--out',
                   str(tmp_path / 'o'))
    assert proc.returncode == 2
    one_line_error(proc.stderr)
    proc = run_cli('nin', '--resize', '32', '--debug', '--out',
                   str(tmp_path / 'o'))
    assert proc.returncode == 2 and 'Traceback' in proc.stderr


def test_resume_without_checkpoint(tmp_path, capsys):
    status = cli.main(['lenet', *QUICK, '--out', str(tmp_path),
                       '--resume'])
    assert status == 2
    assert 'no checkpoint in' in one_line_error(capsys.readouterr().err)


def test_out_is_a_file(tmp_path, capsys):
    path = tmp_path / 'file'
    path.write_text('keep me')
    assert cli.main(['lenet', *QUICK, '--out', str(path)]) == 2
    assert 'is a file' in one_line_error(capsys.readouterr().err)
    assert path.read_text() == 'keep me'


def test_out_is_not_writable(capsys):
    # /proc refuses new folders, even to root
    assert cli.main(['lenet', *QUICK, '--out', '/proc/d2l_cnn_run']) == 1
    assert 'cannot write to --out' in one_line_error(
        capsys.readouterr().err)


def test_data_root_is_a_file(tmp_path, capsys):
    path = tmp_path / 'root'
    path.write_text('not a folder')
    status = cli.main(['lenet', '--data', 'fashion-mnist', '--root',
                       str(path), '--out', str(tmp_path / 'o')])
    assert status == 1
    assert 'is a file' in one_line_error(capsys.readouterr().err)
    assert path.read_text() == 'not a folder'


def test_offline_download_says_what_to_do(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv('MXNET_GLUON_REPO', 'http://127.0.0.1:9/')
    # a command, not a notebook: an ipykernel another test imported into
    # this process would turn the download's progress bar on
    monkeypatch.delitem(sys.modules, 'ipykernel', raising=False)
    root = tmp_path / 'fashion'
    status = cli.main(['lenet', '--recipe', 'book', '--root', str(root),
                       '--out', str(tmp_path / 'o')])
    line = one_line_error(capsys.readouterr().err)
    assert status == 1
    for hint in ('cannot download', 'MXNET_GLUON_REPO', str(root),
                 '--data mnist5k'):
        assert hint in line
    # the command suggested is one that learns: the auto recipe
    assert line.endswith('python -m d2l_cnn.train lenet --data mnist5k')
    assert not [f for f in os.listdir(root) if not f.startswith('.')] or \
        all(not f.startswith('.tmp') for f in os.listdir(root))


def test_bad_files_in_the_data_root(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv('MXNET_GLUON_REPO', 'http://127.0.0.1:9/')
    root = tmp_path / 'mnist'
    root.mkdir()
    for name in ('train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz',
                 't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'):
        (root / name).write_bytes(b'\x00\x00\x08\x03 truncated')
    status = cli.main(['lenet', '--data', 'mnist', '--root', str(root),
                       '--out', str(tmp_path / 'o')])
    line = one_line_error(capsys.readouterr().err)
    assert status == 1 and 'error: ' in line


def test_full_disk_keeps_the_last_checkpoint(tmp_path, capsys,
                                             monkeypatch):
    out = tmp_path / 'run'
    real = checkpoint.atomic_write
    calls = {'meta': 0}

    def full_after_first_epoch(path, data):
        if path.endswith('meta.json'):
            calls['meta'] += 1
            if calls['meta'] > 1:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
        return real(path, data)

    monkeypatch.setattr(checkpoint, 'atomic_write', full_after_first_epoch)
    status = cli.main(['lenet', *QUICK[:-1], '3', '--out', str(out)])
    line = one_line_error(capsys.readouterr().err)
    assert status == 1 and 'No space left on device' in line
    last = checkpoint.latest(str(out))
    assert last.endswith('epoch-0001')
    assert checkpoint.read_meta(last)['epoch'] == 1
    assert not [n for n in os.listdir(out / 'checkpoints')
                if n.startswith('.tmp')]


def test_written_files_are_readable_by_others(finished_run):
    out, _ = finished_run
    for name in ('metrics.csv', 'run.json', 'curves.png'):
        assert (out / name).stat().st_mode & 0o044, name
    folder = checkpoint.latest(str(out))
    assert os.stat(folder).st_mode & 0o055


# ------------------------------------------------------------ recipes

def test_first_line_says_which_recipe_and_why(finished_run):
    out, proc = finished_run
    first = proc.stdout.splitlines()[0]
    cpu = d2l_cnn.get_recipe('batchnorm', 'cpu')
    # the options that differ from the cpu recipe are named
    changed = [k for k, v in (('batch_size', int(QUICK[5])),
                              ('num_epochs', 2)) if getattr(cpu, k) != v]
    assert first.startswith("run: the cpu recipe, not the book's (because "
                            "no GPU was found), changed: %s. "
                            % ', '.join(changed))
    assert changed  # at least the epochs
    assert first.endswith(cpu.why)
    run = json.loads((out / 'run.json').read_text())
    assert run['recipe']['kind'] == 'cpu'
    assert run['recipe']['num_epochs'] == 2  # the option overrides


def test_auto_is_cpu_on_a_cpu_and_options_override():
    args = cli.build_parser().parse_args(['nin'])
    s = cli.settings(args)
    assert s.kind == 'cpu' and s.recipe == d2l_cnn.get_recipe('nin', 'cpu')
    assert s.overrides == ()
    args = cli.build_parser().parse_args(
        ['nin', '--recipe', 'book', '--lr', '0.5', '--lr-schedule',
         'cosine', '--warmup-epochs', '1', '--epochs', '7'])
    s = cli.settings(args)
    book = d2l_cnn.get_recipe('nin')
    assert s.kind == 'book' and s.reason == '--recipe book'
    assert s.recipe == book.replace(lr=0.5, lr_schedule='cosine',
                                    warmup_epochs=1.0, num_epochs=7)
    assert s.overrides == ('num_epochs', 'lr', 'lr_schedule',
                           'warmup_epochs')


def test_every_recipe_field_is_an_option():
    parser = cli.build_parser()
    flags = {a.dest: a.option_strings for a in parser._actions}
    for f in Recipe.overridable():
        assert '--' + f.name.replace('_', '-') in flags[f.name], f.name
    assert 'why' not in flags


def test_help_shows_the_cpu_recipes_and_why():
    text = cli.build_parser().format_help()
    flat = ' '.join(text.split())
    assert '--recipe {auto,book,cpu}' in text
    for name in d2l_cnn.list_models():
        assert ' '.join(d2l_cnn.get_recipe(name, 'cpu').why.split()) in \
            flat, name


def test_bad_recipe_values_are_one_line(tmp_path, capsys):
    out = str(tmp_path / 'o')
    assert cli.main(['lenet', '--warmup-epochs', '20', '--out', out]) == 2
    assert 'warmup_epochs (20) is longer than the run' in one_line_error(
        capsys.readouterr().err)
    assert cli.main(['lenet', '--init', 'nope', '--data', 'mnist5k',
                     '--out', out + '2']) == 2
    assert "init 'nope' is not an MXNet initializer" in one_line_error(
        capsys.readouterr().err)
    with pytest.raises(SystemExit):
        cli.main(['lenet', '--recipe', 'gpu'])
    assert 'invalid choice' in one_line_error(capsys.readouterr().err)


# ------------------------------------------------------- one error path

@pytest.mark.parametrize('module, argv, status', [
    ('d2l_cnn.cli', ['lenet', '--ctx', 'tpu'], 2),
    ('d2l_cnn.predict', ['--out', '/nonexistent/run'], 2),
    ('d2l_cnn.export', ['--out', '/nonexistent/run'], 2),
    ('d2l_cnn.launch', ['-n', '0', '--', 'true'], 2),
    ('d2l_cnn.cost', ['nim'], 2),
])
def test_every_command_fails_the_same_way(module, argv, status, capsys):
    main = importlib.import_module(module).main
    assert main(argv) == status
    one_line_error(capsys.readouterr().err)
    assert main(['--debug'] + argv) == status
    assert 'Traceback' in capsys.readouterr().err


def test_error_mapping():
    def raising(error):
        def body():
            raise error
        return body
    cases = [(UsageError('u'), 2, 'error: u'),
             (DataError('d'), 1, 'error: d'),
             (KeyboardInterrupt(), 130, 'error: interrupted'),
             (mx.base.MXNetError('x\nCheck failed: a == b, which contains '
                                 'c'), 1, 'error: MXNet failed: Check '
              'failed: a == b'),
             (OSError(errno.ENOSPC, 'No space left on device', 'f'), 1,
              'error: cannot read or write f (No space left on device)'),
             (MemoryError(), 1, 'error: out of memory')]
    for error, status, line in cases:
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            assert errors.run_command(raising(error)) == status
        assert err.getvalue().startswith(line), err.getvalue()
    assert errors.run_command(lambda: None) == 0
    assert errors.run_command(lambda: 124) == 124


def test_sigterm_is_an_interrupt():
    def body():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
    before = signal.getsignal(signal.SIGTERM)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        status = errors.run_command(body, interrupted=lambda: 'stopped')
    assert status == 130 and err.getvalue() == 'error: stopped\n'
    assert signal.getsignal(signal.SIGTERM) is before
