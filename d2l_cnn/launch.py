"""Start a ``dist_sync`` parameter-server job: scheduler, servers, workers.

``python -m d2l_cnn.launch -n 2 -s 1 -- python -m d2l_cnn.train lenet
--data mnist5k --kvstore dist_sync --out runs/dist`` starts, on this
machine, the MXNet (ps-lite) scheduler, one server and two workers, each
a process of its own that learns its role from the environment:

=====================  ===================================================
``DMLC_ROLE``          ``scheduler``, ``server`` or ``worker``
``DMLC_PS_ROOT_URI``   the scheduler's address (127.0.0.1 here)
``DMLC_PS_ROOT_PORT``  the scheduler's port (a free one, or ``--port``)
``DMLC_NUM_SERVER``    ``-s``
``DMLC_NUM_WORKER``    ``-n``
``DMLC_NODE_HOST``     the address this process listens on
=====================  ===================================================

Scheduler and servers run ``python -c "import mxnet"``: with
``DMLC_ROLE`` set to ``scheduler`` or ``server``, importing MXNet 1.9.1
(``mxnet/kvstore/kvstore_server.py``) runs the server loop and exits
when the workers have finished. Workers run the command after ``--``;
in it ``mx.kv.create('dist_sync')`` connects, and ``kv.rank`` (0 ..
n-1, given by the scheduler in the order the workers register, not the
order of ``[worker i]`` below) and ``kv.num_workers`` tell it which
shard of the data to read. MXNet's own ``tools/launch.py`` does the
same but crashes on Python >= 3.9.

With ``gluon.Trainer(..., kvstore=kv)`` the servers sum the workers'
gradients, so every worker calls ``trainer.step(batch_size *
kv.num_workers)`` (the combined batch): the result equals one process
stepping on the combined batches (tests/test_launch.py checks it). Keep
the Trainer's default ``update_on_kvstore`` (True for dist stores: the
servers run the optimizer). With ``update_on_kvstore=False`` MXNet 1.9.1
here gave one worker a wrong sum in its first step in about 3 runs of
10, after which the workers disagree. Every worker must make the same
number of steps, or the job desynchronises or hangs. A worker that
fails should call ``skip_exit_barrier(kv)`` before exiting (the
worker's side, joining and leaving a job, is in ``d2l_cnn.worker``).

Every line a process prints is forwarded with its name in front
(``[worker 0] epoch 1, ...``, stderr to stderr). When any process fails
the others are stopped (SIGTERM, then SIGKILL after ``--grace`` seconds)
and the launcher exits with the failing status (128 + signal number for
a process killed by a signal); when all workers succeed it waits for
the servers and the scheduler to finish and exits 0. ``--timeout``
bounds the whole job (exit 124).

Two or more machines (``-H hostfile``; tested between two network
namespaces with an sshd each, tests/test_twohost.py): the hostfile lists
one address per line (``user@`` may precede it; ``#`` starts a comment).
The scheduler runs on the first host; server i and worker i on host
``i mod len(hosts)``; each is started with ``ssh HOST 'cd WORKDIR && env
DMLC_...=... CMD'`` (``--ssh`` to add ssh options, ``--workdir`` default:
the current folder, ``--python`` default: this interpreter's path; both
must exist on every host, e.g. a shared file system or the same venv
path). Each process listens only on its host's address from the
hostfile (``DMLC_NODE_HOST``), not on every interface. The first host's
address must be reachable by all, ssh must log in without a password,
and ``--port`` should name a port free on the first host (without it the
launcher picks one that is free here)::

    # on machine A (10.0.0.1), with B = 10.0.0.2
    printf '10.0.0.1\\n10.0.0.2\\n' > hosts
    python -m d2l_cnn.launch -n 2 -s 2 -H hosts --port 9091 -- \\
        python -m d2l_cnn.train resnet --kvstore dist_sync --out runs/d

MXNet's parameter server has no authentication and no encryption: run it
only on a network you trust (a lab's private network, a cluster's).

Clusters that start jobs with MPI: ``--launcher mpi`` runs the
scheduler here, at ``--root ADDR`` (an address of this machine every
rank reaches; default 127.0.0.1, everything on this machine), and starts
the servers and the workers as two ``mpirun -np N -x DMLC_...`` jobs;
``--mpirun "mpirun --hostfile FILE"`` says where (Open MPI's options);
each rank's lines show as ``[worker RANK]`` (its MPI rank), whole even
when the ranks write at the same moment.
Under SLURM, inside an allocation (``salloc -N 2 -n 4``), Open MPI's
``mpirun`` finds the allocated nodes by itself: ``python -m
d2l_cnn.launch --launcher mpi --root $(hostname -i) -n 2 -s 2 -- ...``
(untested: no SLURM here).

Stopping a remote process works without a terminal: its shell also
waits for ssh's standard input to close, which happens when the
launcher stops the ssh client, and then kills the command.
Environment variables ``PYTHONPATH``, ``OMP_NUM_THREADS``, ``MXNET_*``,
``PS_*`` and ``DMLC_INTERFACE`` are passed on when set (``--env
NAME=VALUE`` adds more).
"""
import argparse
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time

from .errors import OneLineParser, UsageError, run_command
from .mpi import RankLines, mpirun_command

LOOPBACK = '127.0.0.1'
# the server loop runs on import of mxnet; d2l_cnn (its compat module)
# first, or MXNet 1.9.1 cannot import on numpy >= 1.24
SERVER_CODE = 'import d2l_cnn'
DEFAULT_SSH = 'ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new'
PASS_ENV_PREFIXES = ('MXNET_', 'PS_')
PASS_ENV = ('PYTHONPATH', 'OMP_NUM_THREADS', 'DMLC_INTERFACE')
STATUS_TIMEOUT = 124


def free_port(host=LOOPBACK):
    """A TCP port nobody listens on at ``host`` (right now)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def check_port_free(port, host=LOOPBACK):
    """``UsageError`` if something listens on ``port`` here already.

    Without this check the scheduler dies with MXNet's traceback.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # a port left in TIME_WAIT by an earlier job is free to reuse
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            raise UsageError('--port %d is taken on %s (%s); choose another '
                             'or leave --port out to use a free one'
                             % (port, host, e.strerror or e)) from None


def read_hostfile(path):
    """Hosts of ``path``: one per line, blank lines and ``#`` ignored."""
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise UsageError('cannot read hostfile %s: %s'
                         % (path, e.strerror or e)) from None
    hosts = []
    for line in lines:
        line = line.split('#', 1)[0].strip()
        if line:
            if len(line.split()) != 1:
                raise UsageError('hostfile %s: one host per line, not %r'
                                 % (path, line))
            hosts.append(line)
    if not hosts:
        raise UsageError('hostfile %s lists no host' % path)
    return hosts


def address(host):
    """The network address of a hostfile entry (``user@`` removed)."""
    return host.rsplit('@', 1)[-1]


def status_of(returncode):
    """A shell's exit status for a ``Popen.returncode``."""
    return 128 - returncode if returncode < 0 else returncode


def describe_exit(returncode):
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = 'signal %d' % -returncode
        return 'was killed by %s' % name
    return 'exited with status %d' % returncode


class Job:
    """One process of the job: its role, index, command and environment.

    Under ``--launcher mpi`` one job is the ``mpirun`` that starts all the
    servers (or all the workers); its ``name`` is then 'servers'
    ('workers') and ``tagged`` is true: its output comes tagged by rank.
    """

    def __init__(self, role, index, argv, env, host=None, name=None,
                 tagged=False):
        self.role, self.index = role, index
        self.argv, self.env, self.host = list(argv), dict(env), host
        self._name = name
        self.tagged = tagged  # an mpirun of ranks: output tagged by rank
        self.proc = None
        self.readers = []

    @property
    def name(self):
        if self._name:
            return self._name
        return self.role if self.role == 'scheduler' else \
            '%s %d' % (self.role, self.index)

    def poll(self):
        return None if self.proc is None else self.proc.poll()


def remote_command(job, workdir, ssh):
    """``ssh HOST 'sh -c ...'`` that runs ``job`` on its host.

    The remote shell starts the command in the background, kills it when
    ssh's standard input closes (the launcher stopped this ssh client)
    and exits with the command's status.
    """
    env = ' '.join('%s=%s' % (k, shlex.quote(v))
                   for k, v in sorted(job.env.items()))
    cmd = ' '.join(shlex.quote(a) for a in job.argv)
    # sh gives background jobs /dev/null as input: keep ssh's as fd 3
    script = ('cd %s || exit 1; exec 3<&0; env %s %s </dev/null 3<&- & '
              'pid=$!; (cat <&3 >/dev/null 2>&1; kill -TERM $pid '
              '2>/dev/null) >/dev/null 2>&1 & exec 3<&-; wait $pid'
              % (shlex.quote(workdir), env, cmd))
    return shlex.split(ssh) + [job.host, 'sh -c %s' % shlex.quote(script)]


def _check_counts(command, num_workers, num_servers, port):
    if num_workers < 1 or num_servers < 1:
        raise UsageError('need at least one worker (-n) and one server '
                         '(-s) for dist_sync')
    if not command:
        raise UsageError('no worker command: put it after --, e.g. -- '
                         'python -m d2l_cnn.train lenet --kvstore dist_sync')
    if port is not None and not 0 < port < 65536:
        raise UsageError('--port must be 1..65535, not %d' % port)


def _plan_mpi(command, num_workers, num_servers, port, python, extra_env,
              mpirun, root):
    """Scheduler here; servers and workers as two ``mpirun`` jobs."""
    _check_counts(command, num_workers, num_servers, port)
    if port:
        check_port_free(port, root)
    port = port or free_port(root)
    common = {'DMLC_PS_ROOT_URI': root, 'DMLC_PS_ROOT_PORT': str(port),
              'DMLC_NUM_SERVER': str(num_servers),
              'DMLC_NUM_WORKER': str(num_workers)}
    for key, value in os.environ.items():  # what remote ranks lack
        if key in PASS_ENV or key.startswith(PASS_ENV_PREFIXES):
            common.setdefault(key, value)
    common.update(extra_env or {})
    if root == LOOPBACK:  # all on this machine: listen on loopback only
        common['DMLC_NODE_HOST'] = LOOPBACK
    server = [python or sys.executable, '-c', SERVER_CODE]
    local = {}
    if hasattr(os, 'geteuid') and os.geteuid() == 0:
        # Open MPI refuses root unless told that it is meant
        local = {'OMPI_ALLOW_RUN_AS_ROOT': '1',
                 'OMPI_ALLOW_RUN_AS_ROOT_CONFIRM': '1'}
    jobs = [Job('scheduler', 0, server,
                dict(common, DMLC_ROLE='scheduler', DMLC_NODE_HOST=root))]
    for role, num, argv in (('server', num_servers, server),
                            ('worker', num_workers, command)):
        env = dict(common, DMLC_ROLE=role)
        jobs.append(Job(role, 0, mpirun_command(mpirun, num, env, argv),
                        local, name=role + 's', tagged=True))
    return jobs, port


def plan(command, num_workers, num_servers, hosts=None, port=None,
         python=None, extra_env=None, launcher=None, mpirun='mpirun',
         root=None):
    """The jobs to start: scheduler, servers and workers, in that order.

    Without ``hosts`` everything runs here on 127.0.0.1; with them the
    scheduler runs on ``hosts[0]`` and server/worker i on
    ``hosts[i % len(hosts)]``. With ``launcher='mpi'`` the scheduler runs
    here (at ``root``, default 127.0.0.1) and two ``mpirun`` jobs start
    the servers and the workers wherever ``mpirun`` (e.g. ``mpirun
    --hostfile FILE``) puts them. Returns ``(jobs, port)``.
    """
    if launcher == 'mpi':
        if hosts:
            raise UsageError('with --launcher mpi, give the hosts to '
                             'mpirun (--mpirun "mpirun --hostfile FILE"), '
                             'not -H')
        return _plan_mpi(command, num_workers, num_servers, port, python,
                         extra_env, mpirun, root or LOOPBACK)
    if root is not None:
        raise UsageError('--root goes with --launcher mpi (with -H the '
                         'scheduler runs on the first host)')
    _check_counts(command, num_workers, num_servers, port)
    python = python or sys.executable
    if port and not hosts:
        check_port_free(port)
    port = port or free_port()
    root = address(hosts[0]) if hosts else LOOPBACK
    common = {'DMLC_PS_ROOT_URI': root, 'DMLC_PS_ROOT_PORT': str(port),
              'DMLC_NUM_SERVER': str(num_servers),
              'DMLC_NUM_WORKER': str(num_workers)}
    if hosts:
        # what the remote shells do not inherit from us
        for key, value in os.environ.items():
            if key in PASS_ENV or key.startswith(PASS_ENV_PREFIXES):
                common.setdefault(key, value)
    common.update(extra_env or {})

    def host_of(i):
        return hosts[i % len(hosts)] if hosts else None

    def env(role, host):
        return dict(common, DMLC_ROLE=role,
                    DMLC_NODE_HOST=address(host) if host else LOOPBACK)

    server = [python, '-c', SERVER_CODE]
    jobs = [Job('scheduler', 0, server, env('scheduler', host_of(0)),
                host_of(0))]
    jobs += [Job('server', i, server, env('server', host_of(i)), host_of(i))
             for i in range(num_servers)]
    jobs += [Job('worker', i, command, env('worker', host_of(i)),
                 host_of(i)) for i in range(num_workers)]
    return jobs, port


class Launcher:
    """Starts jobs, forwards their output, stops them all on a failure."""

    def __init__(self, jobs, workdir=None, ssh=DEFAULT_SSH, grace=10.0,
                 stdout=None, stderr=None):
        self.jobs = jobs
        self.workdir = workdir or os.getcwd()
        self.ssh = ssh
        self.grace = grace
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self._lock = threading.Lock()

    def say(self, message):
        self._write(self.stderr, '[launch] %s\n' % message)

    def _write(self, stream, text):
        with self._lock:
            stream.write(text)
            stream.flush()

    def _forward(self, pipe, stream, job):
        """Copy a job's pipe to ``stream``, each line with whose it is.

        An mpirun job's lines are put back together per rank and shown
        as ``[worker RANK]`` (``[workers]`` for mpirun's own)."""
        ranks = RankLines() if job.tagged else None

        def show(lines):
            for rank, line in lines:
                name = job.name if rank is None else \
                    '%s %d' % (job.role, rank)
                try:
                    self._write(stream, '[%s] %s\n' % (name, line))
                except (OSError, ValueError):
                    pass  # our output is gone (| head): keep draining

        for raw in iter(pipe.readline, b''):
            text = raw.decode('utf-8', 'replace')
            show(ranks.feed(text) if ranks else
                 [(None, text.rstrip('\r\n'))])
        if ranks:
            show(ranks.close())
        pipe.close()

    def start(self, job):
        if job.host is None:
            argv, env = job.argv, dict(os.environ, **job.env)
            stdin = subprocess.DEVNULL
        else:
            argv, env = remote_command(job, self.workdir, self.ssh), None
            stdin = subprocess.PIPE  # closing it stops the remote command
        try:
            job.proc = subprocess.Popen(
                argv, env=env, cwd=self.workdir if job.host is None else None,
                stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                start_new_session=True)  # its own group: we stop it whole
        except OSError as e:
            raise UsageError('cannot start %s (%s): %s'
                             % (job.name, argv[0], e.strerror or e)) from None
        for pipe, stream in ((job.proc.stdout, self.stdout),
                             (job.proc.stderr, self.stderr)):
            t = threading.Thread(target=self._forward,
                                 args=(pipe, stream, job), daemon=True)
            t.start()
            job.readers.append(t)

    def _signal(self, job, sig):
        try:
            os.killpg(job.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self, jobs=None):
        """SIGTERM every running job, SIGKILL what is left after grace."""
        running = [j for j in (jobs or self.jobs)
                   if j.proc is not None and j.proc.poll() is None]
        for job in running:
            if job.proc.stdin:
                try:
                    job.proc.stdin.close()
                except OSError:
                    pass
            self._signal(job, signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        for job in running:
            try:
                job.proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say('%s did not stop within %gs: killing it'
                         % (job.name, self.grace))
                self._signal(job, signal.SIGKILL)
                job.proc.wait()
        # the group may still hold children (a shell's): end them too
        for job in running:
            self._signal(job, signal.SIGKILL)

    def _flush(self):
        for job in self.jobs:
            for t in job.readers:
                t.join(timeout=5)

    def run(self, timeout=None, poll=0.05):
        """Start everything, wait, and return the job's exit status."""
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            for job in self.jobs:
                self.start(job)
            status = self._wait(deadline, poll)
        except KeyboardInterrupt:
            self.say('interrupted: stopping all processes')
            self.stop()
            status = 130
        except BaseException:
            self.stop()  # e.g. a process that could not start
            raise
        self._flush()
        return status

    def _wait(self, deadline, poll):
        workers = [j for j in self.jobs if j.role == 'worker']
        others = [j for j in self.jobs if j.role != 'worker']
        early = {}  # server/scheduler that exited 0 -> when we saw it
        while True:
            if all(w.poll() == 0 for w in workers):
                break
            for job in self.jobs:
                rc = job.poll()
                if rc == 0 and job.role != 'worker':
                    # fine once the workers have said goodbye; they may
                    # still be exiting, so give them the grace period
                    early.setdefault(job.name, time.monotonic())
                    if time.monotonic() - early[job.name] <= self.grace:
                        continue
                    rc, why = 1, ('exited while the workers were still '
                                  'running')
                elif rc is None or rc == 0:
                    continue
                else:
                    why = describe_exit(rc)
                self.say('%s %s: stopping the others' % (job.name, why))
                self.stop()
                return status_of(rc)
            if deadline is not None and time.monotonic() > deadline:
                self.say('timed out: stopping all processes')
                self.stop()
                return STATUS_TIMEOUT
            time.sleep(poll)
        # workers done: servers and scheduler finish on their own
        end = time.monotonic() + self.grace
        if deadline is not None:
            end = min(end, deadline)
        while any(j.poll() is None for j in others):
            if time.monotonic() > end:
                self.say('servers still running after the workers '
                         'finished: stopping them')
                self.stop(others)
                break
            time.sleep(poll)
        for job in others:
            rc = job.poll()
            if rc not in (0, None, -signal.SIGTERM, -signal.SIGKILL):
                self.say('%s %s after the workers finished'
                         % (job.name, describe_exit(rc)))
        return 0


def launch(command, num_workers, num_servers=1, hostfile=None, port=None,
           timeout=None, grace=10.0, python=None, ssh=DEFAULT_SSH,
           workdir=None, extra_env=None, server_command=None, stdout=None,
           stderr=None, launcher=None, mpirun='mpirun', root=None):
    """Run ``command`` as ``num_workers`` dist_sync workers; exit status.

    ``server_command`` replaces ``python -c "import mxnet"`` for the
    scheduler and servers (for tests of the process handling);
    ``launcher='mpi'`` starts servers and workers through ``mpirun``.
    """
    hosts = read_hostfile(hostfile) if hostfile else None
    jobs, port = plan(command, num_workers, num_servers, hosts, port,
                      python, extra_env, launcher, mpirun, root)
    if server_command is not None:
        for job in jobs:
            if job.role != 'worker':
                job.argv = list(server_command)
    how = ' over ssh' if hosts else ' through mpirun' \
        if launcher == 'mpi' else ''
    starter = Launcher(jobs, workdir, ssh, grace, stdout, stderr)
    starter.say('scheduler at %s:%d, %d server(s), %d worker(s)%s'
                % (jobs[0].env['DMLC_PS_ROOT_URI'], port, num_servers,
                   num_workers, how))
    return starter.run(timeout)


def build_parser():
    p = OneLineParser(
        prog='python -m d2l_cnn.launch',
        usage='%(prog)s -n WORKERS [-s SERVERS] [-H HOSTFILE] [options] '
              '-- COMMAND ...',
        description='Start the MXNet parameter-server scheduler, servers '
                    'and workers of a dist_sync job (local by default).')
    p.add_argument('-n', '--num-workers', type=int, required=True)
    p.add_argument('-s', '--num-servers', type=int, default=1)
    p.add_argument('-H', '--hostfile', default=None,
                   help='one host per line: start processes over ssh')
    p.add_argument('--port', type=int, default=None,
                   help="scheduler port (default: a free one)")
    p.add_argument('--timeout', type=float, default=None,
                   help='stop everything after this many seconds')
    p.add_argument('--grace', type=float, default=10.0,
                   help='seconds between SIGTERM and SIGKILL (default 10)')
    p.add_argument('--python', default=None,
                   help='python for scheduler/servers (default: this one)')
    p.add_argument('--ssh', default=DEFAULT_SSH,
                   help='ssh command (default: %(default)r)')
    p.add_argument('--workdir', default=None,
                   help='folder the processes start in (default: here)')
    p.add_argument('--env', action='append', default=[],
                   metavar='NAME=VALUE', help='extra environment variable')
    p.add_argument('--launcher', choices=('local', 'ssh', 'mpi'),
                   default=None,
                   help='how servers and workers start: here (default), '
                        'over ssh (with -H) or through mpirun')
    p.add_argument('--mpirun', default='mpirun', metavar='CMD',
                   help='with --launcher mpi: the mpirun command and its '
                        'options, e.g. "mpirun --hostfile hosts"')
    p.add_argument('--root', default=None, metavar='ADDR',
                   help='with --launcher mpi: the address of this machine '
                        'that every rank reaches (default 127.0.0.1)')
    p.add_argument('command', nargs=argparse.REMAINDER,
                   help='the worker command, after --')
    return p


def main(argv=None):
    """Entry point: the job's exit status (2 for usage errors)."""
    args = build_parser().parse_args(argv)
    command = args.command[1:] if args.command[:1] == ['--'] \
        else args.command

    def body():
        extra = {}
        for item in args.env:
            key, sep, value = item.partition('=')
            if not sep or not key:
                raise UsageError('--env wants NAME=VALUE, not %r' % item)
            extra[key] = value
        if args.grace < 0 or (args.timeout is not None and args.timeout <= 0):
            raise UsageError('--grace must be >= 0 and --timeout > 0')
        if args.launcher == 'ssh' and not args.hostfile:
            raise UsageError('--launcher ssh needs -H HOSTFILE')
        if args.launcher == 'local' and args.hostfile:
            raise UsageError('--launcher local runs everything here: '
                             'leave out -H')
        return launch(command, args.num_workers, args.num_servers,
                      args.hostfile, args.port, args.timeout, args.grace,
                      args.python, args.ssh, args.workdir, extra,
                      launcher=args.launcher, mpirun=args.mpirun,
                      root=args.root)
    return run_command(body, args.debug)


if __name__ == '__main__':
    sys.exit(main())
