"""The dist_sync launcher, on loopback only, every run bounded in time.

Real MXNet jobs (scheduler, server, two workers) check that data-parallel
training over the parameter server equals one process training on the
combined batches; jobs of plain shell commands (the scheduler and
servers replaced by sleepers) check output forwarding and stopping.
"""
import importlib.util
import io
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from mxnet import nd

import d2l_cnn
from conftest import subprocess_env
from d2l_cnn import launch as L, mpi
from d2l_cnn.errors import UsageError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(d2l_cnn.__file__)))
PY = sys.executable

# A worker of our own (not the train CLI): each worker trains a small
# network on its shard of a fixed data set with a dist_sync kvstore.
WORKER = textwrap.dedent('''
    import os
    import sys

    import numpy as np
    import d2l_cnn  # first: numpy's names for MXNet
    import mxnet as mx
    from mxnet import autograd, gluon, nd
    from mxnet.gluon import nn

    from d2l_cnn.worker import skip_exit_barrier

    B, STEPS = 4, 5  # per-worker batch size, steps


    def make_net():
        net = nn.HybridSequential()
        net.add(nn.Conv2D(3, kernel_size=3, in_channels=1),
                nn.Activation('relu'), nn.Flatten(),
                nn.Dense(4, in_units=3 * 6 * 6))
        net.initialize()
        rng = np.random.RandomState(42)
        for _, p in sorted(net.collect_params().items()):
            p.set_data(nd.array(rng.normal(0, 0.3, p.shape)))
        return net


    def train(kv, rank, num_workers, update_on_kvstore=None, fail=None):
        """STEPS steps; each step the workers together see 2 * B rows."""
        rng = np.random.RandomState(0)
        X = nd.array(rng.rand(STEPS * 2 * B, 1, 8, 8))
        y = nd.array(rng.randint(0, 4, STEPS * 2 * B))
        net = make_net()
        loss = gluon.loss.SoftmaxCrossEntropyLoss()
        trainer = gluon.Trainer(
            net.collect_params(), 'sgd',
            {'learning_rate': 0.5, 'momentum': 0.9, 'wd': 1e-3},
            kvstore=kv, update_on_kvstore=update_on_kvstore)
        per = 2 * B // num_workers
        for s in range(STEPS):
            if fail and s == 2 and rank == 1:
                print('failing on purpose', flush=True)
                if fail == 'kill':
                    os.kill(os.getpid(), 9)
                # without this the exit waits for the other worker, which
                # waits for our gradients: both would hang
                skip_exit_barrier(kv)
                sys.exit(3)
            lo = s * 2 * B + rank * per
            with autograd.record():
                l = loss(net(X[lo:lo + per]), y[lo:lo + per])
            l.backward()
            # the kvstore sums the workers' gradients: normalise by the
            # combined batch, as one process on 2 * B rows would
            trainer.step(2 * B)
        return net


    if __name__ == '__main__':
        out, mode = sys.argv[1], sys.argv[2]
        kv = mx.kv.create('dist_sync')
        print('rank %d of %d' % (kv.rank, kv.num_workers), flush=True)
        # None: the Trainer's default for dist kvstores (on the servers).
        # False (optimizer on each worker) is not offered: with MXNet
        # 1.9.1 one worker's first step sometimes gets a wrong sum.
        update = {'server': True}.get(mode)
        net = train(kv, kv.rank, kv.num_workers, update,
                    fail=mode if mode in ('exit', 'kill') else None)
        net.save_parameters(os.path.join(out, 'worker%d.params' % kv.rank))
        print('saved', flush=True)
''')

TIMEOUT = 90  # seconds for a whole MXNet job, however loaded the machine

# d2l_cnn's own loop under dist_sync: 31 examples over 2 workers (one
# left over: uneven shards of 15), batch 4 (a last batch of 3)
UNEVEN = textwrap.dedent('''
    import os
    import sys

    import numpy as np
    import d2l_cnn  # first: numpy's names for MXNet
    import mxnet as mx
    from mxnet import gluon, nd
    from mxnet.gluon import nn

    from d2l_cnn.data import ArrayDataIter
    from d2l_cnn.train import train_ch5

    N, B = 31, 4


    def make_net():
        net = nn.HybridSequential()
        net.add(nn.Conv2D(3, kernel_size=3, in_channels=1),
                nn.Activation('relu'), nn.Flatten(),
                nn.Dense(4, in_units=3 * 6 * 6))
        net.initialize()
        rng = np.random.RandomState(42)
        for _, p in sorted(net.collect_params().items()):
            p.set_data(nd.array(rng.normal(0, 0.3, p.shape)))
        return net


    def data():
        rng = np.random.RandomState(0)
        X = rng.randint(0, 256, (N, 1, 8, 8)).astype(np.uint8)
        return X, rng.randint(0, 4, N)


    def trainer(net, kv):
        return gluon.Trainer(net.collect_params(), 'sgd',
                             {'learning_rate': 0.5, 'momentum': 0.9,
                              'wd': 1e-3}, kvstore=kv)


    if __name__ == '__main__':
        kv = mx.kv.create('dist_sync')
        it = ArrayDataIter(*data(), B, shuffle=True, seed=5).shard(
            kv.num_workers, kv.rank)
        net = make_net()
        train_ch5(net, it, None, B, trainer(net, kv), mx.cpu(), 2,
                  verbose=False, seed=5, batch_scale=kv.num_workers,
                  fixed_batch=True)
        net.save_parameters(os.path.join(sys.argv[1],
                                         'worker%d.params' % kv.rank))
''')


@pytest.fixture
def worker(tmp_path):
    path = tmp_path / 'worker.py'
    path.write_text(WORKER)
    return path


def _env(**extra):
    return subprocess_env(**dict({'OMP_NUM_THREADS': '1'}, **extra))


def _extra_env():
    env = _env()
    return {k: env[k] for k in ('OMP_NUM_THREADS', 'PYTHONPATH')}


def _single_process(worker):
    """The same training in this process, on the combined batches."""
    spec = importlib.util.spec_from_file_location('dist_worker', worker)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    net = module.train('device', 0, 1)
    return {k: v.data().asnumpy()
            for k, v in net._collect_params_with_prefix().items()}


def _check_same_training(tmp_path, worker):
    w0 = nd.load(str(tmp_path / 'worker0.params'))
    w1 = nd.load(str(tmp_path / 'worker1.params'))
    ref = _single_process(worker)
    assert sorted(w0) == sorted(w1) == sorted(ref)
    for key in ref:
        np.testing.assert_array_equal(w0[key].asnumpy(), w1[key].asnumpy())
        np.testing.assert_allclose(w0[key].asnumpy(), ref[key], rtol=1e-5,
                                   atol=1e-6)


def _all_ended(jobs):
    return all(j.proc is not None and j.proc.poll() is not None
               for j in jobs)


def test_dist_sync_equals_one_process(tmp_path, worker):
    # gradients summed on the server, which also runs the optimizer
    jobs, port = L.plan([PY, str(worker), str(tmp_path), 'default'], 2, 1,
                        extra_env=_extra_env())
    out, err = io.StringIO(), io.StringIO()
    start = time.monotonic()
    status = L.Launcher(jobs, str(tmp_path), grace=10, stdout=out,
                        stderr=err).run(timeout=TIMEOUT)
    elapsed = time.monotonic() - start
    assert status == 0, err.getvalue()
    assert elapsed < TIMEOUT
    assert _all_ended(jobs)
    lines = out.getvalue().splitlines()
    assert sorted(s.split('] ')[1] for s in lines if '] rank' in s) == [
        'rank 0 of 2', 'rank 1 of 2']
    assert sorted(s.split('] ')[0] for s in lines if s.endswith('saved')) \
        == ['[worker 0', '[worker 1']
    _check_same_training(tmp_path, worker)


def test_uneven_shards_and_a_partial_last_batch(tmp_path):
    # train_ch5 under dist_sync equals one process on the combined
    # batches, although the shards (15 of 31 examples) do not divide by
    # the batch size (4): the last step of each epoch holds 2 x 3
    path = tmp_path / 'uneven.py'
    path.write_text(UNEVEN)
    jobs, _ = L.plan([PY, str(path), str(tmp_path)], 2, 1,
                     extra_env=_extra_env())
    err = io.StringIO()
    status = L.Launcher(jobs, str(tmp_path), grace=10, stdout=io.StringIO(),
                        stderr=err).run(timeout=TIMEOUT)
    assert status == 0, err.getvalue()
    spec = importlib.util.spec_from_file_location('uneven', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from mxnet import autograd, gluon
    X, y = module.data()
    full = d2l_cnn.data.ArrayDataIter(X, y, module.B, shuffle=True, seed=5)
    parts = [full.shard(2, r) for r in range(2)]
    net = module.make_net()
    trainer = module.trainer(net, 'device')
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    for epoch in range(2):
        for part in parts:
            part.set_epoch(epoch)
        for (X0, y0), (X1, y1) in zip(*parts):
            Xb, yb = nd.concat(X0, X1, dim=0), nd.concat(y0, y1, dim=0)
            assert X0.shape[0] == X1.shape[0]
            with autograd.record():
                l = loss(net(Xb), yb)
            l.backward()
            trainer.step(Xb.shape[0])
        assert X0.shape[0] == 3  # the partial last batch
    w0 = nd.load(str(tmp_path / 'worker0.params'))
    w1 = nd.load(str(tmp_path / 'worker1.params'))
    ref = {k: v.data().asnumpy()
           for k, v in net._collect_params_with_prefix().items()}
    for key in ref:
        np.testing.assert_array_equal(w0[key].asnumpy(), w1[key].asnumpy())
        np.testing.assert_allclose(w0[key].asnumpy(), ref[key], rtol=1e-4,
                                   atol=1e-5)


def test_cli_over_ssh_two_servers(tmp_path, worker):
    # the ssh path, with a stand-in for ssh that runs the remote command
    # here; two servers share the parameters
    fake_ssh = tmp_path / 'fake_ssh'
    fake_ssh.write_text('#!/bin/sh\nshift\nexec sh -c "$1"\n')
    fake_ssh.chmod(0o755)
    hosts = tmp_path / 'hosts'
    hosts.write_text('# two "machines", both this one\n127.0.0.1\n'
                     'me@127.0.0.1\n')
    r = subprocess.run(
        [PY, '-m', 'd2l_cnn.launch', '-n', '2', '-s', '2', '-H', str(hosts),
         '--ssh', str(fake_ssh), '--workdir', str(tmp_path), '--timeout',
         str(TIMEOUT), '--env', 'OMP_NUM_THREADS=1', '--', PY, 'worker.py',
         '.', 'server'], env=_env(), capture_output=True, text=True,
        timeout=TIMEOUT + 30)
    assert r.returncode == 0, r.stdout + r.stderr
    assert 'over ssh' in r.stderr
    assert '[worker 0] rank ' in r.stdout and '[worker 1] rank ' in r.stdout
    _check_same_training(tmp_path, worker)


@pytest.mark.parametrize('fail,status', [('exit', 3), ('kill', 137)])
def test_failing_worker_stops_the_job(tmp_path, worker, fail, status):
    jobs, _ = L.plan([PY, str(worker), str(tmp_path), fail], 2, 1,
                     extra_env=_extra_env())
    out, err = io.StringIO(), io.StringIO()
    start = time.monotonic()
    got = L.Launcher(jobs, str(tmp_path), grace=5, stdout=out,
                     stderr=err).run(timeout=TIMEOUT)
    elapsed = time.monotonic() - start
    # the other worker waits for the dead one forever: it is stopped
    assert got == status, err.getvalue()
    assert elapsed < TIMEOUT
    assert _all_ended(jobs)
    how = 'exited with status 3' if fail == 'exit' else 'killed by SIGKILL'
    assert how + ': stopping the others' in err.getvalue()
    assert 'failing on purpose' in out.getvalue()
    assert 'saved' not in out.getvalue()


# ---------------------------------------------- without MXNet processes

SLEEPER = [PY, '-c', 'import time; time.sleep(60)']


def _sh(script):
    return ['sh', '-c', script]


def _launch(command, tmp_path, server=SLEEPER, grace=1, timeout=30, **kw):
    jobs, _ = L.plan(command, 2, 1)
    for job in jobs:
        if job.role != 'worker':
            job.argv = list(server)
    out, err = io.StringIO(), io.StringIO()
    launcher = L.Launcher(jobs, str(tmp_path), grace=grace, stdout=out,
                          stderr=err, **kw)
    start = time.monotonic()
    status = launcher.run(timeout=timeout)
    return status, out.getvalue(), err.getvalue(), \
        time.monotonic() - start, jobs


def test_plan_local():
    jobs, port = L.plan(['python', 'train.py'], 3, 2, port=9999)
    assert port == 9999
    assert [j.name for j in jobs] == ['scheduler', 'server 0', 'server 1',
                                      'worker 0', 'worker 1', 'worker 2']
    for job in jobs:
        assert job.host is None
        assert job.env['DMLC_ROLE'] == job.role
        assert job.env['DMLC_PS_ROOT_URI'] == '127.0.0.1'
        assert job.env['DMLC_NODE_HOST'] == '127.0.0.1'
        assert job.env['DMLC_PS_ROOT_PORT'] == '9999'
        assert job.env['DMLC_NUM_SERVER'] == '2'
        assert job.env['DMLC_NUM_WORKER'] == '3'
        if job.role == 'worker':
            assert job.argv == ['python', 'train.py']
        else:
            assert job.argv == [sys.executable, '-c', 'import d2l_cnn']
    _, free = L.plan(['x'], 1, 1)
    assert 1024 <= free < 65536


def test_plan_hosts(monkeypatch):
    monkeypatch.setenv('PYTHONPATH', '/somewhere')
    monkeypatch.setenv('MXNET_ENGINE_TYPE', 'NaiveEngine')
    jobs, _ = L.plan(['cmd'], 3, 2, hosts=['10.0.0.1', 'me@10.0.0.2'],
                     port=9091, python='/opt/py', extra_env={'A': 'b c'})
    where = {j.name: (j.host, j.env['DMLC_NODE_HOST']) for j in jobs}
    assert where == {
        'scheduler': ('10.0.0.1', '10.0.0.1'),
        'server 0': ('10.0.0.1', '10.0.0.1'),
        'server 1': ('me@10.0.0.2', '10.0.0.2'),
        'worker 0': ('10.0.0.1', '10.0.0.1'),
        'worker 1': ('me@10.0.0.2', '10.0.0.2'),
        'worker 2': ('10.0.0.1', '10.0.0.1')}
    for job in jobs:
        assert job.env['DMLC_PS_ROOT_URI'] == '10.0.0.1'
        assert job.env['PYTHONPATH'] == '/somewhere'
        assert job.env['MXNET_ENGINE_TYPE'] == 'NaiveEngine'
        assert job.env['A'] == 'b c'
    assert jobs[0].argv == ['/opt/py', '-c', 'import d2l_cnn']
    argv = L.remote_command(jobs[-1], '/work dir', 'ssh -p 22')
    assert argv[:4] == ['ssh', '-p', '22', '10.0.0.1']
    assert argv[4].startswith('sh -c ')
    assert "'/work dir'" in argv[4] and 'DMLC_ROLE=worker' in argv[4]


def test_plan_errors():
    with pytest.raises(UsageError, match='at least one worker'):
        L.plan(['cmd'], 0, 1)
    with pytest.raises(UsageError, match='at least one'):
        L.plan(['cmd'], 1, 0)
    with pytest.raises(UsageError, match='after --'):
        L.plan([], 1, 1)


def test_read_hostfile(tmp_path):
    path = tmp_path / 'hosts'
    path.write_text('# cluster\n\n10.0.0.1  # first\n  me@node2\n')
    assert L.read_hostfile(str(path)) == ['10.0.0.1', 'me@node2']
    path.write_text('# nothing\n')
    with pytest.raises(UsageError, match='no host'):
        L.read_hostfile(str(path))
    path.write_text('a b\n')
    with pytest.raises(UsageError, match='one host per line'):
        L.read_hostfile(str(path))
    with pytest.raises(UsageError, match='cannot read'):
        L.read_hostfile(str(tmp_path / 'missing'))


def _remote(tmp_path, argv):
    job = L.Job('worker', 0, argv, {'GREETING': "it's me"}, 'host')
    script = L.remote_command(job, str(tmp_path), 'ssh')[-1]
    return subprocess.Popen(['sh', '-c', script], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)


def test_remote_command_status_env_and_stop(tmp_path):
    # what the remote shell runs: the status and environment come through
    p = _remote(tmp_path, _sh('echo "$GREETING in $(pwd)"; exit 7'))
    assert p.stdout.read() == "it's me in %s\n" % tmp_path
    assert p.wait(timeout=30) == 7
    p.stdin.close()
    # closing its standard input (ssh going away) stops the command
    p = _remote(tmp_path, _sh('echo started; exec sleep 60'))
    assert p.stdout.readline() == 'started\n'
    start = time.monotonic()
    p.stdin.close()
    assert p.wait(timeout=30) == 128 + signal.SIGTERM
    assert time.monotonic() - start < 10


def test_forwarding_and_success(tmp_path):
    status, out, err, elapsed, jobs = _launch(
        _sh('echo hello; echo oops >&2; echo "role=$DMLC_ROLE"'), tmp_path)
    assert status == 0
    assert sorted(out.splitlines()) == [
        '[worker 0] hello', '[worker 0] role=worker',
        '[worker 1] hello', '[worker 1] role=worker']
    assert '[worker 0] oops' in err and '[worker 1] oops' in err
    # the sleeping "servers" were stopped after the grace period
    assert 'servers still running' in err
    assert elapsed < 20
    assert _all_ended(jobs)


def test_rank_lines_puts_split_lines_back_together():
    # what mpirun --tag-output wrote when two ranks printed a line each
    # in two pieces (the text, then the newline) at the same moment
    ranks = mpi.RankLines()
    got = ranks.feed('[1,1]<stdout>:rank 1 of 2[1,0]<stdout>:rank 0 '
                     'of 2[1,1]<stdout>:\n')
    assert got == [(1, 'rank 1 of 2')]
    got = ranks.feed('[1,0]<stdout>:\n')
    assert got == [(0, 'rank 0 of 2')]
    # several lines in one piece, mpirun's own line, a blank line
    assert ranks.feed('[1,0]<stdout>:a\n[1,0]<stdout>:b\n') == \
        [(0, 'a'), (0, 'b')]
    assert ranks.feed('Primary job terminated normally\n') == \
        [(None, 'Primary job terminated normally')]
    assert ranks.feed('[1,1]<stderr>:\n') == [(1, '')]
    # a line left without its newline when the pipe ends is not lost
    assert ranks.feed('[1,2]<stdout>:last words') == []
    assert ranks.close() == [(2, 'last words')]
    assert ranks.close() == []


def test_mpirun_jobs_tag_their_output():
    argv = mpi.mpirun_command('mpirun --hostfile hf', 2, {'A': '1'},
                              ['python', 'w.py'])
    assert argv == ['mpirun', '--hostfile', 'hf', '-np', '2',
                    '--tag-output', '-x', 'A=1', 'python', 'w.py']
    jobs, _ = L.plan(['python', 'w.py'], 2, 1, launcher='mpi')
    assert [j.tagged for j in jobs] == [False, True, True]
    jobs, _ = L.plan(['python', 'w.py'], 2, 1)
    assert not any(j.tagged for j in jobs)


def _one_fails(tail):
    # the first worker to take the lock fails, the other keeps running
    return _sh('if mkdir lock 2>/dev/null; then %s; fi; exec sleep 60'
               % tail)


@pytest.mark.parametrize('tail,status,how', [
    ('exit 5', 5, 'worker . exited with status 5'),
    ('kill -9 $$', 137, 'worker . was killed by SIGKILL'),
    ('kill -15 $$', 143, 'worker . was killed by SIGTERM')])
def test_a_failure_stops_everything(tmp_path, tail, status, how):
    got, out, err, elapsed, jobs = _launch(_one_fails(tail), tmp_path)
    assert got == status
    assert re.search(how + ': stopping the others', err), err
    assert elapsed < 20
    assert _all_ended(jobs)


def test_sigterm_ignored_means_sigkill(tmp_path):
    stubborn = [PY, '-c', 'import signal, time; '
                'signal.signal(signal.SIGTERM, signal.SIG_IGN); '
                'print("ready", flush=True); time.sleep(60)']
    got, out, err, elapsed, jobs = _launch(
        _sh('sleep 3; exit 4'), tmp_path, server=stubborn, grace=2)
    assert got == 4
    assert 'scheduler did not stop within 2s: killing it' in err
    assert jobs[0].proc.returncode == -signal.SIGKILL
    assert elapsed < 20


def test_server_failure_and_timeout(tmp_path):
    got, _, err, elapsed, _ = _launch(
        _sh('exec sleep 60'), tmp_path,
        server=[PY, '-c', 'import sys; sys.exit(9)'])
    assert got == 9 and 'scheduler exited with status 9' in err
    got, _, err, elapsed, jobs = _launch(_sh('exec sleep 60'), tmp_path,
                                         timeout=2)
    assert got == L.STATUS_TIMEOUT and 'timed out' in err
    assert elapsed < 15 and _all_ended(jobs)


def test_command_that_cannot_start(tmp_path):
    jobs, _ = L.plan([str(tmp_path / 'no-such-program')], 1, 1)
    for job in jobs[:2]:
        job.argv = list(SLEEPER)
    launcher = L.Launcher(jobs, str(tmp_path), grace=1,
                          stdout=io.StringIO(), stderr=io.StringIO())
    with pytest.raises(UsageError, match='cannot start worker 0'):
        launcher.run(timeout=30)
    assert all(j.proc.poll() is not None for j in jobs[:2])


def test_cli_usage_errors(tmp_path, capsys):
    r = subprocess.run([PY, '-m', 'd2l_cnn.launch', '-n', '2'], env=_env(),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert r.stderr.startswith('error: no worker command')
    assert r.stderr.count('\n') == 1

    def run(*args):
        status = L.main(list(args))
        err = capsys.readouterr().err
        assert err.startswith('error: ') and err.count('\n') == 1, err
        return status
    assert run('-n', '0', '--', 'true') == 2
    assert run('-n', '1', '-H', str(tmp_path / 'none'), '--', 'true') == 2
    assert run('-n', '1', '--env', 'novalue', '--', 'true') == 2
    assert run('-n', '1', '--timeout', '0', '--', 'true') == 2
    assert run('-n', '1', '--port', '70000', '--', 'true') == 2


@pytest.mark.slow
def test_train_cli_under_the_launcher(tmp_path):
    from d2l_cnn.predict import predict
    out = tmp_path / 'run'
    r = subprocess.run(
        [PY, '-m', 'd2l_cnn.launch', '-n', '2', '-s', '1', '--timeout',
         str(TIMEOUT), '--', PY, '-m', 'd2l_cnn.train', 'lenet', '--data',
         'mnist5k', '--kvstore', 'dist_sync', '--num-epochs', '1',
         # shards of 500 (one example left over), batch 32: a last
         # batch of 20 on each worker
         '--num-examples', '1001', '--out', str(out)], env=_env(),
        cwd=str(tmp_path), capture_output=True, text=True,
        timeout=TIMEOUT + 30)
    assert r.returncode == 0, r.stderr
    # both workers train; rank 0 alone evaluates and prints the epoch
    assert len(re.findall(r'^\[worker [01]\] epoch 1, loss', r.stdout,
                          re.M)) == 1, r.stdout
    assert len(re.findall(r'^\[worker [01]\] lenet on mnist5k', r.stdout,
                          re.M)) == 2, r.stdout
    assert json.loads((out / 'run.json').read_text())['num_workers'] == 2
    res = predict(str(out), num=0, verbose=False)
    assert res.confusion.sum() == 1000
