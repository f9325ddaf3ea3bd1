"""``python -m d2l_cnn.doctor``: the real machine, and problems made up."""
import gzip
import math
import os
import subprocess
import sys

import mxnet as mx
import numpy as np
import pytest

from d2l_cnn import doctor
import d2l_cnn.plots

FILES = ('train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz',
         't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz')
BOOK = {'data': 'fashion-mnist', 'resize': 224, 'batch_size': 128}


def put_fashion_mnist(mxnet_home, n=4):
    """Valid gzipped IDX files of ``n`` images (not the real SHA-1s)."""
    folder = os.path.join(str(mxnet_home), 'datasets', 'fashion-mnist')
    os.makedirs(folder)
    for name in FILES:
        dims = (n, 28, 28) if 'images' in name else (n,)
        head = bytes([0, 0, 8, len(dims)]) + b''.join(
            d.to_bytes(4, 'big') for d in dims)
        size = n * 28 * 28 if 'images' in name else n
        with open(os.path.join(folder, name), 'wb') as f:
            f.write(gzip.compress(head + bytes(size)))
    return folder


@pytest.fixture
def quiet(monkeypatch, tmp_path):
    """A machine with no problem: data on disk, fonts, pip clean, ..."""
    home = tmp_path / 'mxnet'
    put_fashion_mnist(home)
    monkeypatch.setenv('MXNET_HOME', str(home))
    monkeypatch.setenv('D2L_CNN_VERIFY', '0')  # local files as they are
    monkeypatch.setenv('OMP_NUM_THREADS', '2')
    monkeypatch.setattr(doctor, 'physical_cores', lambda: 2)
    monkeypatch.setattr(doctor, 'needed_setup', lambda model, gpus:
                        ('book', dict(BOOK)))
    monkeypatch.setattr(doctor, 'nvidia_gpus', lambda: [])
    monkeypatch.setattr(doctor, 'mx_gpus', lambda: [])
    monkeypatch.setattr(doctor, 'pip_check', lambda: (True, ''))
    monkeypatch.setattr(d2l_cnn.plots, 'find_cjk_font',
                        lambda *a: '/fonts/noto.ttc')
    monkeypatch.setattr(doctor, 'reachable', lambda url, timeout=5: False)
    return home


def problems(report, level=None):
    return [p for p in report.problems if level in (None, p.level)]


def rows(report):
    return dict(report.rows)


def test_a_quiet_machine_is_ready(quiet):
    report = doctor.diagnose(run_smoke=False)
    assert problems(report) == []
    assert report.ok and report.verdict.startswith('ready')
    r = rows(report)
    assert r['MXNet'].startswith(mx.__version__ + ' CPU build: ')
    assert r['GPUs'] == 'none that MXNet can use'
    assert r['pip check'] == 'clean'
    assert 'numpy %s' % np.__version__ in r['Packages']
    assert 'fashion-mnist present' in ' '.join(r['Data'].split())
    assert doctor.main(['--no-smoke']) == 0


def test_missing_data_without_network_fails(quiet, tmp_path, monkeypatch):
    empty = tmp_path / 'empty'
    monkeypatch.setenv('MXNET_HOME', str(empty))
    report = doctor.diagnose(run_smoke=False)
    fail, = problems(report, 'fail')
    assert 'fashion-mnist is not on disk' in fail.what
    assert str(empty / 'datasets' / 'fashion-mnist') in fail.fix
    assert '--data mnist5k' in fail.fix
    assert not report.ok and report.verdict.startswith('NOT ready')
    assert doctor.main(['--no-smoke']) == 1
    # reachable: the first run downloads it; a note, not a failure
    monkeypatch.setattr(doctor, 'reachable', lambda url, timeout=5: True)
    report = doctor.diagnose(run_smoke=False)
    assert report.ok
    assert 'downloads it' in problems(report, 'warn')[0].what


def test_missing_data_only_matters_when_needed(quiet, tmp_path,
                                               monkeypatch):
    monkeypatch.setenv('MXNET_HOME', str(tmp_path / 'empty'))
    monkeypatch.setattr(doctor, 'needed_setup', lambda model, gpus: (
        'cpu', dict(BOOK, data='mnist5k', resize=67)))
    report = doctor.diagnose(run_smoke=False)
    assert report.ok, report.problems
    assert 'fashion-mnist missing' in ' '.join(rows(report)['Data'].split())


def test_unreachable_repo_is_found_for_real(monkeypatch):
    assert not doctor.reachable('http://127.0.0.1:9/x', timeout=2)


def test_pip_check_failing_is_listed(quiet, monkeypatch):
    message = ('somepkg 1.0 has requirement numpy>=2, but you have numpy '
               '1.23.5.')
    monkeypatch.setattr(doctor, 'pip_check', lambda: (False, message))
    report = doctor.diagnose(run_smoke=False)
    assert rows(report)['pip check'] == message
    warn, = problems(report)
    assert warn.level == 'warn' and message in warn.what
    assert 'pip install' in warn.fix


def test_pip_check_really_runs():
    clean, output = doctor.pip_check()
    assert isinstance(clean, bool)
    assert clean or output


def test_gpu_without_the_gpu_build(quiet, monkeypatch):
    monkeypatch.setattr(doctor, 'nvidia_gpus', lambda: ['Tesla T4'])
    report = doctor.diagnose(run_smoke=False)
    warn, = problems(report)
    assert 'Tesla T4' in warn.what and 'CPU build' in warn.what
    assert 'mxnet-cu112' in warn.fix and 'cuDNN 8' in warn.fix
    assert report.ok  # nin still runs, on the CPU


def test_gpus_and_their_memory_are_shown(quiet, monkeypatch):
    monkeypatch.setattr(doctor, 'mx_gpus', lambda: [
        (0, (3 * 2 ** 30, 16 * 2 ** 30)), (1, (2 ** 29, 2 ** 33))])
    report = doctor.diagnose(run_smoke=False)
    assert rows(report)['GPUs'].splitlines() == [
        'gpu(0): 3.0 of 16.0 GiB free', 'gpu(1): 0.5 of 8.0 GiB free']


def test_needed_setup_follows_the_device():
    kind, recipe = doctor.needed_setup('nin', [0])
    assert kind == 'book' and recipe['data'] == 'fashion-mnist'
    kind, recipe = doctor.needed_setup('nin', [])
    assert recipe['data'] in ('fashion-mnist', 'mnist5k')


def test_no_gpu_gets_a_cpu_smoke_only(quiet, monkeypatch):
    seen = []

    def fake_smoke(model, ctx, resize, batch_size):
        seen.append((model, ctx, resize, batch_size))
        return 0.5, 2.3

    monkeypatch.setattr(doctor, 'smoke', fake_smoke)
    report = doctor.diagnose()
    assert seen == [('nin', mx.cpu(), 224, 8)]
    monkeypatch.setattr(doctor, 'mx_gpus', lambda: [(0, (1, 2)),
                                                    (1, (1, 2))])
    seen.clear()
    report = doctor.diagnose()
    assert [s[1] for s in seen] == [mx.cpu(), mx.gpu(0), mx.gpu(1)]
    assert seen[1][3] == BOOK['batch_size']  # the recipe's batch on a GPU
    assert len(rows(report)['Smoke'].splitlines()) == 3


def test_a_failing_step_fails_with_the_fix(quiet, monkeypatch):
    def broken(model, ctx, resize, batch_size):
        raise mx.base.MXNetError('out of memory on device\nmore')

    monkeypatch.setattr(doctor, 'smoke', broken)
    report = doctor.diagnose()
    fail, = problems(report, 'fail')
    assert 'out of memory on device' in fail.what
    assert '--batch-size' in fail.fix
    assert 'FAILED' in rows(report)['Smoke']
    assert doctor.main([]) == 1
    with pytest.raises(mx.base.MXNetError):
        doctor.diagnose(debug=True)


def test_the_real_smoke_trains_one_step():
    seconds, loss = doctor.smoke('lenet', mx.cpu(), 28, 8)
    assert seconds > 0 and math.isfinite(loss) and loss > 0


def test_missing_and_other_versions(quiet, monkeypatch):
    monkeypatch.setattr(doctor, 'pinned_requirements', lambda: [
        'mxnet==%s' % mx.__version__, 'numpy==1.24.0',
        'no-such-package-d2l==1.0', 'tqdm>=4.66'])
    report = doctor.diagnose(run_smoke=False)
    fail, = problems(report, 'fail')
    assert 'no-such-package-d2l' in fail.what
    assert fail.fix == "pip install 'no-such-package-d2l==1.0'"
    warn, = problems(report, 'warn')
    assert 'numpy %s' % np.__version__ in warn.what
    assert '==1.24.0' in warn.what
    assert 'no-such-package-d2l MISSING' in rows(report)['Packages']


def test_pins_come_from_setup_cfg():
    """This interpreter's pins: numpy 1.23.5 up to 3.11, 1.26.4 after."""
    pins = doctor.pinned_requirements()
    numpy = '1.23.5' if sys.version_info < (3, 12) else '1.26.4'
    assert 'mxnet==1.9.1' in pins and 'numpy==' + numpy in pins
    assert [p for p in pins if p.startswith('numpy')] == ['numpy==' + numpy]


def test_threads_and_font(quiet, monkeypatch):
    monkeypatch.setenv('OMP_NUM_THREADS', '1')
    monkeypatch.setattr(d2l_cnn.plots, 'find_cjk_font', lambda *a: None)
    report = doctor.diagnose(run_smoke=False)
    threads, font = problems(report)
    assert 'OpenMP uses 1 of 2 cores' in threads.what
    assert 'OMP_NUM_THREADS=2' in threads.fix
    assert 'fonts-noto-cjk' in font.fix
    assert report.ok


def test_a_crashing_check_is_one_line(quiet, monkeypatch):
    def crash(report):
        raise RuntimeError('font cache is corrupt\ndetails')

    monkeypatch.setattr(doctor, 'check_font', crash)
    report = doctor.diagnose(run_smoke=False)
    assert rows(report)['CJK font'] == ('could not check: RuntimeError: '
                                        'font cache is corrupt')
    assert not report.ok
    with pytest.raises(RuntimeError):
        doctor.diagnose(run_smoke=False, debug=True)


def test_render_fits_79_columns(quiet, tmp_path, monkeypatch):
    monkeypatch.setenv('MXNET_HOME', str(tmp_path / ('a-long-folder' * 3)))
    monkeypatch.setattr(doctor, 'nvidia_gpus', lambda: ['Tesla V100'])
    text = doctor.diagnose(run_smoke=False).render()
    assert 'FAIL  fashion-mnist is not on disk' in text
    assert max(len(line) for line in text.splitlines()
               if '/' not in line) <= 79


def run(args, env):
    return subprocess.run([sys.executable, '-m', 'd2l_cnn.doctor'] + args,
                          capture_output=True, text=True, env=env,
                          timeout=300)


def test_command_line(tmp_path):
    home = tmp_path / 'mxnet'
    put_fashion_mnist(home)
    env = dict(os.environ, MXNET_HOME=str(home), D2L_CNN_VERIFY='0',
               MXNET_GLUON_REPO='http://127.0.0.1:9/')
    r = run(['--model', 'lenet'], env)
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    for label in ('Python', 'MXNet', 'GPUs', 'Threads', 'Data', 'CJK font',
                  'Packages', 'pip check', 'Smoke'):
        assert ('\n' + label + ' ') in '\n' + out, label
    assert 'cpu(0): one step of lenet, batch 8' in out
    assert 'ready: python -m d2l_cnn.train lenet' in out
    # the folder is empty and the repository unreachable: exit 1
    env['MXNET_HOME'] = str(tmp_path / 'nothing')
    r = run(['--no-smoke'], env)
    if 'fashion-mnist is not on disk' in r.stdout:  # the book's recipe
        assert r.returncode == 1
        assert 'NOT ready' in r.stdout
    else:  # the cpu recipe trains on the embedded digits
        assert r.returncode == 0, r.stdout
    r = run(['--model', 'nim'], env)
    assert r.returncode == 2
    assert r.stderr.startswith("error: unknown model 'nim'")
    assert len(r.stderr.splitlines()) == 1
