"""Per-layer cost table: hand formulas, parameter counts, nested blocks."""
import io

import pytest
from mxnet.gluon import nn

import d2l_cnn
from conftest import channels
from d2l_cnn import cost, summary
from d2l_cnn.errors import D2LError, UsageError

MODELS = d2l_cnn.list_models()


def conv_flops(c_out, h, w, c_in, k):
    """2 x multiply-adds of a k x k convolution with an h x w output."""
    return 2 * c_out * h * w * c_in * k * k


def dense_flops(units, in_units):
    return 2 * units * in_units


@pytest.mark.parametrize('name', MODELS)
def test_every_network(name):
    """Totals add up; the rows are the book's shape walk (names, shapes,
    parameters); parameters agree with summary.count_params."""
    net = d2l_cnn.get_model(name)
    size = 96 if name in ('alexnet', 'nin') else 64  # alexnet needs 67
    shape = (2, channels(name), size, size)
    walk = summary.shape_walk(net, shape, file=io.StringIO())
    table = cost.cost_table(net, shape)
    rows, tot = table['rows'], table['totals']
    assert [(r['name'], r['out_shape'], r['params']) for r in rows] == \
        [(n, tuple(s), p) for n, s, p in walk]
    assert tot['flops'] > 0 and tot['other_flops'] > 0
    assert tot['train_bytes'] > 0 and tot['peak_inference_bytes'] > 0
    assert tot['params'] == summary.count_params(net)
    assert sum(r['params'] for r in rows) == tot['params']
    assert sum(r['flops'] for r in rows) == tot['flops']
    assert tot['train_flops'] == 3 * tot['total_flops']
    for r in table['layers']:
        assert r['flops'] >= 0 and r['other_flops'] >= 0
        assert r['intensity'] >= 0


def test_lenet_hand_formulas():
    table = cost.cost_table(d2l_cnn.get_model('lenet'), (1, 1, 28, 28))
    flops = {r['name']: r['flops'] for r in table['rows']}
    assert flops == {
        'conv0': conv_flops(6, 24, 24, 1, 5),
        'pool0': 0,
        'conv1': conv_flops(16, 8, 8, 6, 5),
        'pool1': 0,
        'dense0': dense_flops(120, 16 * 4 * 4),
        'dense1': dense_flops(84, 120),
        'dense2': dense_flops(10, 84),
    }
    other = {r['name']: r['other_flops'] for r in table['rows']}
    # sigmoid: one per output; 2x2 max-pool: 4 comparisons per output
    assert other['conv0'] == 6 * 24 * 24
    assert other['pool0'] == 6 * 12 * 12 * 4
    assert other['dense2'] == 0


def test_alexnet_hand_formulas():
    table = cost.cost_table(d2l_cnn.get_model('alexnet'), (1, 1, 224, 224))
    flops = {r['name']: r['flops'] for r in table['rows'] if r['flops']}
    assert flops == {
        'conv0': conv_flops(96, 54, 54, 1, 11),  # 67.7 MFLOPs
        'conv1': conv_flops(256, 26, 26, 96, 5),
        'conv2': conv_flops(384, 12, 12, 256, 3),
        'conv3': conv_flops(384, 12, 12, 384, 3),
        'conv4': conv_flops(256, 12, 12, 384, 3),
        'dense0': dense_flops(4096, 256 * 5 * 5),
        'dense1': dense_flops(4096, 4096),
        'dense2': dense_flops(10, 4096),
    }
    assert flops['conv0'] == 67744512
    rows = {r['name']: r for r in table['rows']}
    # the exercise: dense layers hold the parameters, convs do the work
    dense = sum(rows[n]['params'] for n in ('dense0', 'dense1', 'dense2'))
    assert dense / table['totals']['params'] > 0.9
    convs = sum(rows['conv%d' % i]['flops'] for i in range(5))
    assert convs / table['totals']['flops'] > 0.9
    # a dense layer at batch 1 reads each weight for 2 FLOPs: < 0.5 FLOP/B
    assert rows['dense0']['intensity'] < 0.5 < 100 < rows['conv1'][
        'intensity']
    # backprop keeps the convolution's output and its ReLU's
    assert rows['conv0']['train_bytes'] == 2 * rows['conv0']['out_bytes']
    assert rows['conv0']['out_bytes'] == 4 * 96 * 54 * 54


def test_resnet18_imagenet_flops():
    """ResNet-18, 3 x 224 x 224, 1000 classes: 1.8 GMACs (He et al.)."""
    net = d2l_cnn.get_model('resnet', num_classes=1000)
    tot = cost.cost_table(net, (1, 3, 224, 224))['totals']
    assert abs(tot['flops'] / 2 - 1.814e9) / 1.814e9 < 0.01
    assert 11.6e6 < tot['params'] < 11.8e6


def test_batch_scales_linearly():
    net = d2l_cnn.get_model('batchnorm')
    one = cost.cost_table(net, (1, 1, 28, 28))['totals']
    four = cost.cost_table(net, (4, 1, 28, 28))['totals']
    assert four['flops'] == 4 * one['flops']
    assert four['train_bytes'] == 4 * one['train_bytes']
    assert four['flops_per_example'] == one['flops_per_example']
    assert cost.flops_per_example(net, (4, 1, 28, 28), True) == one['flops']


def test_nested_blocks_own_ops():
    """Residual's addition and ReLUs, DenseBlock's concat are counted."""
    table = cost.cost_table(d2l_cnn.get_model('resnet'), (1, 1, 96, 96))
    kinds = [r['kind'] for r in table['layers']]
    assert kinds.count('elemwise_add') == 8  # one per residual block
    add = next(r for r in table['layers'] if r['kind'] == 'elemwise_add')
    assert add['other_flops'] == add['out_bytes'] // 4
    table = cost.cost_table(d2l_cnn.get_model('densenet'), (1, 1, 96, 96))
    concats = [r for r in table['layers'] if r['kind'] == 'Concat']
    assert len(concats) == 16  # 4 dense blocks of 4 convolutions
    assert all(r['flops'] == r['other_flops'] == 0 for r in concats)
    assert all(r['train_bytes'] == r['out_bytes'] > 0 for r in concats)
    # the last concat of the first block: 64 + 4 * 32 channels at 24 x 24
    assert concats[3]['out_shape'] == (1, 192, 24, 24)
    table = cost.cost_table(d2l_cnn.get_model('googlenet'), (1, 1, 96, 96))
    concats = [r for r in table['layers'] if r['kind'] == 'Concat']
    assert len(concats) == 9  # nine Inception blocks


def test_hybridized_net_is_walked_and_restored():
    net = d2l_cnn.get_model('resnet')
    shape = (1, 1, 64, 64)
    before = cost.cost_table(net, shape)
    net.hybridize(static_alloc=True)
    after = cost.cost_table(net, shape)
    assert after['totals'] == before['totals']
    assert net._active and net[4]._active


def test_scratch_batchnorm_is_a_layer():
    table = cost.cost_table(d2l_cnn.get_model('batchnorm_scratch'),
                            (2, 1, 28, 28))
    bns = [r for r in table['layers'] if r['kind'] == 'BatchNorm']
    assert len(bns) == 4
    assert bns[0]['other_flops'] == 2 * 2 * 6 * 24 * 24


def test_single_layer_net():
    net = nn.Conv2D(8, kernel_size=3, in_channels=2)
    table = cost.cost_table(net, (1, 2, 10, 10))
    assert [r['flops'] for r in table['rows']] == [conv_flops(8, 8, 8, 2, 3)]


def test_print_cost_table():
    buf = io.StringIO()
    net = d2l_cnn.get_model('googlenet')
    table = cost.print_cost_table(net, (1, 1, 96, 96), file=buf)
    lines = buf.getvalue().splitlines()
    assert lines[0].split()[:3] == ['layer', 'output', 'shape']
    assert len(lines) == len(table['rows']) + 2
    assert lines[-1].startswith('total')
    buf = io.StringIO()
    cost.print_cost_table(net, (1, 1, 96, 96), leaves=True, file=buf)
    assert len(buf.getvalue().splitlines()) > len(lines) + 50


def test_bad_shapes():
    net = d2l_cnn.get_model('alexnet')
    with pytest.raises(UsageError, match='shape'):
        cost.cost_table(net, (1, 0, 224, 224))
    with pytest.raises(D2LError, match='cannot run'):
        cost.cost_table(net, (1, 1, 28, 28))  # too small for AlexNet


def test_cli(capsys):
    assert cost.main(['lenet', '--leaves']) == 0
    out = capsys.readouterr().out
    assert 'conv0' in out and 'total' in out
    assert cost.main(['alexnet', '--resize', '28']) == 1
    assert capsys.readouterr().err.startswith('error: cannot run')
    with pytest.raises(SystemExit):
        cost.main(['--leaves'])
    assert cost.main(['nim']) == 2
    assert 'unknown model' in capsys.readouterr().err
