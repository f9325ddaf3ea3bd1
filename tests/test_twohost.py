"""Two hosts of our own: a dist_sync job over ssh between two network
namespaces, and the same job started through MPI.

The hosts are network namespaces joined by a veth pair (10.77.0.1 and
10.77.0.2), each with an sshd of the test's own: its host key, its
authorized key and its configuration live in a temporary folder, and
``~/.ssh`` is never touched. They need root, ``ip netns`` and ``sshd``
(``.ci/run`` installs openssh-server where it can); elsewhere the tests
are skipped with the reason. Everything is removed again, also when a
test fails.
"""
import io
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from test_launch import PY, TIMEOUT, WORKER, _check_same_training, _env
from d2l_cnn import launch as L

pytestmark = pytest.mark.twohost

HOSTS = {'d2lh1': '10.77.0.1', 'd2lh2': '10.77.0.2'}
PORT = 9093
SSHD = shutil.which('sshd') or '/usr/sbin/sshd'


def _missing():
    """Why two hosts cannot be made here (None when they can)."""
    if os.geteuid() != 0:
        return 'needs root for ip netns'
    if not shutil.which('ip'):
        return 'needs ip (iproute2)'
    if not os.path.exists(SSHD) or not shutil.which('ssh'):
        return 'needs sshd and ssh (apt-get install openssh-server)'
    probe = subprocess.run(['ip', 'netns', 'add', 'd2lprobe'],
                           capture_output=True, text=True)
    if probe.returncode:
        return 'ip netns add failed: %s' % probe.stderr.strip()
    subprocess.run(['ip', 'netns', 'delete', 'd2lprobe'])
    return None


def _ip(*args, check=True):
    return subprocess.run(['ip', *args], capture_output=True, text=True,
                          check=check)


def _netns(name, *argv):
    return ['ip', 'netns', 'exec', name, *argv]


def _teardown():
    for name in HOSTS:
        pids = _ip('netns', 'pids', name, check=False).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), 9)
            except (ProcessLookupError, ValueError):
                pass
        _ip('netns', 'delete', name, check=False)


@pytest.fixture(scope='module')
def two_hosts(tmp_path_factory):
    """Two namespaces with sshd; yields (folder, ssh command, hostfile)."""
    why = _missing()
    if why:
        print('two-host tests skipped: %s' % why)
        pytest.skip(why)
    folder = tmp_path_factory.mktemp('hosts')
    _teardown()  # a run killed earlier may have left them
    try:
        names = list(HOSTS)
        for name in names:
            _ip('netns', 'add', name)
            _ip('-n', name, 'link', 'set', 'lo', 'up')
        _ip('link', 'add', 'd2lv1', 'type', 'veth', 'peer', 'name', 'd2lv2')
        for name, dev in zip(names, ('d2lv1', 'd2lv2')):
            _ip('link', 'set', dev, 'netns', name)
            _ip('-n', name, 'addr', 'add', HOSTS[name] + '/24', 'dev', dev)
            _ip('-n', name, 'link', 'set', dev, 'up')
        key = folder / 'key'
        subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f',
                        str(key)], check=True)
        subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f',
                        str(folder / 'host_key')], check=True)
        (folder / 'authorized_keys').write_text(
            (folder / 'key.pub').read_text())
        os.makedirs('/run/sshd', exist_ok=True)  # privilege separation
        for name in names:
            config = folder / ('sshd_%s' % name)
            config.write_text('\n'.join([
                'ListenAddress %s' % HOSTS[name], 'Port 22',
                'HostKey %s' % (folder / 'host_key'),
                'AuthorizedKeysFile %s' % (folder / 'authorized_keys'),
                'PidFile %s' % (folder / ('%s.pid' % name)),
                'PermitRootLogin prohibit-password',
                'PasswordAuthentication no',
                'StrictModes no', 'UsePAM no', 'AcceptEnv none', '']))
            subprocess.run(_netns(name, SSHD, '-f', str(config)), check=True)
        ssh = ('ssh -i %s -o BatchMode=yes -o StrictHostKeyChecking=no '
               '-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR '
               '-o ConnectTimeout=10' % key)
        for name, address in HOSTS.items():  # wait until both answer
            for _ in range(50):
                if subprocess.run(_netns('d2lh1', *ssh.split(), address,
                                         'true'),
                                  capture_output=True).returncode == 0:
                    break
                time.sleep(0.2)
            else:
                pytest.fail('sshd on %s did not answer' % address)
        hostfile = folder / 'hosts'
        hostfile.write_text('\n'.join(HOSTS.values()) + '\n')
        yield folder, ssh, hostfile
    finally:
        _teardown()


def _listening(name):
    """``(address, port)`` pairs of python processes listening in a host."""
    out = subprocess.run(_netns(name, 'ss', '-Hltnp'), capture_output=True,
                         text=True).stdout
    found = set()
    for line in out.splitlines():
        if 'python' not in line:
            continue
        local = line.split()[3]
        host, _, port = local.rpartition(':')
        found.add((host.strip('[]'), int(port)))
    return found


def test_dist_sync_over_ssh_between_two_hosts(two_hosts, tmp_path):
    folder, ssh, hostfile = two_hosts
    (tmp_path / 'worker.py').write_text(WORKER)
    seen = {name: set() for name in HOSTS}
    done = threading.Event()

    def watch():
        while not done.is_set():
            for name in HOSTS:
                seen[name] |= _listening(name)
            time.sleep(0.1)
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    start = time.monotonic()
    try:
        r = subprocess.run(
            _netns('d2lh1', PY, '-m', 'd2l_cnn.launch', '-n', '2', '-s', '2',
                   '-H', str(hostfile), '--port', str(PORT), '--ssh', ssh,
                   '--workdir', str(tmp_path), '--timeout', str(TIMEOUT),
                   '--env', 'OMP_NUM_THREADS=1', '--', PY, 'worker.py', '.',
                   'server'),
            env=_env(), capture_output=True, text=True, timeout=TIMEOUT + 30)
    finally:
        done.set()
        watcher.join()
    elapsed = time.monotonic() - start
    print('two-host dist_sync job: %.1f s' % elapsed)
    assert r.returncode == 0, r.stdout + r.stderr
    assert 'scheduler at 10.77.0.1:%d, 2 server(s), 2 worker(s) over ssh' \
        % PORT in r.stderr
    assert '[worker 0] rank ' in r.stdout and '[worker 1] rank ' in r.stdout
    # the workers' parameters equal one process on the combined batches
    _check_same_training(tmp_path, tmp_path / 'worker.py')
    # the scheduler and the servers listened on their host's address only
    assert ('10.77.0.1', PORT) in seen['d2lh1']
    for name, address in HOSTS.items():
        assert seen[name], 'nothing listened on %s' % name
        assert {host for host, _ in seen[name]} == {address}, seen


def test_mpi_launcher_two_ranks_per_role(tmp_path):
    if not shutil.which('mpirun'):
        pytest.skip('needs mpirun (apt-get install openmpi-bin)')
    (tmp_path / 'worker.py').write_text(WORKER)
    out, err = io.StringIO(), io.StringIO()
    env = _env()
    status = L.launch(
        [PY, 'worker.py', '.', 'server'], 2, 2, launcher='mpi',
        timeout=TIMEOUT, grace=5, workdir=str(tmp_path),
        extra_env={k: env[k] for k in ('OMP_NUM_THREADS', 'PYTHONPATH')},
        stdout=out, stderr=err)
    assert status == 0, err.getvalue()
    assert 'through mpirun' in err.getvalue()
    ranks = sorted(line.split('] ')[1] for line in out.getvalue().splitlines()
                   if '] rank ' in line)
    assert ranks == ['rank 0 of 2', 'rank 1 of 2'], out.getvalue()
    assert '[worker 0] ' in out.getvalue() and '[worker 1] ' in \
        out.getvalue()
    _check_same_training(tmp_path, tmp_path / 'worker.py')


# each rank writes its lines in two pieces, as Python does when
# PYTHONUNBUFFERED is set (CI's failure: 'rank 1 of 2rank 0 of 2')
PIECES = textwrap.dedent('''
    import os
    import sys
    rank = os.environ['OMPI_COMM_WORLD_RANK']
    for i in range(300):
        os.write(1, ('rank %s line %d' % (rank, i)).encode())
        os.write(1, b'\\n')
''')


def test_mpirun_output_stays_whole_lines_per_rank(tmp_path):
    if not shutil.which('mpirun'):
        pytest.skip('needs mpirun (apt-get install openmpi-bin)')
    (tmp_path / 'pieces.py').write_text(PIECES)
    jobs, _ = L.plan([PY, 'pieces.py'], 2, 1, launcher='mpi')
    workers = jobs[-1]
    out, err = io.StringIO(), io.StringIO()
    status = L.Launcher([workers], workdir=str(tmp_path), grace=5,
                        stdout=out, stderr=err).run(timeout=TIMEOUT)
    assert status == 0, err.getvalue()
    lines = out.getvalue().splitlines()
    for rank in (0, 1):
        assert ['[worker %d] rank %d line %d' % (rank, rank, i)
                for i in range(300)] == \
            [line for line in lines if line.startswith('[worker %d]' % rank)]
    assert len(lines) == 600, [line for line in lines
                               if not line.startswith('[worker ')]


def test_mpi_launcher_stops_on_a_failing_worker(tmp_path):
    if not shutil.which('mpirun'):
        pytest.skip('needs mpirun (apt-get install openmpi-bin)')
    (tmp_path / 'worker.py').write_text(WORKER)
    err = io.StringIO()
    env = _env()
    start = time.monotonic()
    status = L.launch(
        [PY, 'worker.py', '.', 'exit'], 2, 1, launcher='mpi',
        timeout=TIMEOUT, grace=5, workdir=str(tmp_path),
        extra_env={k: env[k] for k in ('OMP_NUM_THREADS', 'PYTHONPATH')},
        stdout=io.StringIO(), stderr=err)
    assert status != 0
    assert time.monotonic() - start < TIMEOUT
    assert 'workers' in err.getvalue() and 'stopping the others' in \
        err.getvalue()


def test_mpi_plan():
    jobs, port = L.plan(['python', 'w.py'], 3, 2, port=9100,
                        launcher='mpi', mpirun='mpirun --hostfile hf',
                        extra_env={'A': '1'})
    assert [j.name for j in jobs] == ['scheduler', 'servers', 'workers']
    scheduler, servers, workers = jobs
    assert scheduler.env['DMLC_ROLE'] == 'scheduler'
    assert servers.argv[:3] == ['mpirun', '--hostfile', 'hf']
    assert servers.argv[servers.argv.index('-np') + 1] == '2'
    assert workers.argv[workers.argv.index('-np') + 1] == '3'
    assert workers.argv[-2:] == ['python', 'w.py']
    flags = [workers.argv[i + 1] for i, a in enumerate(workers.argv)
             if a == '-x']
    assert 'DMLC_ROLE=worker' in flags and 'A=1' in flags
    assert 'DMLC_PS_ROOT_PORT=9100' in flags
    assert 'DMLC_NUM_WORKER=3' in flags and 'DMLC_NUM_SERVER=2' in flags
    with pytest.raises(Exception, match='--launcher mpi'):
        L.plan(['python', 'w.py'], 1, 1, hosts=['a'], launcher='mpi')


if __name__ == '__main__':  # pragma: no cover
    sys.exit(pytest.main([__file__, '-v']))
