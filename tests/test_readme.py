"""The README's commands are the ones CI runs, and its tables are true."""
import pathlib
import re

import d2l_cnn

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = (ROOT / 'README.md').read_text(encoding='utf-8')
CI = (ROOT / '.ci' / 'run').read_text()


def quickstart():
    block = re.search(r'## Quick start.*?```bash\n(.*?)```', README, re.S)
    return block.group(1).strip().splitlines()


def test_ci_installs_as_the_readme_says_and_runs_its_test_command():
    install, test = quickstart()
    pip = re.search(r'pip install [^&]+', install).group(0).strip()
    assert pip in CI
    assert 'python3 -m venv .venv' in install and 'python3 -m venv' in CI
    assert test.strip() in CI
    assert 'python -m d2l_cnn.train nin --data mnist5k' in install


def test_every_registered_network_is_in_the_readme_table():
    for name in d2l_cnn.list_models():
        assert re.search(r'^\| `%s` \|' % name, README, re.M), name


def test_readme_recipes_match_the_registry():
    for name in d2l_cnn.list_models():
        row = re.search(r'^\| `%s` \| [\d.]+ \| .* \| (\d+) \| [\d,]+ \| '
                        r'([\d.]+) / (\d+) \|$' % name, README, re.M)
        recipe = d2l_cnn.get_recipe(name)
        assert row, name
        assert int(row.group(1)) == recipe['resize'], name
        assert float(row.group(2)) == recipe['lr'], name
        assert int(row.group(3)) == recipe['batch_size'], name


def test_readme_cpu_recipes_match_the_registry():
    for name in d2l_cnn.list_models():
        r = d2l_cnn.get_recipe(name, 'cpu')
        schedule = r.lr_schedule + (', warm-up %g' % r.warmup_epochs
                                    if r.warmup_epochs else '')
        row = '| `%s` | %d | %d | %s | %g | %s | %d | %s |' % (
            name, r.resize, r.batch_size, r.optimizer, r.lr, schedule,
            r.num_epochs, r.init + (', centralized gradients'
                                    if r.centralize else ''))
        assert row in README, row
