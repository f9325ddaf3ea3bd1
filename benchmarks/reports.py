"""The step-speed benchmark's tables: text for the terminal, Markdown."""
import sys

from benchmarks.common import fmt, ratio

SIDES = ('a', 'b', 'c', 'd')
SIDE_NAMES = {'a': 'd2l_cnn train_ch5', 'b': 'd2l 1.0.3 train_ch6',
              'c': 'd2lzh-style loop', 'd': 'PyTorch loop'}
SIDE_NAMES_SHORT = {'a': 'd2l_cnn', 'b': 'd2l 1.0.3 (2nd ed)',
                    'c': 'd2lzh loop (1st)', 'd': 'PyTorch'}


def print_layer_profile(profiles, file=None):
    """Per-layer table: time share and GFLOP/s against the dot peak."""
    file = file or sys.stdout
    row = '%-10s %-15s %7s %8s %8s %8s %8s %6s'
    for model, p in profiles.items():
        if 'error' in p:
            print('%s: error: %s' % (model, p['error']), file=file)
            continue
        peak = p['peak']['mxnet_dot_gflops']
        total = sum(r['forward_seconds'] + r['backward_seconds']
                    for r in p['layers'])
        print('%s at %d, batch %d: layers alone, dot peak %.0f GFLOP/s'
              % (model, p['resize'], p['batch_size'], peak), file=file)
        print(row % ('layer', 'output', 'GFLOP', 'fwd ms', 'bwd ms',
                     'fwd GF/s', 'bwd GF/s', 'time%'), file=file)
        for r in p['layers']:
            both = r['forward_seconds'] + r['backward_seconds']
            print(row % (r['name'], 'x'.join(map(str, r['out_shape'][1:])),
                         '%.2f' % (r['flops'] / 1e9),
                         '%.1f' % (1e3 * r['forward_seconds']),
                         '%.1f' % (1e3 * r['backward_seconds']),
                         '%.0f' % r['forward_gflops'],
                         fmt(r['backward_gflops'], '%.0f'),
                         '%.0f' % (100 * both / total)), file=file)
        flops = sum(r['flops'] for r in p['layers'])
        print('  all layers: %.0f GFLOP/s forward+backward (%.0f%% of the '
              'dot peak), training FLOPs taken as 3x forward'
              % (3 * flops / total / 1e9, 300 * flops / total / 1e9 / peak),
              file=file)


def print_report(results, file=None):
    """The benchmark as a text table (medians, ratios, targets)."""
    file = file or sys.stdout
    m = results['machine']
    st = results['settings']
    peak = results['matmul_peak']
    print('machine: %s, %d physical cores, %d logical CPUs, %d threads '
          'per side' % (m['cpu'], m['physical_cores'], m['logical_cpus'],
                        m['threads']), file=file)
    print('matmul peak (fp32, %d^3): MXNet nd.dot %s GFLOP/s, numpy %s '
          'GFLOP/s' % (peak['n'], fmt(peak['mxnet_dot_gflops'], '%.1f'),
                       fmt(peak['numpy_dot_gflops'], '%.1f')), file=file)
    print('%s; medians of %d runs x %d epochs; sides run interleaved, '
          'each in its own process' % (st['epoch'], st['repeats'],
                                       st['epochs_per_run']), file=file)
    load = results.get('load_average')
    if load:
        print('1-minute load average before the runs: median %.1f, max %.1f'
              '%s' % (load['median_before_runs'], load['max_before_runs'],
                      ' (other programs competed for the cores)'
                      if load['max_before_runs'] > m['threads'] + 1
                      else ''), file=file)
    for side, why in st['skipped'].items():
        print('side %s (%s) skipped: %s' % (side, SIDE_NAMES[side], why),
              file=file)
    row = '%-16s %-18s %8s %8s %8s %8s %9s %8s %8s'
    print(row % ('net@size/batch', 'side', 'epoch s', 'img/s', 'a faster',
                 'step ms', 'step img/s', 'GFLOP/s', 'peak MiB'),
          file=file)
    for model, s in results['models'].items():
        a = s['sides'].get('a', {})
        for side, v in s['sides'].items():
            if side == 'a':
                speed = ''
            else:
                speed = fmt(ratio(v.get('epoch_seconds'),
                                  a.get('epoch_seconds')), '%.2fx')
            print(row % ('%s@%d/%d' % (model, s['resize'], s['batch_size']),
                         SIDE_NAMES_SHORT[side],
                         fmt(v.get('epoch_seconds')),
                         fmt(v.get('examples_per_sec'), '%.1f'), speed,
                         fmt(v.get('step_seconds') and
                             1e3 * v['step_seconds'], '%.1f'),
                         fmt(v.get('step_images_per_sec'), '%.1f'),
                         fmt(v.get('step_gflops'), '%.1f'),
                         fmt(v.get('peak_rss_mib'), '%.0f')), file=file)
            for err in v.get('errors', [])[:1]:
                print('    error: %s' % err, file=file)
        for key, t in s['targets'].items():
            print('    target %s: %.2f (goal %.2f) %s'
                  % (key, t['value'], t['goal'],
                     'met' if t['met'] else 'MISSED'), file=file)


def markdown_report(results):
    """The benchmark as Markdown tables (for a README)."""
    m = results['machine']
    head = ('Machine: %s, %d physical cores, %d threads per side'
            % (m['cpu'], m['physical_cores'], m['threads']))
    peak = results.get('matmul_peak') or {}
    if peak.get('mxnet_dot_gflops'):
        head += ('; fp32 matmul peak (%d^3) %.0f GFLOP/s in MXNet, %.0f '
                 'in numpy' % (peak['n'], peak['mxnet_dot_gflops'],
                               peak['numpy_dot_gflops']))
    lines = [head + '.', '']
    if 'models' in results and results['models']:
        lines += ['| network (input, batch) | d2l_cnn epoch s | vs d2l 2nd '
                  'ed. | vs d2lzh loop | vs PyTorch | train step img/s | '
                  'GFLOP/s (% of peak) | peak MiB (a/b/c/d) |',
                  '|---|---|---|---|---|---|---|---|']
        for model, s in results['models'].items():
            sides, r = s['sides'], s['ratios']
            a = sides.get('a', {})
            rss = '/'.join(fmt(sides[k].get('peak_rss_mib'), '%.0f')
                           if k in sides else '-' for k in SIDES)
            frac = a.get('step_fraction_of_peak')
            lines.append('| %s (%d, %d) | %s | %s | %s | %s | %s | %s%s | '
                         '%s |' % (
                             model, s['resize'], s['batch_size'],
                             fmt(a.get('epoch_seconds')),
                             fmt(r.get('speedup_vs_b'), '%.2fx'),
                             fmt(r.get('speedup_vs_c'), '%.2fx'),
                             fmt(r.get('speedup_vs_d'), '%.2fx'),
                             fmt(a.get('step_images_per_sec'), '%.1f'),
                             fmt(a.get('step_gflops'), '%.0f'),
                             ' (%.0f%%)' % (100 * frac) if frac else '',
                             rss))
    if 'scaling' in results:
        sc = results['scaling']
        lines += ['', 'Scaling of %s (d2l_cnn; an epoch: %d training '
                  'images, then %d test images):'
                  % (sc['model'], sc['images_per_epoch'],
                     sc.get('test_images', 0)), '',
                  '| batch | input | epoch s | img/s | GFLOP/s |',
                  '|---|---|---|---|---|']
        for row in sc['rows']:
            lines.append('| %d | %d | %s | %s | %s |' % (
                row['batch_size'], row['resize'],
                fmt(row['epoch_seconds']),
                fmt(row['examples_per_sec'], '%.1f'),
                fmt(row.get('gflops'), '%.0f')))
    return '\n'.join(lines)


def print_scaling(out, file=None):
    """The scaling table: epoch time and speed per configuration."""
    file = file or sys.stdout
    print('scaling of %s (d2l_cnn train_ch5; an epoch: %d training '
          'images, then %d test images; medians of %d; GFLOP/s of the '
          'training images)' % (out['model'], out['images_per_epoch'],
                                out.get('test_images', 0), out['repeats']),
          file=file)
    print('%6s %6s %9s %9s %9s' % ('batch', 'size', 'epoch s', 'img/s',
                                   'GFLOP/s'), file=file)
    for r in out['rows']:
        print('%6d %6d %9s %9s %9s'
              % (r['batch_size'], r['resize'], fmt(r['epoch_seconds']),
                 fmt(r['examples_per_sec'], '%.1f'),
                 fmt(r.get('gflops'), '%.1f')), file=file)
