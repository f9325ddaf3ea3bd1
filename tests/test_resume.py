"""Killed, interrupted and resumed runs end exactly as uninterrupted ones."""
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from mxnet import nd

from conftest import subprocess_env
from d2l_cnn import checkpoint

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# LeNet on 2,000 embedded digits, batch 16: 125 batches an epoch
ARGS = ['lenet', '--data', 'mnist5k', '--num-examples', '2000',
        '--batch-size', '16', '--num-epochs', '3', '--seed', '7',
        '--optimizer', 'momentum', '--lr', '0.05']


def start(out, *extra):
    env = subprocess_env()
    return subprocess.Popen(
        [sys.executable, '-m', 'd2l_cnn.train', *ARGS, '--out', str(out),
         *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env, cwd=ROOT)


def finish(proc, timeout=240):
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def wait_for_epoch(out, epoch, proc, timeout=120):
    """Block until checkpoint ``epoch`` exists (or the process ended)."""
    deadline = time.time() + timeout
    target = 'epoch-%04d' % epoch
    while time.time() < deadline:
        last = checkpoint.latest(str(out))
        if last and os.path.basename(last) >= target:
            return
        if proc.poll() is not None:
            raise AssertionError('run ended early: %s' % finish(proc)[2])
        time.sleep(0.02)
    proc.kill()
    raise AssertionError('no checkpoint %s in time' % target)


def load(path):
    return {k: v.asnumpy() for k, v in nd.load(str(path)).items()}


@pytest.fixture(scope='module')
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp('reference')
    code, _, err = finish(start(out))
    assert code == 0, err
    return load(out / 'model.params')


def assert_bit_identical(got, expected):
    assert got.keys() == expected.keys()
    for k in expected:
        assert np.array_equal(got[k], expected[k]), k


@pytest.mark.slow
@pytest.mark.parametrize('epoch, seed', [(1, 11), (1, 12), (2, 13)])
def test_sigkill_then_resume_is_bit_identical(reference, tmp_path, epoch,
                                              seed):
    out = tmp_path / 'run'
    proc = start(out)
    wait_for_epoch(out, epoch, proc)
    # somewhere inside the next epoch (or while it saves)
    time.sleep(random.Random(seed).uniform(0.0, 0.6))
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    last = checkpoint.latest(str(out))
    assert last is not None
    assert checkpoint.read_meta(last)['epoch'] >= epoch
    code, stdout, err = finish(start(out, '--resume'))
    assert code == 0, err
    assert 'resuming from epoch' in stdout
    assert_bit_identical(load(out / 'model.params'), reference)
    metrics = (out / 'metrics.csv').read_text().splitlines()
    assert len(metrics) == 4  # header and three epochs, none twice


@pytest.mark.slow
@pytest.mark.parametrize('sig', [signal.SIGINT, signal.SIGTERM])
def test_interrupt_saves_and_says_how_to_resume(reference, tmp_path, sig):
    out = tmp_path / 'run'
    proc = start(out)
    wait_for_epoch(out, 1, proc)
    time.sleep(0.2)
    proc.send_signal(sig)
    code, _, err = finish(proc)
    assert code == 130, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines[-1].startswith('error: interrupted; the last complete '
                                'epoch is saved in ')
    assert '--resume' in lines[-1] and 'Traceback' not in err
    assert checkpoint.latest(str(out)) is not None
    code, _, err = finish(start(out, '--resume'))
    assert code == 0, err
    assert_bit_identical(load(out / 'model.params'), reference)


# ------------- a signal outside the command's body (errors.run_command)

def test_a_signal_after_the_body_is_dropped(monkeypatch, capsys):
    # SIGTERM while run_command tidies up (its finally; here inside
    # Watchdog.stop): the work is done, and no KeyboardInterrupt may
    # escape (once seen on 3.13: the process died by SIGINT, status -2)
    from d2l_cnn import errors
    stop = errors.Watchdog.stop

    def stop_after_a_signal(self):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)  # Python's handler runs here
        stop(self)
    monkeypatch.setattr(errors.Watchdog, 'stop', stop_after_a_signal)
    try:
        status = errors.run_command(lambda: None)
    except KeyboardInterrupt:
        pytest.fail('KeyboardInterrupt escaped run_command')
    assert status == 0 and capsys.readouterr().err == ''
    assert errors.run_command(lambda: 5) == 5  # nothing left pending


def test_a_signal_before_the_body_interrupts_it(monkeypatch, capsys):
    from d2l_cnn import errors
    start = errors.Watchdog.start

    def start_after_a_signal(debug, interrupted):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
        return start(debug, interrupted)
    monkeypatch.setattr(errors.Watchdog, 'start',
                        staticmethod(start_after_a_signal))
    ran = []
    try:
        status = errors.run_command(lambda: ran.append(1),
                                    interrupted=lambda: 'stopped early')
    except KeyboardInterrupt:
        pytest.fail('KeyboardInterrupt escaped run_command')
    assert status == 130 and not ran
    assert capsys.readouterr().err.strip() == 'error: stopped early'
