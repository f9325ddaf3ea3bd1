"""The package's layout: imports go one way, each name has one home.

Read from the source with ``ast`` (nothing is imported), so a cycle or a
second copy of a file name fails here before it confuses a reader.
"""
import ast
import os
import subprocess
import sys
import textwrap

import pytest

from conftest import subprocess_env

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), 'd2l_cnn')
# The files and folders of a run folder (d2l_cnn.rundir), the names of
# a checkpoint's files (d2l_cnn.checkpoint) and compare's run folders.
RUN_FOLDER_NAMES = ('run.json', 'metrics.json', 'metrics.csv',
                    'curves.png', 'model.params', 'trainer.states',
                    'trainer.json', 'meta.json', 'predictions.png',
                    'explain-%s.png', '.lock', 'checkpoints', 'epoch-%04d',
                    '%s-seed%d')
MAX_LINES = 600
# Longer modules that hold one concept: the chapter's figures share one
# canvas, one language switch and one set of sizes and colours.
LONG_BUT_ONE_CONCEPT = ('d2l_cnn.figures',)


def modules():
    """``{'d2l_cnn.x.y': (path, ast tree)}`` of every module."""
    found = {}
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if not name.endswith('.py'):
                continue
            path = os.path.join(folder, name)
            parts = os.path.relpath(path, os.path.dirname(PACKAGE))[:-3]
            parts = parts.split(os.sep)
            if parts[-1] == '__init__':
                parts = parts[:-1]
            with open(path, encoding='utf-8') as f:
                found['.'.join(parts)] = (path, ast.parse(f.read(), path))
    return found


MODULES = modules()


def is_package(name):
    return MODULES[name][0].endswith('__init__.py')


def imported(name, tree):
    """Package modules ``name`` imports anywhere (functions, __main__)."""
    here = name if is_package(name) else name.rpartition('.')[0]
    targets = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            bases = [a.name for a in node.names]
            names = [None]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here
                for _ in range(node.level - 1):
                    base = base.rpartition('.')[0]
                base = '.'.join(p for p in (base, node.module) if p)
            else:
                base = node.module or ''
            bases, names = [base], [a.name for a in node.names]
        else:
            continue
        for base in bases:
            if not base.startswith('d2l_cnn'):
                continue
            for alias in names:
                full = '%s.%s' % (base, alias) if alias else base
                targets.add(full if full in MODULES else base)
    targets.discard(name)
    return targets


GRAPH = {name: imported(name, tree) for name, (_, tree) in MODULES.items()}


def test_no_import_cycle():
    done, path = set(), []

    def visit(name):
        if name in path:
            cycle = path[path.index(name):] + [name]
            pytest.fail('import cycle: ' + ' -> '.join(cycle))
        if name in done:
            return
        path.append(name)
        for target in sorted(GRAPH[name]):
            visit(target)
        path.pop()
        done.add(name)

    for name in sorted(GRAPH):
        visit(name)


def test_nothing_imports_the_train_command():
    """``python -m d2l_cnn.train`` runs train.py once: no module of the
    package imports d2l_cnn.train (it only re-exports for notebooks)."""
    assert [n for n, targets in GRAPH.items()
            if 'd2l_cnn.train' in targets] == []


def literals(tree):
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef,
                                       ast.FunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)}
    return [node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in docstrings]


@pytest.mark.parametrize('file_name', RUN_FOLDER_NAMES)
def test_each_run_folder_name_has_one_home(file_name):
    homes = [name for name, (_, tree) in MODULES.items()
             if file_name in literals(tree)]
    assert len(homes) == 1, homes


def test_no_module_sets_sys_argv():
    for name, (_, tree) in MODULES.items():
        for node in ast.walk(tree):
            targets = (node.targets if isinstance(node, ast.Assign) else
                       [node.target] if isinstance(
                           node, (ast.AugAssign, ast.AnnAssign)) else [])
            for target in targets:
                while isinstance(target, ast.Subscript):
                    target = target.value
                assert ast.unparse(target) != 'sys.argv', name


def test_no_private_name_crosses_modules():
    for name, (_, tree) in MODULES.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (
                    node.level or (node.module or '').startswith('d2l_cnn')):
                private = [a.name for a in node.names
                           if a.name.startswith('_')
                           and a.name != '__version__']
                assert not private, (name, private)


def test_modules_are_short():
    for name, (path, _) in MODULES.items():
        if name in LONG_BUT_ONE_CONCEPT:
            continue
        with open(path, encoding='utf-8') as f:
            assert sum(1 for _ in f) <= MAX_LINES, name


def test_the_train_module_is_an_attribute_of_the_package():
    """``import d2l_cnn; d2l_cnn.train.train_ch5`` (as 5.5's notebook
    writes it) works although the package never imports d2l_cnn.train."""
    import d2l_cnn
    from d2l_cnn import loop
    assert d2l_cnn.train.train_ch5 is loop.train_ch5
    with pytest.raises(AttributeError):
        d2l_cnn.no_such_name


def test_train_command_runs_train_py_once():
    """Count the executions of train.py's module code (an audit hook sees
    every ``exec``) during ``python -m d2l_cnn.train --help``."""
    code = textwrap.dedent('''
        import os, runpy, sys
        runs = []

        def hook(event, args):
            if event == 'exec' and hasattr(args[0], 'co_filename'):
                path = args[0].co_filename
                if path.endswith(os.path.join('d2l_cnn', 'train.py')):
                    runs.append(path)
        sys.addaudithook(hook)
        sys.argv[1:] = ['--help']
        try:
            runpy.run_module('d2l_cnn.train', run_name='__main__',
                             alter_sys=True)
        except SystemExit as e:
            assert e.code in (0, None), e.code
        print('train.py ran %d time(s)' % len(runs), file=sys.stderr)
        ''')
    result = subprocess.run([sys.executable, '-W', 'error::RuntimeWarning',
                             '-c', code], capture_output=True, text=True,
                            env=subprocess_env(), timeout=300)
    assert result.returncode == 0, result.stderr
    assert 'usage: python -m d2l_cnn.train' in result.stdout
    assert 'train.py ran 1 time(s)' in result.stderr
