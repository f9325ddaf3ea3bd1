"""d2l_cnn.compat: numpy's removed names, the one-line refusals.

Every test here is in the smoke set, which CI runs on each supported
Python with the numpy setup.cfg installs there (1.23.5 or 1.26.4) and
the simulated Colab runtime runs on numpy 2.
"""
import ast
import os
import re
import subprocess
import sys
import textwrap
import types

import numpy
import pytest

import d2l_cnn  # noqa: F401  (restores the names before the scan below)
from d2l_cnn import compat
from conftest import ROOT, subprocess_env

pytestmark = pytest.mark.smoke

MXNET_DIR = os.path.dirname(compat.mxnet_library() or '')


def mxnet_numpy_reads():
    """{name: file} of every numpy attribute mxnet 1.9.1's code reads.

    Attributes of the names ``import numpy`` binds (in code, not in
    docstrings) and the operator names that numpy_dispatch_protocol.py
    looks up with getattr (its lists of strings).
    """
    reads = {}
    for folder, _, files in os.walk(MXNET_DIR):
        for f in files:
            if not f.endswith('.py'):
                continue
            path = os.path.join(folder, f)
            with open(path, encoding='utf-8') as fh:
                source = fh.read()
            aliases = set(re.findall(r'^\s*import numpy as (\w+)\s*(?:#.*)?$',
                                     source, re.M))
            if re.search(r'^\s*import numpy\s*(?:#.*)?$', source, re.M):
                aliases.add('numpy')
            if not aliases and f != 'numpy_dispatch_protocol.py':
                continue
            tree = ast.parse(source)
            for node in ast.walk(tree):
                if (isinstance(node, ast.Attribute)
                        and isinstance(node.value, ast.Name)
                        and node.value.id in aliases):
                    reads.setdefault(node.attr, os.path.relpath(path,
                                                                MXNET_DIR))
            if f == 'numpy_dispatch_protocol.py':
                for node in ast.walk(tree):
                    if isinstance(node, ast.List):
                        for elt in node.elts:
                            if isinstance(elt, ast.Constant) and \
                                    isinstance(elt.value, str):
                                reads.setdefault(elt.value, f)
    return reads


def test_every_numpy_name_mxnet_reads_is_there():
    assert MXNET_DIR, 'mxnet is not installed'
    reads = mxnet_numpy_reads()
    assert len(reads) > 200  # the scan found mxnet's code
    missing = []
    for name, where in sorted(reads.items()):
        obj = numpy
        for part in name.split('.'):
            obj = getattr(obj, part, None)
        if obj is None and name not in ('newaxis',):
            missing.append('%s (%s)' % (name, where))
    assert not missing, 'numpy %s lacks %s' % (numpy.__version__, missing)


def test_the_restored_names_are_the_ones_mxnet_reads():
    # compat's list is exactly the removed names the scan finds
    # (a name numpy still has here is checked to be read all the same)
    reads = mxnet_numpy_reads()
    listed = set(compat.removed_names(numpy))
    assert listed - {'compat'} <= set(reads) | {'int'}
    assert 'compat' in reads  # np.compat.basestring, in pad
    for name in ('float', 'complex', 'object', 'str'):
        assert name not in listed and name not in reads


def test_restores_only_what_numpy_lacks():
    fake = types.ModuleType('numpy')
    for name in ('all', 'any', 'prod', 'round', 'sort', 'isin', 'asarray'):
        setattr(fake, name, getattr(numpy, name))
    fake.__version__ = '2.9.0'
    fake.bool = 'numpy-own-bool'  # a name numpy still has: kept
    restored = compat.restore_numpy_names(fake)
    assert 'bool' not in restored and fake.bool == 'numpy-own-bool'
    assert 'trapz' not in restored  # no trapezoid to stand for it
    assert {'PZERO', 'NaN', 'sometrue', 'product', 'msort', 'npv',
            'int', 'compat', 'in1d'} <= set(restored)
    assert fake.sometrue is numpy.any and fake.product is numpy.prod
    assert fake.NINF == -float('inf') and str(fake.NZERO) == '-0.0'
    assert fake.compat.basestring is str
    assert fake.msort([[3, 1], [2, 4]]).tolist() == [[2, 1], [3, 4]]
    assert fake.in1d([[1, 5]], [5]).tolist() == [False, True]
    with pytest.raises(NotImplementedError, match=r'np\.npv was removed.*'
                       r'numpy 1\.26\.4.*numpy_financial'):
        fake.npv(0.1, [1, 2])
    assert compat.restore_numpy_names(fake) == []  # nothing twice


def test_real_numpy_is_left_alone_where_it_has_the_names():
    if numpy.__version__.startswith('1.23.'):
        assert compat.restore_numpy_names() == []
        assert 'bool' not in vars(numpy)  # still numpy's warning alias
    for name in compat.removed_names(numpy):
        if name != 'trapz' or hasattr(numpy, 'trapezoid'):
            assert hasattr(numpy, name), name


def test_mx_np_works_on_this_numpy():
    import mxnet as mx
    x = mx.np.array([[1., 2.], [3., 4.]])
    assert float(x.sum()) == 10.0
    assert mx.np.pad(x, ((1, 1), (1, 1)),  # reads np.compat
                     mode='constant').shape == (4, 4)
    assert mx.np.bool is not None and mx.np.PZERO == 0.0


def test_mxnet_imported_first_then_d2l_cnn(tmp_path):
    # a notebook's first cell `import mxnet` fails on numpy >= 1.24;
    # `import d2l_cnn` afterwards imports it again, whole
    child = textwrap.dedent('''
        import numpy
        try:
            import mxnet
            first = 'worked'
        except AttributeError as e:
            first = 'failed: %s' % str(e).splitlines()[0]
        import d2l_cnn
        import mxnet as mx
        net = d2l_cnn.get_model('lenet')
        net.initialize()
        print(first)
        print(net(mx.nd.ones((2, 1, 28, 28))).shape)
    ''')
    r = subprocess.run([sys.executable, '-c', child], capture_output=True,
                       text=True, env=subprocess_env(), cwd=str(tmp_path),
                       timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    first, shape = r.stdout.splitlines()[-2:]
    assert shape == '(2, 10)'
    if numpy.__version__.startswith('1.23.'):
        assert first == 'worked'
    else:
        # numpy 1.24-1.26: np.bool; numpy 2: np.PZERO
        assert re.match(r"failed: (module 'numpy' has no attribute 'bool'|"
                        r"`np.PZERO` was removed)", first), first


@pytest.mark.parametrize('version', [(3, 8), (3, 14), (2, 7), (4, 0)])
def test_python_refused(version):
    line = compat.python_problem(version)
    assert '\n' not in line
    assert 'CPython 3.9 to 3.13' in line and '%d.%d' % version in line
    assert 'WSL2' in line and 'Colab' in line


@pytest.mark.parametrize('version', compat.SUPPORTED_PYTHONS)
def test_python_supported(version):
    assert compat.python_problem(version) is None


def test_this_python_is_supported():
    assert compat.python_problem() is None
    assert compat.platform_problem() is None


@pytest.mark.parametrize('system, machine', [
    ('Darwin', 'arm64'), ('Darwin', 'x86_64'), ('Windows', 'AMD64'),
    ('Linux', 'aarch64'), ('Linux', 'ppc64le')])
def test_machine_refused(system, machine):
    line = compat.platform_problem(system, machine)
    assert '\n' not in line and 'Linux on x86_64' in line
    assert system in line and machine.lower() in line
    assert 'WSL2' in line and 'Colab' in line


def test_command_prints_one_line_and_exits(monkeypatch, capsys):
    monkeypatch.setattr(compat.platform, 'system', lambda: 'Darwin')
    monkeypatch.setattr(compat.platform, 'machine', lambda: 'arm64')
    monkeypatch.setattr(compat, 'running_a_command', lambda: True)
    with pytest.raises(SystemExit) as e:
        compat.prepare()
    assert e.value.code == 1
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and err.startswith('error: d2l_cnn needs '
                                                   'Linux on x86_64')


def test_library_import_raises_one_line(monkeypatch):
    monkeypatch.setattr(compat.sys, 'version_info', (3, 14, 0))
    monkeypatch.setattr(compat, 'running_a_command', lambda: False)
    with pytest.raises(ImportError, match=r'^d2l_cnn runs on CPython 3\.9 '
                       r'to 3\.13 \(MXNet 1\.9\.1 and its numpy\), not '
                       r'3\.14: [^\n]*$'):
        compat.prepare()


def test_running_a_command():
    assert compat.running_a_command(['python', '-m', 'd2l_cnn.train'])
    assert compat.running_a_command(['/venv/bin/d2l-cnn-train', 'nin'])
    assert not compat.running_a_command(['python', '-c', 'import d2l_cnn'])
    assert not compat.running_a_command(['python', '-m', 'pytest'])


LDD = """\
\tlinux-vdso.so.1 (0x00007ffd)
\tlibcudart.so.11.0 => not found
\tlibcudnn.so.8 => not found
\tlibnccl.so.2 => not found
\tlibgomp.so.1 => /lib/x86_64-linux-gnu/libgomp.so.1 (0x00007f)
"""


def test_missing_cuda_libraries_are_named_with_their_packages():
    missing = compat.missing_libraries(ldd_output=LDD)
    assert missing == ['libcudart.so.11.0', 'libcudnn.so.8', 'libnccl.so.2']
    line = compat.load_failure(OSError('libcudart.so.11.0: cannot open '
                                       'shared object file'), missing)
    assert '\n' not in line
    for text in ('libcudart.so.11.0, libcudnn.so.8, libnccl.so.2 are '
                 'missing', 'nvidia-cuda-runtime-cu11',
                 "'nvidia-cudnn-cu11<9'", 'nvidia-nccl-cu11',
                 'LD_LIBRARY_PATH', 'CPU build'):
        assert text in line


def test_the_installed_mxnet_misses_no_library():
    assert compat.missing_libraries() == []


def test_missing_libgomp_from_the_error_alone():
    line = compat.load_failure(OSError(
        'libgomp.so.1: cannot open shared object file: No such file or '
        'directory'), missing=[])
    assert line.startswith('MXNet cannot load: libgomp.so.1 is missing')
    assert 'apt-get install libgomp1' in line and 'LD_LIBRARY' not in line


@pytest.mark.parametrize('module, fix', [
    ('distutils', 'pip install setuptools (distutils left the standard '
     'library in Python 3.12)'),
    ('requests', 'pip install requests'),
    ('graphviz.backend', 'pip install graphviz')])
def test_missing_python_module_names_its_package(module, fix):
    # a venv without setuptools on 3.12, a --no-deps install without
    # requests (both seen in the simulated Colab runtime)
    error = ModuleNotFoundError('No module named %r' % module, name=module)
    line = compat.load_failure(error, missing=[])
    assert line == ('MXNet cannot load: it imports %s, which this Python '
                    'does not have; %s' % (module.split('.')[0], fix))


def test_a_broken_mxnet_is_not_called_missing():
    error = ModuleNotFoundError("No module named 'mxnet._ffi'",
                                name='mxnet._ffi')
    line = compat.load_failure(error, missing=[])
    assert line.startswith('MXNet cannot load (ModuleNotFoundError')
    assert 'reinstall' in line


FAKE_MXNET = 'raise OSError("libgomp.so.1: cannot open shared object ' \
    'file: No such file or directory")\n'


@pytest.mark.parametrize('how', ['command', 'library'])
def test_mxnet_failing_to_load(tmp_path, how):
    # a broken mxnet first on the path, as on a slim image without libgomp
    (tmp_path / 'mxnet').mkdir()
    (tmp_path / 'mxnet' / '__init__.py').write_text(FAKE_MXNET)
    env = subprocess_env()
    env['PYTHONPATH'] = os.pathsep.join([str(tmp_path), env['PYTHONPATH']])
    args = (['-m', 'd2l_cnn.train', 'nin', '--data', 'mnist5k']
            if how == 'command' else ['-c', 'import d2l_cnn'])
    r = subprocess.run([sys.executable] + args, capture_output=True,
                       text=True, env=env, cwd=str(tmp_path), timeout=120)
    assert r.returncode == 1
    last = r.stderr.strip().splitlines()[-1]
    assert 'libgomp.so.1 is missing' in last
    assert 'apt-get install libgomp1' in last
    if how == 'command':  # one line, nothing else
        assert r.stderr.count('\n') == 1 and r.stdout == ''
        assert last.startswith('error: MXNet cannot load')
    else:
        assert last.startswith('d2l_cnn.compat.UnsupportedError: MXNet')


def test_numpy_changed_under_a_running_kernel(monkeypatch):
    import importlib.metadata
    monkeypatch.setattr(importlib.metadata, 'version', lambda name: '0.0.1')
    line = compat.stale_numpy()
    assert line.startswith('numpy %s is loaded but pip has since installed '
                           'numpy 0.0.1: restart the runtime'
                           % numpy.__version__)
    monkeypatch.undo()
    assert compat.stale_numpy() is None


def test_onnx_mapping_tables():
    onnx = pytest.importorskip('onnx')
    tables = compat.onnx_mapping_tables(onnx)
    to_np, to_tensor = tables
    FLOAT, INT64 = onnx.TensorProto.FLOAT, onnx.TensorProto.INT64
    assert to_np[FLOAT] == numpy.dtype('float32')
    assert to_tensor[numpy.dtype('float32')] == FLOAT
    assert to_tensor[numpy.dtype('int64')] == INT64
    try:
        from onnx import mapping  # onnx < 1.16: the tables must agree
    except ImportError:
        return
    for t, dtype in mapping.TENSOR_TYPE_TO_NP_TYPE.items():
        if t in to_np:
            assert to_np[t] == dtype, t
    for dtype, t in mapping.NP_TYPE_TO_TENSOR_TYPE.items():
        assert to_tensor[dtype] == t, dtype


def test_the_metadata_refuses_other_pythons():
    import configparser
    from packaging.specifiers import SpecifierSet
    cfg = configparser.ConfigParser()
    cfg.read(os.path.join(ROOT, 'setup.cfg'))
    spec = SpecifierSet(cfg.get('options', 'python_requires'))
    for version in ('3.9.0', '3.10.13', '3.11.7', '3.12.1', '3.13.0'):
        assert version in spec
    for version in ('2.7.18', '3.6.15', '3.8.18', '3.14.0', '4.0.0'):
        assert version not in spec
    classifiers = cfg.get('metadata', 'classifiers')
    for minor in compat.SUPPORTED_PYTHONS:
        assert 'Python :: %d.%d\n' % minor in classifiers + '\n'


@pytest.mark.parametrize('patch, text', [
    ('sys.version_info = (3, 8, 18)', 'not 3.8: make the venv'),
    ('platform.machine = lambda: "arm64"', 'no build for Linux on arm64')])
def test_setup_py_refuses_in_one_line(patch, text):
    # what pip shows (in its error box) before it resolves anything
    child = 'import runpy, sys, platform; %s; sys.argv = ["setup.py", ' \
        '"--version"]; runpy.run_path("setup.py", run_name="__main__")' \
        % patch
    r = subprocess.run([sys.executable, '-c', child], capture_output=True,
                       text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 1 and r.stdout == ''
    assert r.stderr.count('\n') == 1 and text in r.stderr
