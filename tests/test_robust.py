"""benchmarks/robust.py: its grid, JSON and table, with a fake runner."""
import json

from benchmarks import robust


def _fake_cell(model, tag, threads, seed, train_args, out_root, nice):
    acc = 0.5 if (threads, seed) == (4, 1) else 0.97
    return dict(model=model, tag=tag, threads=threads, seed=seed,
                train_args=train_args,
                **robust.summarise([{'test_acc': 0.8, 'time': 2.0},
                                    {'test_acc': acc, 'time': 4.0}]))


def test_grid_json_table_and_resume(tmp_path, monkeypatch, capsys):
    calls = []

    def fake(*args):
        calls.append(args[:4])
        return _fake_cell(*args)
    monkeypatch.setattr(robust, 'run_cell', fake)
    path = str(tmp_path / 'r.json')
    argv = ['nin', '--seeds', '0-1', '--threads', '2,4', '--json', path,
            '--out', str(tmp_path / 'runs'), '--jobs', '2']
    assert robust.main(argv) == 0
    assert sorted(calls) == [('nin', 'cpu', t, s) for t in (2, 4)
                             for s in (0, 1)]
    out = capsys.readouterr().out
    assert 'nin, cpu: 3 of 4 runs >= 0.95 final test acc' in out
    assert '| threads | seed 0 | seed 1 | s/epoch |' in out
    assert '| 4 | 0.970 | **0.500** | 3.0 (3.0-3.0) |' in out
    cells = json.load(open(path))['cells']
    assert cells['nin|cpu|t4|s1']['final_acc'] == 0.5
    assert cells['nin|cpu|t4|s1']['curve'] == [0.8, 0.5]
    # a rerun skips the cells in the JSON and runs only the new ones
    calls.clear()
    assert robust.main(argv[:2] + ['0-2'] + argv[3:]) == 0
    assert sorted(calls) == [('nin', 'cpu', 2, 2), ('nin', 'cpu', 4, 2)]
    # the table shows the grid asked for: a cell not run is blank
    robust.main(argv[:2] + ['0-3'] + argv[3:] + ['--dry-run'])
    assert '| 4 | 0.970 | **0.500** | 0.970 |  | 3.0 (3.0-3.0) |' in \
        capsys.readouterr().out
    # a variant is its own table; lenet's target is 0.90
    calls.clear()
    robust.main(['lenet', '--seeds', '0', '--threads', '1', '--json', path,
                 '--train-args=--centralize'])
    assert calls == [('lenet', '--centralize', 1, 0)]
    assert 'lenet, --centralize: 1 of 1 runs >= 0.90' in \
        capsys.readouterr().out


def test_parse_ints():
    assert robust.parse_ints('0-4') == [0, 1, 2, 3, 4]
    assert robust.parse_ints('1,2,4,8') == [1, 2, 4, 8]


def test_more_threads_than_cores_wait_passively(monkeypatch):
    monkeypatch.delenv('OMP_WAIT_POLICY', raising=False)
    env = robust.cell_env(4, cores=2)
    assert env['OMP_NUM_THREADS'] == '4'
    assert env['OMP_WAIT_POLICY'] == 'PASSIVE'
    assert 'OMP_WAIT_POLICY' not in robust.cell_env(2, cores=2)
    monkeypatch.setenv('OMP_WAIT_POLICY', 'ACTIVE')  # the user's stays
    assert robust.cell_env(8, cores=2)['OMP_WAIT_POLICY'] == 'ACTIVE'
