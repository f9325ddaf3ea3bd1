"""The classroom promise: on a laptop CPU the default run learns.

One real training run, the only long one in the suite: NiN with its
``cpu`` recipe, started exactly as a student starts it, must end above
0.9 test accuracy on the embedded digits (the book's recipe sits at
chance there for minutes).
"""
import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT, subprocess_env


@pytest.mark.slow
def test_nin_learns_on_a_cpu_with_the_default_command(tmp_path):
    out = tmp_path / 'nin'
    proc = subprocess.run(
        [sys.executable, '-m', 'd2l_cnn.train', 'nin', '--data', 'mnist5k',
         '--out', str(out), '--no-progress'],
        cwd=ROOT, env=subprocess_env(), capture_output=True, text=True,
        timeout=1200)
    assert proc.returncode == 0, proc.stderr[-2000:]
    # nothing but the run on the screen: no warning from MXNet or us
    assert 'Warning' not in proc.stderr, proc.stderr[-2000:]
    first = proc.stdout.splitlines()[0]
    # the first line says which recipe runs, and why
    assert first.startswith("run: the cpu recipe, not the book's"), first
    assert 'no GPU' in first
    history = json.loads((out / 'metrics.json').read_text())
    assert len(history) == 6  # the cpu recipe's epochs
    final = history[-1]['test_acc']
    assert final >= 0.95, [round(r['test_acc'], 3) for r in history]
    assert os.path.exists(out / 'run.json')
