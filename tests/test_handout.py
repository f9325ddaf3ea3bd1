"""``python -m d2l_cnn.handout build``: site, slides and PDF, offline.

Most tests build small fixture notebooks this file writes (math, a
figure output, slide metadata or none, a 解答 section, an answer
companion, a teacher's index); one builds the real section 5.2 with
``--execute`` and again with ``--cached``. The browser tests load the
pages in the system Chromium (through Playwright, with the network
off) and are skipped, with the reason, when either is missing.
"""
import base64
import io
import pathlib
import re
import shutil
import subprocess
import sys
import time

import nbformat
import pytest
from nbformat.v4 import (new_code_cell, new_markdown_cell, new_notebook,
                         new_output)

from d2l_cnn import handout, sections

ROOT = pathlib.Path(__file__).resolve().parent.parent
CHROMIUM = handout.find_chromium()


def _env(**extra):
    from conftest import subprocess_env
    env = subprocess_env()
    env.update(extra)
    return env


def run_build(*args, env=None):
    """``python -m d2l_cnn.handout build ARGS`` in a new process."""
    return subprocess.run(
        [sys.executable, '-m', 'd2l_cnn.handout', 'build', *map(str, args)],
        capture_output=True, text=True, env=env or _env(), timeout=600)


class Done:
    def __init__(self, returncode, out, err):
        self.returncode, self.stdout, self.stderr = returncode, out, err


@pytest.fixture
def build(capsys):
    """``handout.main(['build', ...])`` in this process (no new MXNet
    import per call); returns its status, stdout and stderr."""
    def run(*args):
        capsys.readouterr()
        status = handout.main(['build', *map(str, args)])
        out, err = capsys.readouterr()
        return Done(status, out, err)
    return run


def _png():
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib.figure import Figure
    fig = Figure(figsize=(3, 2))
    fig.add_subplot().plot([0, 1, 2], [0, 1, 4])
    buffer = io.BytesIO()
    fig.savefig(buffer, format='png')
    return base64.b64encode(buffer.getvalue()).decode('ascii')


def _figure_cell(png, source='plot()'):
    return new_code_cell(source, execution_count=2, outputs=[new_output(
        'display_data', data={'image/png': png, 'text/plain': '<Figure>'})])


def _slide(cell, kind):
    cell.metadata['slideshow'] = {'slide_type': kind}
    return cell


def write_fixtures(folder):
    """Three small notebooks, a companion and a teacher's index."""
    png = _png()
    folder.mkdir(parents=True)
    (folder / 'answers').mkdir()
    first = new_notebook(cells=[
        _slide(new_markdown_cell(
            '# 5.1 甲节\n\n引言 $a^2+b^2=c^2$。\n\n**学习目标**\n\n'
            '* 能算出 $(n_h-k_h+1)$；\n* 能画一张图。\n\n'
            '**运行时间**：约 1 秒。'), 'slide'),
        _slide(new_code_cell('x = 1', execution_count=1, outputs=[
            new_output('stream', name='stdout', text='1\n')]), 'skip'),
        _slide(new_markdown_cell('## 公式\n\n$$Y=\\sum_{a} X_a K_a.$$'),
               'slide'),
        _slide(_figure_cell(png), 'subslide'),
        _slide(new_markdown_cell('老师讲的话。'), 'notes'),
        _slide(new_markdown_cell('## 练习\n\n1. 算一算 $2\\times 3$。'),
               'slide')])
    second = new_notebook(cells=[
        new_markdown_cell('# 5.2 乙节\n\n**学习目标**\n\n* 能看懂 $x$。\n\n'
                          '**运行时间**：约 2 秒。'),
        new_markdown_cell('## 第一部分\n\n正文 $y=x$。'),
        _figure_cell(png),
        new_markdown_cell('图后的一段话。'),
        new_markdown_cell('## 练习\n\n1. 一道题。\n\n解答在本笔记本末尾。\n\n'
                          '## 参考文献\n\n* 一本书。\n\n---\n\n## 解答\n\n'
                          '### 练习 0\n\n同一单元格里的答案。'),
        new_markdown_cell('---'),
        new_markdown_cell('## 解答\n\n### 练习 1\n\n答案是 $42$。'),
        new_code_cell('answer = 42', execution_count=3, outputs=[])])
    broken = new_notebook(cells=[
        new_markdown_cell('# 5.3 丙节'),
        new_code_cell('x = 1'),
        new_code_cell('1 / 0'),
        new_code_cell('y = 2')])
    companion = new_notebook(cells=[
        new_markdown_cell('# 5.1 甲节 — 练习解答（教师用）\n\n'
                          '### 练习 1\n\n解答：$2\\times 3=6$。'),
        _figure_cell(png, 'plot_answer()')])
    for name, nb in (('05_01_alpha', first), ('05_02_beta', second),
                     ('05_03_gamma', broken)):
        nb.metadata['kernelspec'] = {'name': 'python3',
                                     'display_name': 'Python 3',
                                     'language': 'python'}
        nbformat.write(nb, str(folder / (name + '.ipynb')))
    nbformat.write(companion, str(folder / 'answers' / '05_01_alpha.ipynb'))
    (folder / 'README.md').write_text(
        '# 教师索引\n\n| [`05_01_alpha.ipynb`](05_01_alpha.ipynb) | 甲 |\n\n'
        '解答见 [answers/05_01_alpha.ipynb](answers/05_01_alpha.ipynb)。\n',
        encoding='utf-8')
    return folder


@pytest.fixture(scope='module')
def fixtures(tmp_path_factory):
    return write_fixtures(tmp_path_factory.mktemp('handout') / 'notebooks')


@pytest.fixture(scope='module')
def site(fixtures):
    """The hand-outs of the fixture sections 5.1 and 5.2."""
    out = fixtures.parent / 'site'
    done = run_build('--out', out, '--notebooks', fixtures, '--sections',
                     '5.1,5.2', '--cache-dir', fixtures.parent / 'cache',
                     *([] if CHROMIUM else ['--no-pdf']))
    assert done.returncode == 0, done.stderr
    return out


def _text(path):
    return pathlib.Path(path).read_text(encoding='utf-8')


# -- the files ------------------------------------------------------------

def test_site_layout(site):
    for name in ('index.html', 'student/index.html', 'teacher/index.html',
                 'student/05_01_alpha.html', 'student/05_02_beta.html',
                 'teacher/05_01_alpha.html', 'teacher/05_02_beta.html',
                 'teacher/answers/05_01_alpha.html', 'teacher/README.html',
                 'slides/05_01_alpha.html', 'slides/05_02_beta.html',
                 '_static/mathjax/MathJax.js',
                 '_static/reveal.js/dist/reveal.js'):
        assert (site / name).is_file(), name
    # section 5.2 has no companion: no page for one
    assert not (site / 'teacher/answers/05_02_beta.html').exists()


def test_no_page_names_the_network(site):
    for page in site.glob('**/*.html'):
        if '_static' in page.parts:
            continue
        # what a page loads (src=, <link href=>), not where it links to
        found = re.findall(r'(?:src=|<link[^>]*href=)["\'](https?:[^"\']+)',
                           _text(page))
        assert not found, (page, found)


def test_student_edition_has_no_answers(site):
    for page in (site / 'student').glob('*.html'):
        assert '解答' not in _text(page), page
    text = _text(site / 'student/05_02_beta.html')
    assert '图后的一段话' in text and '一本书' in text
    assert '答案是' not in text and '同一单元格里的答案' not in text


def test_teacher_edition_has_the_answers(site):
    page = _text(site / 'teacher/05_02_beta.html')
    assert '答案是' in page and '同一单元格里的答案' in page
    page = _text(site / 'teacher/05_01_alpha.html')
    assert 'answers/05_01_alpha.html' in page   # the companion's link
    assert '练习解答（教师用）' in _text(site / 'teacher/answers/05_01_alpha.html')
    readme = _text(site / 'teacher/README.html')
    assert '05_01_alpha.html' in readme and '05_01_alpha.ipynb)' not in readme


def test_index_has_goals_and_run_times(site):
    index = _text(site / 'student/index.html')
    for text in ('5.1 甲节', '5.2 乙节', '能画一张图', '约 1 秒', '约 2 秒',
                 '../slides/05_01_alpha.html'):
        assert text in index, text
    assert 'answers/05_01_alpha.html' in _text(site / 'teacher/index.html')
    assert 'http.server' in _text(site / 'index.html')


def test_pages_name_a_cjk_font_stack(site):
    css = _text(site / '_static/handout.css')
    assert '"Noto Sans CJK SC"' in css and 'WenQuanYi Micro Hei' in css
    assert '_static/handout.css' in _text(site / 'student/05_01_alpha.html')


def test_slide_types_from_metadata_and_fallback(fixtures):
    nb = sections.read_notebook(fixtures / '05_01_alpha.ipynb')
    kinds = [c.metadata.slideshow.slide_type
             for c in sections.with_slide_types(nb).cells]
    assert kinds == ['slide', 'skip', 'slide', 'subslide', 'notes', 'slide']
    nb = sections.read_notebook(fixtures / '05_02_beta.ipynb')
    kinds = [c.metadata.slideshow.slide_type
             for c in sections.with_slide_types(
                 sections.student_cells(nb)).cells]
    # title, "##" heading, figure, the cell after it, "##" heading
    assert kinds == ['slide', 'slide', 'subslide', 'subslide', 'slide']


def test_deck_markup(site):
    deck = _text(site / 'slides/05_01_alpha.html')
    assert '../_static/reveal.js/dist/reveal.js' in deck
    assert '<aside class="notes">' in deck and '老师讲的话' in deck
    assert 'x = 1' not in deck   # a "skip" cell


def test_cache_key_ignores_prose(fixtures):
    nb = sections.read_notebook(fixtures / '05_02_beta.ipynb')
    key = sections.cache_key(nb)
    nb.cells[1].source += ' 改一个错字'
    assert sections.cache_key(nb) == key
    nb.cells[-1].source = 'answer = 43'
    assert sections.cache_key(nb) != key


# -- bad input ------------------------------------------------------------

def test_unknown_section(fixtures, tmp_path, build):
    done = build('--out', tmp_path / 'x', '--notebooks', fixtures,
                 '--sections', '5.1,5.13')
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "error: unknown section '5.13'; choose from 5.1, 5.2, 5.3")
    assert not (tmp_path / 'x').exists()


def test_unwritable_or_foreign_out(fixtures, tmp_path, build):
    (tmp_path / 'file').write_text('mine')
    done = build('--out', tmp_path / 'file' / 'site', '--notebooks',
                 fixtures, '--sections', '5.1')
    assert done.returncode == 2
    assert 'is not writable' in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    done = build('--out', tmp_path / 'file', '--notebooks', fixtures)
    assert done.returncode == 2 and 'is a file' in done.stderr
    mine = tmp_path / 'mine'
    mine.mkdir()
    (mine / 'notes.txt').write_text('keep me')
    done = build('--out', mine, '--notebooks', fixtures)
    assert done.returncode == 2 and 'did not write' in done.stderr
    assert sorted(p.name for p in mine.iterdir()) == ['notes.txt']
    assert (tmp_path / 'file').read_text() == 'mine'


def test_failing_notebook_marks_its_cell(fixtures, tmp_path, build):
    done = build('--out', tmp_path / 'site', '--notebooks', fixtures,
                 '--sections', '5.3', '--no-pdf', '--cache-dir',
                 tmp_path / 'cache')
    assert done.returncode == 1, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith('error: 1 notebook(s) failed to execute')
    assert '5.3 (05_03_gamma.ipynb) cell 3: ZeroDivisionError' in last
    page = _text(tmp_path / 'site/student/05_03_gamma.html')
    assert 'celltag_d2l-failed' in page and 'ZeroDivisionError' in page
    assert not list((tmp_path / 'cache').glob('*.ipynb'))  # not cached


def test_missing_chromium_still_builds_the_site(fixtures, tmp_path,
                                                build, monkeypatch):
    monkeypatch.setenv('PATH', str(tmp_path))   # no browser there
    monkeypatch.delenv('D2L_CNN_CHROMIUM', raising=False)
    done = build('--out', tmp_path / 'site', '--notebooks', fixtures,
                 '--sections', '5.1')
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith(
        'error: no Chromium to print chapter5-student.pdf: '
        'apt-get install chromium')
    assert (tmp_path / 'site/student/05_01_alpha.html').exists()
    assert (tmp_path / 'site/slides/05_01_alpha.html').exists()
    assert not (tmp_path / 'site' / handout.PDF_NAME).exists()


@pytest.mark.skipif(not shutil.which('fc-list'), reason='no fc-list')
def test_warns_without_a_cjk_font(fixtures, tmp_path, build, monkeypatch):
    conf = tmp_path / 'fonts.conf'   # fontconfig that knows no font
    conf.write_text('<?xml version="1.0"?><fontconfig>'
                    '<cachedir>%s</cachedir></fontconfig>' % tmp_path)
    monkeypatch.setenv('FONTCONFIG_FILE', str(conf))
    done = build('--out', tmp_path / 'site', '--notebooks', fixtures,
                 '--sections', '5.1', '--no-pdf')
    assert done.returncode == 0, done.stderr
    assert 'warning: no Chinese font' in done.stderr
    assert 'fonts-noto-cjk' in done.stderr


# -- a real section: executed once, then from the cache ------------------

def test_real_section_execute_then_cached(tmp_path, build):
    notebooks = tmp_path / 'notebooks'
    notebooks.mkdir()
    shutil.copy(ROOT / 'notebooks' / '05_02_padding.ipynb', notebooks)
    cache = tmp_path / 'cache'
    args = ('--notebooks', notebooks, '--sections', '5.2', '--no-pdf',
            '--cache-dir', cache)
    start = time.time()
    done = build('--out', tmp_path / 'a', '--execute', *args)
    cold = time.time() - start
    assert done.returncode == 0, done.stderr
    assert '5.2 05_02_padding' in done.stderr   # the progress bar
    assert len(list(cache.glob('05_02_padding-*.ipynb'))) == 1
    page = _text(tmp_path / 'a/student/05_02_padding.html')
    assert 'jp-OutputArea-output' in page and 'data:image/png' in page
    assert '解答' not in page and '参考文献' in page
    # a typo fixed in the prose: outputs come from the cache
    path = notebooks / '05_02_padding.ipynb'
    nb = sections.read_notebook(path)
    nb.cells[0].source += '\n\n改过一个错字。'
    nbformat.write(nb, str(path))
    start = time.time()
    done = build('--out', tmp_path / 'b', '--cached', *args)
    warm = time.time() - start
    assert done.returncode == 0, done.stderr
    page = _text(tmp_path / 'b/student/05_02_padding.html')
    assert '改过一个错字' in page and 'data:image/png' in page
    print('5.2: --execute %.1f s, --cached %.1f s' % (cold, warm))
    assert warm < cold
    # a changed code cell is not in the cache: --cached refuses
    code = next(c for c in nb.cells if c.cell_type == 'code')
    code.source += '\n# changed'
    nbformat.write(nb, str(path))
    done = build('--out', tmp_path / 'c', '--cached', *args)
    assert done.returncode == 1
    assert 'no cached outputs' in done.stderr


# -- in a real browser, offline -------------------------------------------

@pytest.fixture(scope='module')
def browser():
    if not CHROMIUM:
        pytest.skip('no Chromium: apt-get install chromium to run the '
                    'browser tests')
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip('playwright is not installed (pip install -e '
                    '".[test]")')
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=['--no-sandbox', '--disable-gpu', '--no-first-run',
                  '--disable-background-networking',
                  '--disable-component-update', '--disable-sync',
                  '--host-resolver-rules=MAP * ~NOTFOUND'])
        yield browser
        browser.close()


def load(browser, path, math=True):
    """Open ``path`` offline; returns (page, context, URLs requested)."""
    context = browser.new_context(offline=True,
                                  viewport={'width': 1280, 'height': 800})
    page = context.new_page()
    requests = []
    page.on('request', lambda r: requests.append(r.url))
    page.goto(pathlib.Path(path).as_uri())
    if math:
        page.wait_for_function(
            "document.documentElement.getAttribute('data-mathjax')"
            " === 'done'", timeout=60000)
    page.wait_for_load_state('load')
    return page, context, requests


def _local(requests):
    return [u for u in requests
            if not u.startswith(('file://', 'data:', 'about:'))]


@pytest.mark.parametrize('name', ['student/index.html',
                                  'student/05_01_alpha.html',
                                  'teacher/05_02_beta.html',
                                  'teacher/answers/05_01_alpha.html'])
def test_page_in_browser(browser, site, name):
    page, context, requests = load(browser, site / name)
    try:
        assert page.locator('.MathJax, .MathJax_Display').count() > 0
        markdown = page.evaluate(
            "Array.from(document.querySelectorAll('.jp-RenderedMarkdown'))"
            ".map(e => e.innerText).join('\\n')")
        assert not re.search(r'\$[^$\n]+\$', markdown), markdown
        broken = page.evaluate(
            "Array.from(document.images).filter("
            "i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)")
        assert broken == []
        if 'index' not in name:
            assert page.evaluate('document.images.length') > 0
        assert _local(requests) == []
        text = page.evaluate('document.body.innerText')
        assert ('解答' in text) == name.startswith('teacher/')
    finally:
        context.close()


@pytest.mark.parametrize('name', ['05_01_alpha', '05_02_beta'])
def test_slides_in_browser(browser, site, name):
    page, context, requests = load(browser, site / 'slides' /
                                   (name + '.html'))
    try:
        page.wait_for_function('window.Reveal && Reveal.isReady()')
        assert page.evaluate('Reveal.getTotalSlides()') > 1
        figure_slides = page.evaluate(
            "Array.from(document.querySelectorAll('.slides section'))"
            ".filter(s => s.querySelector(':scope > * img, :scope img'))"
            ".length")
        assert figure_slides >= 1
        assert page.locator('.MathJax, .MathJax_Display').count() > 0
        assert _local(requests) == []
        assert '解答' not in page.evaluate('document.body.innerText')
    finally:
        context.close()


@pytest.mark.skipif(not shutil.which('pdftotext'),
                    reason='no pdftotext: apt-get install poppler-utils')
def test_pdf_pages_and_text(site):
    if not CHROMIUM:
        pytest.skip('no Chromium: no PDF was printed')
    pdf = site / handout.PDF_NAME
    info = subprocess.run(['pdfinfo', str(pdf)], capture_output=True,
                          text=True).stdout
    pages = int(re.search(r'Pages:\s+(\d+)', info).group(1))
    assert pages >= 3   # contents, 5.1, 5.2 (each section on a new page)
    text = subprocess.run(['pdftotext', str(pdf), '-'], capture_output=True,
                          text=True).stdout
    for words in ('目录', '5.1 甲节', '5.2 乙节', '图后的一段话'):
        assert words in text, words
    assert '解答' not in text and '$' not in text
