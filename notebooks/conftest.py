"""nbmake runs the notebooks; here a notebook also fails on stderr output.

A warning printed while a notebook runs (a missing glyph, a deprecation,
MXNet's own log lines) is red text on the student's screen, so a
``stream`` output named ``stderr`` fails the run as an error would. The
check reads the outputs nbmake already has: nothing runs twice.
"""
from nbmake import nb_run
from nbmake.nb_result import NotebookError


def stderr_outputs(nb):
    """``(cell index, text)`` of every stderr stream output of ``nb``."""
    found = []
    for i, cell in enumerate(nb.cells):
        for output in cell.get('outputs', []):
            if (output.get('output_type') == 'stream'
                    and output.get('name') == 'stderr'):
                found.append((i, output.get('text', '')))
    return found


def _execute_and_check(self, _execute=nb_run.NotebookRun.execute):
    result = _execute(self)
    if result.error is None:
        found = stderr_outputs(result.nb)
        if found:
            index, text = found[0]
            result.error = NotebookError(
                summary='cell %d wrote to stderr: %s'
                        % (index, text.strip().splitlines()[0][:200]
                           if text.strip() else '(blank)'),
                trace='\n'.join('cell %d stderr:\n%s' % f for f in found),
                failing_cell_index=index)
    return result


if not getattr(nb_run.NotebookRun.execute, 'checks_stderr', False):
    _execute_and_check.checks_stderr = True
    nb_run.NotebookRun.execute = _execute_and_check
