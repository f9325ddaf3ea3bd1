"""roofline: measured roofs, timed layers, cost's numbers, the command."""
import json
import os
import subprocess
import sys

import pytest
from matplotlib.figure import Figure

import d2l_cnn
from conftest import channels, subprocess_env
from d2l_cnn import cost, roofline
from d2l_cnn.errors import UsageError


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """The user's cache folder, here a temporary one."""
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'cache'))
    return tmp_path / 'cache'


def _shape(name, batch=1):
    return (batch, channels(name), d2l_cnn.get_recipe(name, 'cpu').resize,
            d2l_cnn.get_recipe(name, 'cpu').resize)


@pytest.mark.parametrize('name', d2l_cnn.list_models())
def test_points_are_cost_tables_numbers(name):
    net = d2l_cnn.get_model(name)
    shape = _shape(name)
    result = cost.roofline_table(net, shape, peak_gflops=100.0,
                                 bandwidth_gbs=10.0, repeats=1)
    table = cost.cost_table(d2l_cnn.get_model(name), shape)
    assert [r['name'] for r in result['rows']] == \
        [r['name'] for r in table['rows']]
    assert result['ridge'] == pytest.approx(10.0)
    for point, row in zip(result['rows'], table['rows']):
        assert point['flops'] == row['flops'] + row['other_flops']
        assert point['moved_bytes'] == row['moved_bytes']
        assert point['intensity'] == pytest.approx(row['intensity'])
        assert point['seconds'] > 0
        assert point['attainable'] == pytest.approx(
            min(100.0, 10.0 * point['intensity']))
        assert point['bound'] == ('compute' if point['intensity'] >= 10
                                  else 'memory')
        assert point['gflops'] == pytest.approx(
            point['flops'] / point['seconds'] / 1e9)


def test_alexnet_dense_layers_move_right_with_the_batch():
    """At batch 1 a 4096-wide dense layer reads each weight once per
    example (about 0.5 FLOP/B); at batch 128 once per 128 examples."""
    rows = {}
    for batch in (1, 128):
        result = cost.roofline_table(
            d2l_cnn.get_model('alexnet'), (batch, 1, 67, 67),
            peak_gflops=100.0, bandwidth_gbs=10.0, repeats=1)
        rows[batch] = {r['name']: r for r in result['rows']}
    dense = [n for n in rows[1] if rows[1][n]['kind'] == 'Dense']
    assert len(dense) == 3
    for n in dense:
        assert rows[1][n]['intensity'] < 0.6
        assert rows[1][n]['bound'] == 'memory'
    # the two 4096-wide ones: weights dominate what they move
    for n in dense[:2]:
        assert rows[128][n]['intensity'] > 30 * rows[1][n]['intensity']
    convs = [n for n in rows[1] if rows[1][n]['kind'] == 'Conv2D']
    assert all(rows[1][n]['intensity'] > 4 for n in convs)
    assert all(rows[128][n]['bound'] == 'compute' for n in convs)


def test_backward_counts_three_times_the_flops():
    net = d2l_cnn.get_model('lenet')
    forward = cost.roofline_table(net, (4, 1, 28, 28), 100.0, 10.0,
                                  repeats=1)
    both = cost.roofline_table(net, (4, 1, 28, 28), 100.0, 10.0,
                               backward=True, repeats=1)
    for f, b in zip(forward['rows'], both['rows']):
        assert b['flops'] == 3 * f['flops']
        assert b['moved_bytes'] == 2 * f['moved_bytes']


def test_measured_peak_is_below_what_the_processor_can_do():
    bound = roofline.peak_bound_gflops(cores=roofline.threads())
    if bound is None:
        pytest.skip('the kernel reports no clock frequency here')
    peak = roofline.measure_peak(size=1024, repeats=3)
    assert 0 < peak < bound
    bandwidth = roofline.measure_bandwidth(nbytes=64 * 2 ** 20,
                                           repeats=3)
    assert 0 < bandwidth < 10000  # GB/s: no memory system is faster


def test_roofs_are_cached_per_machine_and_measured_again_on_request(
        cache, monkeypatch):
    calls = []

    def fake():
        calls.append(1)
        return dict(peak_gflops=50.0 + len(calls), bandwidth_gbs=5.0,
                    cpu='x', threads=2)
    monkeypatch.setattr(roofline, 'measure_roofs', fake)
    first = roofline.roofs()
    assert first['cached'] is None and first['peak_gflops'] == 51.0
    again = roofline.roofs()
    assert again['cached'] == roofline.cache_path()
    assert again['peak_gflops'] == 51.0 and len(calls) == 1
    assert roofline.roofs(measure=True)['peak_gflops'] == 52.0
    # a damaged cache is measured again, not trusted
    with open(roofline.cache_path(), 'w') as f:
        f.write(json.dumps({'peak_gflops': -1, 'bandwidth_gbs': 'x'}))
    assert roofline.roofs()['peak_gflops'] == 53.0
    # another thread count is another machine
    monkeypatch.setenv('OMP_NUM_THREADS', '7')
    assert roofline.cache_path() != again['cached']


def test_figure_and_table():
    result = cost.roofline_table(d2l_cnn.get_model('lenet'),
                                 (2, 1, 28, 28), 100.0, 10.0, repeats=1)
    text = roofline.format_roofline(result)
    assert text.splitlines()[0].split()[:2] == ['layer', 'FLOPs']
    assert 'ridge 10.0 FLOP/B' in text
    assert isinstance(roofline.roofline_figure([result, result],
                                               titles=['a', 'b']), Figure)
    with pytest.raises(UsageError, match='roofs must be positive'):
        cost.roofline_table(d2l_cnn.get_model('lenet'), (1, 1, 28, 28),
                            0.0, 10.0)


def _command(*args, cwd, cache):
    return subprocess.run(
        [sys.executable, '-m', 'd2l_cnn.cost', *args], cwd=str(cwd),
        capture_output=True, text=True,
        env=subprocess_env(XDG_CACHE_HOME=str(cache), OMP_NUM_THREADS='1'))


def test_command_writes_the_png_and_the_table(tmp_path, cache):
    # roofs cached beforehand: the command reads them, measures nothing
    path = tmp_path / 'roofs.json'
    path.write_text(json.dumps(dict(peak_gflops=80.0, bandwidth_gbs=8.0,
                                    cpu='test', threads=1)))
    done = subprocess.run(
        [sys.executable, '-c', 'from d2l_cnn import roofline; '
         'print(roofline.cache_path())'], capture_output=True, text=True,
        env=subprocess_env(XDG_CACHE_HOME=str(cache), OMP_NUM_THREADS='1'))
    target = done.stdout.strip()
    os.makedirs(os.path.dirname(target))
    os.replace(str(path), target)
    png = tmp_path / 'roof.png'
    done = _command('lenet', '--roofline', '--batch-size', '4', '--png',
                    str(png), cwd=tmp_path, cache=cache)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith('roofs of this machine (test, 1 threads): '
                               'cached in ')
    assert any(line.startswith('conv0 ') for line in lines)
    assert 'peak 80.0 GFLOP/s, bandwidth 8.0 GB/s, ridge 10.0' in \
        done.stdout
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    # an existing picture is kept without --force
    done = _command('lenet', '--roofline', '--png', str(png), cwd=tmp_path,
                    cache=cache)
    assert done.returncode == 2
    assert done.stderr.strip() == ('error: %s exists: pass --force to '
                                   'replace it' % png)


@pytest.mark.parametrize('args, message', [
    (['lenet', '--png', 'x.png'], '--png goes with --roofline'),
    (['lenet', '--roofline', '--png', 'x.jpg'],
     'name a file ending in .png'),
    (['nosuch', '--roofline'], "unknown model 'nosuch'"),
    (['lenet', '--roofline', '--batch-size', '0'], 'must be 1 to'),
])
def test_bad_input_gets_one_line(args, message, tmp_path, cache):
    done = _command(*args, cwd=tmp_path, cache=cache)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert message in done.stderr
    assert not (tmp_path / 'x.png').exists()
