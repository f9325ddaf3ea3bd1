"""``python -m d2l_cnn.handout build``: the chapter as hand-outs.

From the twelve notebooks (``notebooks/05_NN_word.ipynb``), their
answer companions (``notebooks/answers/05_NN_word.ipynb``, when they
exist) and the teacher's index (``notebooks/README.md``) it builds, in
``--out`` (``handouts/`` by default)::

    index.html                  links to everything below
    student/index.html          the chapter's contents: goals, run times
    student/05_NN_word.html     one page per section, without answers
    teacher/...                 the same pages with the answers, the
                                companions (answers/) and README.html
    slides/05_NN_word.html      one reveal.js deck per section
    chapter5-student.pdf        the student edition, printed by Chromium
    _static/                    MathJax 2 and reveal.js, copied from
                                installed packages: nothing is loaded
                                from the network

Pages are rendered by nbconvert with the templates in
``handout_templates/``. Executed notebooks are cached (``--cache-dir``)
under a key made of the code cells, the kernel and the package version:
a typo in the prose reuses the outputs, a changed code cell runs again.

The student edition leaves out every section whose heading says 解答
(worked answers) and every paragraph that points to one. Slides follow
each cell's ``metadata.slideshow.slide_type``; a notebook without any
falls back to one slide per ``##`` heading (the title cell opens the
deck) with each figure on a sub-slide of its own.
"""
import copy
import functools
import html
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time

from .errors import D2LError, OneLineParser, UsageError, run_command
from .sections import (choose_sections, default_cache_dir,
                       executed_notebook, find_sections, overview,
                       student_cells, title_of, with_slide_types)

HERE = pathlib.Path(__file__).resolve().parent
TEMPLATES = HERE / 'handout_templates'
NOTEBOOKS = HERE.parent / 'notebooks'
PDF_NAME = 'chapter5-student.pdf'
MARKER = '.d2l-handout'  # marks a folder this command wrote
CHAPTER = '第 5 章 卷积神经网络'
CHROMIUM_PACKAGE = 'chromium'
CHROMIUM_NAMES = ('chromium', 'chromium-browser', 'google-chrome')
# Headless Chromium as root in a container, and nothing from the network
CHROMIUM_FLAGS = ('--headless', '--no-sandbox', '--disable-gpu',
                  '--no-first-run', '--disable-background-networking',
                  '--disable-component-update', '--disable-sync',
                  '--host-resolver-rules=MAP * ~NOTFOUND')


def prepare_out(out):
    """Make ``out`` (a new folder, or one this command wrote) or fail."""
    out = pathlib.Path(out)
    if out.exists() and not out.is_dir():
        raise UsageError('--out %s is a file, not a folder' % out)
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists():
        raise UsageError('--out %s holds files this command did not write; '
                         'choose a new or empty folder' % out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / MARKER).write_text('written by python -m d2l_cnn.handout\n')
    except OSError as e:
        raise UsageError('--out %s is not writable (%s)'
                         % (out, e.strerror or e))
    return out


# -- rendering -----------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _exporter(kind, up):
    from nbconvert import HTMLExporter, SlidesExporter
    options = dict(extra_template_basedirs=[str(TEMPLATES)],
                   extra_template_paths=[str(TEMPLATES)])
    if kind == 'slides':
        return SlidesExporter(template_name='d2l_slides',
                              reveal_url_prefix=up + '_static/reveal.js',
                              reveal_theme='white', **options)
    return HTMLExporter(template_name='d2l_page', **options)


def render(nb, target, kind='page', depth=1, **d2l):
    """Write ``nb`` as an HTML page (or a deck) to ``target``; ``depth``
    is how many folders below ``--out`` it lies."""
    up = '../' * depth
    d2l.setdefault('edition', 'page')
    d2l.setdefault('nav', [])
    d2l.setdefault('banner', '')
    d2l['static'] = up + '_static'
    d2l['mathjax_url'] = (up + '_static/mathjax/MathJax.js'
                          '?config=TeX-AMS-MML_HTMLorMML-full')
    resources = {'d2l': d2l, 'language_code': 'zh-CN',
                 'metadata': {'name': d2l.get('title', target.stem)}}
    body, _ = _exporter(kind, up).from_notebook_node(nb,
                                                     resources=resources)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(body, encoding='utf-8')
    return target


def markdown_notebook(text, title):
    """A notebook of one markdown cell (index pages, README)."""
    import nbformat
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(text)]
    nb.metadata['title'] = title
    return nb


def copy_assets(out):
    """MathJax and reveal.js from installed packages into out/_static.

    MathJax 2.7 comes from ``jupyter-server-mathjax`` (the Jupyter
    project's own packaging of it, used by nbclassic and nbdime) and
    reveal.js 5 from ``sphinx-revealjs`` (maintained, ships reveal.js's
    dist/ and plugin/ as files): both are on PyPI, so ``pip install``
    brings them; ``rise`` is unmaintained since 2020 and
    ``jupyterlab-rise`` ships reveal.js only inside webpack bundles.
    """
    try:
        import jupyter_server_mathjax
        import sphinx_revealjs
    except ImportError as e:
        raise D2LError('%s is missing: pip install jupyter-server-mathjax '
                       'sphinx-revealjs (the README install does)' % e.name)
    static = out / '_static'
    sources = {
        'mathjax': pathlib.Path(jupyter_server_mathjax.__file__).parent
        / 'static',
        'reveal.js': pathlib.Path(sphinx_revealjs.__file__).parent
        / '_static' / 'revealjs'}
    for name, source in sources.items():
        target = static / name
        if not (target / '.complete').exists():
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(source, target, ignore=shutil.ignore_patterns(
                '*.map', '*.scss', 'source', 'test'))
            (target / '.complete').write_text(str(source) + '\n')
    for css in (TEMPLATES / 'static').glob('*.css'):
        shutil.copy(css, static / css.name)


def cjk_font_warning():
    """A warning line when no font on this machine covers Chinese."""
    fc_list = shutil.which('fc-list')
    if fc_list:
        found = subprocess.run([fc_list, ':lang=zh', 'family'],
                               capture_output=True, text=True).stdout
        if found.strip():
            return None
    else:
        from .predict import find_cjk_font
        if find_cjk_font('卷积神经网络'):
            return None
    return ('warning: no Chinese font on this machine: the pages name '
            '"Noto Sans CJK SC", "WenQuanYi Micro Hei", ... and show boxes '
            'without one here (apt-get install fonts-noto-cjk); readers '
            'with such a font see them right')


def find_chromium():
    override = os.environ.get('D2L_CNN_CHROMIUM')
    if override:
        return override if shutil.which(override) else None
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def print_pdf(chromium, page, pdf, timeout=300):
    """Print ``page`` (an HTML file) to ``pdf`` with headless Chromium,
    after its scripts (MathJax) ran; with the PDF's outline (bookmarks)
    made from the headings."""
    with tempfile.TemporaryDirectory(prefix='d2l-chromium-') as profile:
        partial = pdf.with_name(pdf.name + '.part')
        command = [chromium, *CHROMIUM_FLAGS,
                   '--user-data-dir=' + profile,
                   '--no-pdf-header-footer',
                   '--generate-pdf-document-outline',
                   '--run-all-compositor-stages-before-draw',
                   '--virtual-time-budget=60000',
                   '--print-to-pdf=' + str(partial),
                   page.resolve().as_uri()]
        done = subprocess.run(command, capture_output=True, text=True,
                              timeout=timeout)
        if done.returncode != 0 or not partial.exists():
            raise D2LError('Chromium could not print %s: %s' % (
                page, (done.stderr.strip().splitlines() or ['?'])[-1]))
        os.replace(partial, pdf)
    return pdf


# -- the build -----------------------------------------------------------

def _nav(edition, sections, i=None, up='', slides=True):
    other = 'teacher' if edition == 'student' else 'student'
    names = {'student': '学生版', 'teacher': '教师版'}
    nav = [(CHAPTER + ' · ' + names[edition], None),
           ('目录', up + 'index.html')]
    if i is not None:
        if i > 0:
            nav.append(('← %s' % sections[i - 1].number,
                        up + sections[i - 1].html))
        if i + 1 < len(sections):
            nav.append(('%s →' % sections[i + 1].number,
                        up + sections[i + 1].html))
        if slides:
            nav.append(('幻灯片', '%s../slides/%s' % (up, sections[i].html)))
        nav.append((names[other],
                    '%s../%s/%s' % (up, other, sections[i].html)))
    else:
        nav.append((names[other], '../%s/index.html' % other))
    return nav


def index_markdown(edition, sections, overviews, extra='', pdf=None):
    lines = ['# %s' % CHAPTER, '']
    if edition == 'student':
        lines += ['《动手学深度学习》（第一版）第 5 章。每节一页，'
                  '含执行后的输出和图；每节另有一套幻灯片。' +
                  ('整章的 PDF：[%s](../%s)。' % (PDF_NAME, PDF_NAME)
                   if pdf else ''), '']
    else:
        lines += ['教师版：每节的页面含解答；各节的练习解答和教师索引见下。'
                  '学生版不含任何解答。', '', extra, '']
    lines.append('<div class="d2l-toc">\n')
    for s in sections:
        title, goals, run_time, answers = overviews[s.number]
        lines.append('## [%s](%s)' % (title, s.html))
        links = ['[幻灯片](../slides/%s)' % s.html]
        if edition == 'teacher' and answers:
            links.append('[练习解答](answers/%s)' % s.html)
        lines.append('')
        if run_time:
            lines.append('**运行时间**：' + run_time)
            lines.append('')
        if goals:
            lines.append('**学习目标**')
            lines.append('')
            lines += goals
            lines.append('')
        lines.append(' · '.join(links))
        lines.append('')
    lines.append('</div>')
    return '\n'.join(lines)


def readme_markdown(path):
    """notebooks/README.md with its links to notebooks made links to the
    teacher's pages."""
    text = path.read_text(encoding='utf-8')
    return re.sub(r'\]\(((?:answers/)?\d\d_\d\d_[\w-]+)\.ipynb\)',
                  r'](\1.html)', text)


def landing_markdown(sections, pdf):
    rows = '\n'.join(
        '| %s | [学生版](student/%s) | [教师版](teacher/%s) | '
        '[幻灯片](slides/%s) |' % (s.number, s.html, s.html, s.html)
        for s in sections)
    pdf_line = ('[%s](%s)（学生版，整章）' % (PDF_NAME, PDF_NAME) if pdf
                else '（本次没有生成 PDF）')
    return '\n'.join([
        '# %s — 讲义' % CHAPTER, '',
        '* [学生版](student/index.html)：各节页面，不含解答',
        '* [教师版](teacher/index.html)：含解答、各节练习解答和教师索引',
        '* PDF：' + pdf_line, '',
        '| 节 | 学生版 | 教师版 | 幻灯片 |', '|---|---|---|---|', rows, '',
        '在本文件夹中运行 `python -m http.server 8000`，'
        '同一网络中的电脑用浏览器打开 `http://<本机地址>:8000/` 即可；'
        '所有页面不需要互联网。'])


def build(out, sections, mode='auto', cache_dir=None, pdf=True,
          notebooks=None, log=print):
    """Build the hand-outs of ``sections`` into ``out``; returns a dict
    of what was written and the failures of notebook runs."""
    start = time.time()
    out = prepare_out(out)
    cache_dir = pathlib.Path(cache_dir or default_cache_dir())
    notebooks = pathlib.Path(notebooks or NOTEBOOKS)
    warning = cjk_font_warning()
    if warning:
        log(warning)
    copy_assets(out)
    failures, overviews, students = [], {}, {}
    for i, s in enumerate(sections):
        label = '%s %s' % (s.number, s.stem)
        nb, failure = executed_notebook(s.path, label, mode, cache_dir)
        if failure:
            failures.append('%s (%s) %s' % (s.number, s.path.name, failure))
        answers = None
        if s.answers:
            answers, failure = executed_notebook(
                s.answers, label + ' answers', mode, cache_dir)
            if failure:
                failures.append('%s answers (answers/%s) %s'
                                % (s.number, s.answers.name, failure))
        title = title_of(nb, s.number)
        goals, run_time = overview(nb)
        overviews[s.number] = (title, goals, run_time, answers is not None)
        student = student_cells(nb)
        students[s.number] = student
        render(student, out / 'student' / s.html, edition='student',
               title=title, nav=_nav('student', sections, i))
        banner = ''
        if answers is not None:
            banner = ('教师版 · 本节练习的完整解答：<a href="answers/%s">'
                      '%s</a>' % (s.html, html.escape(
                          title_of(answers, '练习解答'))))
        render(nb, out / 'teacher' / s.html, edition='teacher',
               title=title, nav=_nav('teacher', sections, i),
               banner=banner)
        if answers is not None:
            render(answers, out / 'teacher' / 'answers' / s.html, depth=2,
                   edition='teacher', title=title_of(answers, title),
                   nav=_nav('teacher', sections, i, up='../'))
        render(with_slide_types(student), out / 'slides' / s.html,
               kind='slides', title=title)
    readme = notebooks / 'README.md'
    extra = ('[教师索引（notebooks/README.md）](README.html)'
             if readme.exists() else '')
    if readme.exists():
        render(markdown_notebook(readme_markdown(readme), '教师索引'),
               out / 'teacher' / 'README.html', edition='teacher',
               title='教师索引', nav=_nav('teacher', sections))
    written = {'site': out, 'pdf': None, 'failures': failures}
    chapter = out / 'student' / 'chapter.html'
    render(chapter_notebook(sections, students, overviews), chapter,
           edition='student', title=CHAPTER)
    missing_chromium = None
    if pdf:
        chromium = find_chromium()
        if chromium:
            written['pdf'] = print_pdf(chromium, chapter, out / PDF_NAME)
        else:
            missing_chromium = (
                'no Chromium to print %s: apt-get install %s (the site '
                'and the slides are built in %s)'
                % (PDF_NAME, CHROMIUM_PACKAGE, out))
    for edition in ('student', 'teacher'):
        render(markdown_notebook(index_markdown(
            edition, sections, overviews, extra, written['pdf']), CHAPTER),
            out / edition / 'index.html', edition=edition, title=CHAPTER,
            nav=_nav(edition, sections))
    render(markdown_notebook(landing_markdown(sections, written['pdf']),
                             CHAPTER),
           out / 'index.html', depth=0, edition='landing', title=CHAPTER)
    written['seconds'] = time.time() - start
    written['missing_chromium'] = missing_chromium
    return written


def chapter_notebook(sections, students, overviews):
    """All student pages in one notebook, after a table of contents
    (what the PDF prints)."""
    import nbformat
    nb = nbformat.v4.new_notebook()
    toc = ['# %s' % CHAPTER, '', '《动手学深度学习》（第一版）第 5 章，学生版。',
           '', '## 目录', '']
    for s in sections:
        toc.append('* [%s](#%s)' % (overviews[s.number][0],
                                    'd2l-' + s.stem))
    nb.cells.append(nbformat.v4.new_markdown_cell('\n'.join(toc)))
    for s in sections:
        cells = copy.deepcopy(students[s.number].cells)
        anchor = nbformat.v4.new_markdown_cell(
            '<div class="d2l-chapter-section" id="d2l-%s"></div>' % s.stem)
        nb.cells.append(anchor)
        nb.cells += cells
    nb.metadata['title'] = CHAPTER
    nb.metadata['kernelspec'] = {'name': 'python3',
                                 'display_name': 'Python 3',
                                 'language': 'python'}
    return nb


def _size(path):
    path = pathlib.Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob('*') if p.is_file())


def build_parser():
    parser = OneLineParser(
        prog='python -m d2l_cnn.handout',
        description='Hand-outs of chapter 5: an offline website (student '
        'and teacher editions), reveal.js slides and a PDF.')
    commands = parser.add_subparsers(dest='command', required=True,
                                     parser_class=OneLineParser)
    b = commands.add_parser('build', help='build the hand-outs')
    b.add_argument('--out', default='handouts',
                   help='output folder (default: handouts)')
    b.add_argument('--sections', default=None,
                   help='comma-separated sections, e.g. 5.1,5.5 '
                   '(default: all twelve)')
    run = b.add_mutually_exclusive_group()
    run.add_argument('--execute', dest='mode', action='store_const',
                     const='execute',
                     help='run every notebook again (CI=1: the quick '
                     'recipes) and refresh the cache')
    run.add_argument('--cached', dest='mode', action='store_const',
                     const='cached',
                     help='never run a notebook: use cached outputs (or '
                     'the outputs saved in it); the default runs only '
                     'those without')
    b.add_argument('--cache-dir', default=None,
                   help='where executed notebooks are kept (default: '
                   '~/.cache/d2l_cnn/handout)')
    b.add_argument('--notebooks', default=None,
                   help='folder of the notebooks (default: the clone\'s '
                   'notebooks/)')
    b.add_argument('--no-pdf', dest='pdf', action='store_false',
                   help='do not print the PDF')
    b.set_defaults(mode='auto')
    return parser


def main(argv=None):
    """``python -m d2l_cnn.handout build [--out DIR] [--sections ...]``."""
    parser = build_parser()
    args = parser.parse_args(argv)

    def body():
        notebooks = pathlib.Path(args.notebooks or NOTEBOOKS)
        if not notebooks.is_dir():
            raise UsageError('--notebooks %s is not a folder' % notebooks)
        sections = choose_sections(find_sections(notebooks), args.sections)
        done = build(args.out, sections, args.mode, args.cache_dir,
                     args.pdf, notebooks,
                     log=lambda s: print(s, file=sys.stderr))
        out = done['site']
        print('wrote %s (%.1f s): student/ and teacher/ (%d sections, '
              '%.1f MB), slides/ (%d decks), %s'
              % (out, done['seconds'], len(sections),
                 (_size(out / 'student') + _size(out / 'teacher')) / 1e6,
                 len(sections),
                 '%s (%.1f MB)' % (PDF_NAME, _size(done['pdf']) / 1e6)
                 if done['pdf'] else 'no PDF'))
        print('serve them: cd %s && python -m http.server 8000' % out)
        if done['failures']:
            raise D2LError('%d notebook(s) failed to execute (their pages '
                           'mark the failing cell): %s' % (
                               len(done['failures']),
                               '; '.join(done['failures'])))
        if done['missing_chromium']:
            raise D2LError(done['missing_chromium'])
    return run_command(body, args.debug)


if __name__ == '__main__':
    sys.exit(main())
