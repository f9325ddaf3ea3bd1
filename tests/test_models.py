"""The networks: book shapes, pinned sizes, hybridization, gradients."""
import ast
import io
import pathlib

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, init, nd
from mxnet.gluon import nn

import d2l_cnn
from conftest import channels
from d2l_cnn import registry, summary, train
from d2l_cnn.models import batchnorm as bn_module

MODELS = d2l_cnn.list_models()
CHAPTER = ['lenet', 'alexnet', 'vgg', 'nin', 'googlenet', 'batchnorm',
           'resnet', 'densenet']

# Trainable parameters, 1-channel input (3 for CIFAR-10), 10 classes.
# An architecture change must be a deliberate edit of this table.
PARAMS = {
    'alexnet': 46764746,
    'batchnorm': 44878,
    'batchnorm_scratch': 44878,
    'densenet': 758226,
    'densenet121': 6968074,
    'googlenet': 5977530,
    'inception_mnist': 97298,
    'lenet': 44426,
    'nin': 1992166,
    'nin_cifar10': 966986,
    'preact_resnet18': 11178378,
    'resnet': 11178378,
    'resnet34': 21290250,
    'resnet50': 23548810,
    'vgg': 43093322,
    'vgg11': 128806154,
    'vgg16': 134300362,
    'vgg19': 139610058,
}


def small_size(name):
    """A quick input size the network accepts (its minimum, at least 28)."""
    return max(28, MIN_SIZE[name])


MIN_SIZE = {'alexnet': 67, 'nin': 67, 'vgg': 32, 'vgg11': 32, 'vgg16': 32,
            'vgg19': 32, 'lenet': 16, 'batchnorm': 16,
            'batchnorm_scratch': 16, 'inception_mnist': 16,
            'densenet': 29, 'densenet121': 29, 'nin_cifar10': 7,
            'googlenet': 1, 'resnet': 1, 'resnet34': 1, 'resnet50': 1,
            'preact_resnet18': 1}


def built(name, size=None, batch=2, **kwargs):
    net = d2l_cnn.get_model(name, **kwargs)
    net.initialize(init.Xavier())
    size = size or d2l_cnn.get_recipe(name)['resize']
    X = nd.random.uniform(shape=(batch, channels(name), size, size))
    return net, X


def structure(net):
    """(structural name, shape) of every parameter, as save_parameters."""
    return [(k, v.shape) for k, v in
            net._collect_params_with_prefix().items()]


def test_registry_lists_the_chapter_and_variants():
    assert set(CHAPTER) <= set(MODELS)
    assert set(PARAMS) == set(MODELS), 'pin the new network in PARAMS'
    assert MODELS == sorted(MODELS)


def test_unknown_model_lists_the_choices():
    with pytest.raises(ValueError) as err:
        d2l_cnn.get_model('nim')
    msg = str(err.value)
    assert "unknown model 'nim'" in msg
    for name in MODELS:
        assert name in msg
    assert isinstance(err.value, d2l_cnn.UsageError)


def test_registering_a_name_twice_fails():
    def lenet(num_classes=10):
        return nn.HybridSequential()
    with pytest.raises(ValueError, match='already registered'):
        registry.register_model()(lenet)
    assert d2l_cnn.get_entry('lenet').builder is not lenet


def test_recipes_are_the_books():
    book = {'lenet': (0.9, 256, 28), 'alexnet': (0.01, 128, 224),
            'vgg': (0.05, 128, 224), 'nin': (0.1, 128, 224),
            'googlenet': (0.1, 128, 96), 'batchnorm': (1.0, 256, 28),
            'resnet': (0.05, 256, 96), 'densenet': (0.1, 256, 96)}
    for name, (lr, batch_size, resize) in book.items():
        r = d2l_cnn.get_recipe(name)
        assert (r['lr'], r['batch_size'], r['resize']) == \
            (lr, batch_size, resize)
        assert r['num_epochs'] == 5 and r['optimizer'] == 'sgd'


@pytest.mark.parametrize('name', MODELS)
def test_every_network_has_a_book_and_a_cpu_recipe(name):
    book = d2l_cnn.get_recipe(name)
    cpu = d2l_cnn.get_recipe(name, 'cpu')
    assert isinstance(book, registry.Recipe) and book.why == ''
    assert d2l_cnn.get_recipe(name, 'book') is book
    # one sentence, ending with a full stop, saying why it differs
    assert cpu.why.endswith('.') and len(cpu.why) > 40
    assert cpu.data == 'mnist5k' and cpu != book.replace(why=cpu.why)
    # the cpu recipe keeps the architecture: it runs at its input size
    assert cpu.resize >= MIN_SIZE[name]
    # the book initialises with Xavier; a cpu recipe may name another
    # initializer the trainer knows (GoogLeNet's: He et al., 2015)
    assert book.init == 'xavier'
    assert cpu.init == 'xavier' or cpu.init in train.INITIALIZERS


def test_a_network_without_a_cpu_recipe_is_refused():
    def nameless(num_classes=10):
        return nn.HybridSequential()
    with pytest.raises(TypeError, match='give its cpu recipe'):
        registry.register_model(lr=0.1)(nameless)
    with pytest.raises(TypeError, match='unknown recipe keys: momentum'):
        registry.register_model(momentum=0.9)
    with pytest.raises(d2l_cnn.UsageError, match="unknown recipe 'gpu'"):
        d2l_cnn.get_recipe('lenet', 'gpu')
    assert 'nameless' not in d2l_cnn.list_models()


def test_recipes_are_frozen():
    recipe = d2l_cnn.get_recipe('nin')
    with pytest.raises(AttributeError):
        recipe.lr = 1.0
    assert recipe.replace(lr=1.0).lr == 1.0 and recipe.lr == 0.1
    with pytest.raises(KeyError):
        recipe['momentum']


@pytest.mark.parametrize('name', MODELS)
def test_every_builder_takes_num_classes(name):
    net, X = built(name, size=small_size(name), num_classes=7)
    assert net(X).shape == (2, 7)


@pytest.mark.parametrize('name', MODELS)
def test_pinned_parameter_count(name):
    net, X = built(name, batch=1)
    net(X)
    assert summary.count_params(net) == PARAMS[name]


@pytest.mark.parametrize('name', MODELS)
def test_hybridized_equals_imperative(name):
    net, X = built(name, size=small_size(name))
    expected = net(X)
    net.hybridize()
    np.testing.assert_allclose(net(X).asnumpy(), expected.asnumpy(),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('name', MODELS)
def test_every_trainable_parameter_gets_a_gradient(name):
    net, X = built(name, size=small_size(name), batch=4)
    y = nd.array([0, 1, 2, 3])
    loss = mx.gluon.loss.SoftmaxCrossEntropyLoss()
    with autograd.record():
        loss_value = loss(net(X), y)
    loss_value.backward()
    for pname, param in net.collect_params().items():
        if param.grad_req == 'null':
            continue
        assert np.abs(param.grad().asnumpy()).sum() > 0, pname


@pytest.mark.parametrize('name', MODELS)
def test_three_channel_input_is_inferred(name):
    net = d2l_cnn.get_model(name)
    net.initialize(init.Xavier())
    size = small_size(name)
    assert net(nd.zeros((1, 3, size, size))).shape == (1, 10)


@pytest.mark.parametrize('name', MODELS)
def test_min_input_size(name):
    net = d2l_cnn.get_model(name)
    c = channels(name)
    size = summary.min_input_size(net, c)
    assert size == MIN_SIZE[name]
    net = d2l_cnn.get_model(name)
    net.initialize(init.Xavier())
    assert net(nd.zeros((1, c, size, size))).shape == (1, 10)
    if size > 1:
        with pytest.raises(summary.SHAPE_ERRORS):
            fresh = d2l_cnn.get_model(name)
            fresh.initialize()
            fresh(nd.zeros((1, c, size - 1, size - 1))).wait_to_read()


def walk(name, size):
    out = io.StringIO()
    rows = summary.shape_walk(d2l_cnn.get_model(name), (1, 1, size, size),
                              file=out)
    return [r[1][1:] for r in rows], out.getvalue()


def test_alexnet_shapes_and_lines():
    shapes, text = walk('alexnet', 224)
    assert shapes == [(96, 54, 54), (96, 26, 26), (256, 26, 26),
                      (256, 12, 12), (384, 12, 12), (384, 12, 12),
                      (256, 12, 12), (256, 5, 5), (4096,), (4096,),
                      (4096,), (4096,), (10,)]
    lines = text.splitlines()
    assert lines[0].startswith('conv0 output shape:\t (1, 96, 54, 54)')
    assert lines[1].startswith('pool0 output shape:\t (1, 96, 26, 26)')
    assert lines[-1] == 'total parameters: %d' % PARAMS['alexnet']


def test_nin_shapes():
    shapes, _ = walk('nin', 224)
    assert shapes == [(96, 54, 54), (96, 26, 26), (256, 26, 26),
                      (256, 12, 12), (384, 12, 12), (384, 5, 5),
                      (384, 5, 5), (10, 5, 5), (10, 1, 1), (10,)]


@pytest.mark.parametrize('name', ['vgg', 'vgg11'])
def test_vgg_block_shapes(name):
    shapes, _ = walk(name, 224)
    r = 4 if name == 'vgg' else 1
    assert shapes[:5] == [(64 // r, 112, 112), (128 // r, 56, 56),
                          (256 // r, 28, 28), (512 // r, 14, 14),
                          (512 // r, 7, 7)]
    assert shapes[5:] == [(4096,)] * 4 + [(10,)]


def test_googlenet_block_shapes():
    shapes, _ = walk('googlenet', 96)
    assert shapes == [(64, 24, 24), (192, 12, 12), (480, 6, 6),
                      (832, 3, 3), (1024, 1, 1), (10,)]


def test_resnet_shapes():
    shapes, _ = walk('resnet', 224)
    assert shapes == [(64, 112, 112), (64, 112, 112), (64, 112, 112),
                      (64, 56, 56), (64, 56, 56), (128, 28, 28),
                      (256, 14, 14), (512, 7, 7), (512, 1, 1), (10,)]


def test_densenet_channel_flow():
    shapes, _ = walk('densenet', 96)
    assert [s[0] for s in shapes[4:11]] == [192, 96, 224, 112, 240, 120,
                                            248]
    assert shapes[-1] == (10,)


def test_lenet_shapes():
    shapes, _ = walk('lenet', 28)
    assert shapes == [(6, 24, 24), (6, 12, 12), (16, 8, 8), (16, 4, 4),
                      (120,), (84,), (10,)]
    net = d2l_cnn.get_model('lenet', edition=2)
    rows = summary.shape_walk(net, (1, 1, 28, 28), file=io.StringIO())
    assert [r[1][1:] for r in rows][:4] == [(6, 28, 28), (6, 14, 14),
                                            (16, 10, 10), (16, 5, 5)]
    assert isinstance(net[1], nn.AvgPool2D)


def test_layer_names_restart_for_every_network():
    for _ in range(2):
        net = d2l_cnn.get_model('alexnet')
        assert [b.name for b in net][:2] == ['conv0', 'pool0']


# The book's layers, in order, as (structural name, parameter shape):
# save_parameters keys on exactly these, so the book's weights load.
BOOK_STRUCTURE = {
    'lenet': [('0.weight', (6, 1, 5, 5)), ('0.bias', (6,)),
              ('2.weight', (16, 6, 5, 5)), ('2.bias', (16,)),
              ('4.weight', (120, 256)), ('4.bias', (120,)),
              ('5.weight', (84, 120)), ('5.bias', (84,)),
              ('6.weight', (10, 84)), ('6.bias', (10,))],
    'alexnet': [('0.weight', (96, 1, 11, 11)), ('0.bias', (96,)),
                ('2.weight', (256, 96, 5, 5)), ('2.bias', (256,)),
                ('4.weight', (384, 256, 3, 3)), ('4.bias', (384,)),
                ('5.weight', (384, 384, 3, 3)), ('5.bias', (384,)),
                ('6.weight', (256, 384, 3, 3)), ('6.bias', (256,)),
                ('8.weight', (4096, 6400)), ('8.bias', (4096,)),
                ('10.weight', (4096, 4096)), ('10.bias', (4096,)),
                ('12.weight', (10, 4096)), ('12.bias', (10,))],
    'nin': [('0.0.weight', (96, 1, 11, 11)), ('0.0.bias', (96,)),
            ('0.1.weight', (96, 96, 1, 1)), ('0.1.bias', (96,)),
            ('0.2.weight', (96, 96, 1, 1)), ('0.2.bias', (96,)),
            ('2.0.weight', (256, 96, 5, 5)), ('2.0.bias', (256,)),
            ('2.1.weight', (256, 256, 1, 1)), ('2.1.bias', (256,)),
            ('2.2.weight', (256, 256, 1, 1)), ('2.2.bias', (256,)),
            ('4.0.weight', (384, 256, 3, 3)), ('4.0.bias', (384,)),
            ('4.1.weight', (384, 384, 1, 1)), ('4.1.bias', (384,)),
            ('4.2.weight', (384, 384, 1, 1)), ('4.2.bias', (384,)),
            ('7.0.weight', (10, 384, 3, 3)), ('7.0.bias', (10,)),
            ('7.1.weight', (10, 10, 1, 1)), ('7.1.bias', (10,)),
            ('7.2.weight', (10, 10, 1, 1)), ('7.2.bias', (10,))],
    'vgg': [('0.0.weight', (16, 1, 3, 3)), ('0.0.bias', (16,)),
            ('1.0.weight', (32, 16, 3, 3)), ('1.0.bias', (32,)),
            ('2.0.weight', (64, 32, 3, 3)), ('2.0.bias', (64,)),
            ('2.1.weight', (64, 64, 3, 3)), ('2.1.bias', (64,)),
            ('3.0.weight', (128, 64, 3, 3)), ('3.0.bias', (128,)),
            ('3.1.weight', (128, 128, 3, 3)), ('3.1.bias', (128,)),
            ('4.0.weight', (128, 128, 3, 3)), ('4.0.bias', (128,)),
            ('4.1.weight', (128, 128, 3, 3)), ('4.1.bias', (128,)),
            ('5.weight', (4096, 6272)), ('5.bias', (4096,)),
            ('7.weight', (4096, 4096)), ('7.bias', (4096,)),
            ('9.weight', (10, 4096)), ('9.bias', (10,))],
}

# Spot checks of the networks with blocks: name -> shape.
BOOK_KEYS = {
    'googlenet': {'2.0.p1_1.weight': (64, 192, 1, 1),
                  '2.0.p2_2.weight': (128, 96, 3, 3),
                  '2.0.p3_2.weight': (32, 16, 5, 5),
                  '2.0.p4_2.weight': (32, 192, 1, 1),
                  '1.0.weight': (64, 64, 1, 1),
                  '1.1.weight': (192, 64, 3, 3),
                  '4.1.p4_2.weight': (128, 832, 1, 1),
                  '5.weight': (10, 1024)},
    'batchnorm': {'1.gamma': (6,), '1.running_var': (6,),
                  '9.gamma': (120,), '14.weight': (10, 84)},
    'resnet': {'0.weight': (64, 1, 7, 7), '1.gamma': (64,),
               '4.0.conv1.weight': (64, 64, 3, 3),
               '5.0.conv1.weight': (128, 64, 3, 3),
               '5.0.conv3.weight': (128, 64, 1, 1),
               '5.0.bn2.gamma': (128,),
               '7.1.conv2.weight': (512, 512, 3, 3),
               '9.weight': (10, 512)},
    'densenet': {'4.net.0.0.gamma': (64,),
                 '4.net.0.2.weight': (32, 64, 3, 3),
                 '4.net.3.2.weight': (32, 160, 3, 3),
                 '5.2.weight': (96, 192, 1, 1),
                 '9.2.weight': (120, 240, 1, 1),
                 '10.net.3.2.weight': (32, 216, 3, 3),
                 '11.gamma': (248,), '14.weight': (10, 248)},
}


@pytest.mark.parametrize('name', sorted(BOOK_STRUCTURE))
def test_layer_for_layer_as_the_book(name):
    net, X = built(name, batch=1)
    net(X)
    assert structure(net) == BOOK_STRUCTURE[name]


@pytest.mark.parametrize('name', sorted(BOOK_KEYS))
def test_block_networks_as_the_book(name):
    net, X = built(name, batch=1)
    net(X)
    shapes = dict(structure(net))
    for key, shape in BOOK_KEYS[name].items():
        assert shapes.get(key) == shape, key
    # only b2's convolutions carry a ReLU in googlenet (the later fix)
    if name == 'googlenet':
        assert all(c.act is not None for c in net[1][:2])


def test_saved_parameters_load_into_a_fresh_network(tmp_path):
    net, X = built('resnet', size=32)
    expected = net(X)
    net.save_parameters(str(tmp_path / 'resnet.params'))
    other = d2l_cnn.get_model('resnet')
    other.load_parameters(str(tmp_path / 'resnet.params'))
    np.testing.assert_allclose(other(X).asnumpy(), expected.asnumpy(),
                               rtol=1e-6)


@pytest.mark.parametrize('training', [True, False])
def test_scratch_batch_norm_matches_gluon(training):
    X = nd.random.normal(2, 3, shape=(8, 5, 6, 6))
    gluon_bn = nn.BatchNorm(in_channels=5)
    gluon_bn.initialize()
    scratch = bn_module.BatchNorm(5, num_dims=4)
    scratch.initialize()
    for _ in range(3):  # move the moving statistics a few steps
        # (Gluon's BatchNorm updates them in the backward pass)
        with autograd.record(train_mode=True):
            Y = gluon_bn(X * 1.5) + scratch(X * 1.5)
        Y.backward()
    np.testing.assert_allclose(
        scratch.moving_mean.data().asnumpy().ravel(),
        gluon_bn.running_mean.data().asnumpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        scratch.moving_var.data().asnumpy().ravel(),
        gluon_bn.running_var.data().asnumpy(), rtol=1e-4, atol=1e-5)
    with autograd.record(train_mode=training):
        expected = gluon_bn(X)
        got = scratch(X)
    np.testing.assert_allclose(got.asnumpy(), expected.asnumpy(),
                               rtol=1e-4, atol=1e-4)


def test_scratch_batch_norm_dense_layer():
    X = nd.random.normal(shape=(16, 7))
    Y, mean, var = bn_module.batch_norm(
        X, nd.ones((1, 7)), nd.zeros((1, 7)), nd.zeros((1, 7)),
        nd.ones((1, 7)), eps=1e-5, momentum=0.9)
    assert Y.shape == (16, 7)  # not training: moving statistics
    with autograd.record():
        Y, mean, var = bn_module.batch_norm(
            X, nd.ones((1, 7)), nd.zeros((1, 7)), nd.zeros((1, 7)),
            nd.ones((1, 7)), eps=1e-5, momentum=0.9)
    np.testing.assert_allclose(Y.mean(axis=0).asnumpy(), 0, atol=1e-5)
    np.testing.assert_allclose(mean.asnumpy().ravel(),
                               0.1 * X.mean(axis=0).asnumpy(), rtol=1e-5)


def test_models_never_import_training_code():
    root = pathlib.Path(d2l_cnn.__file__).parent / 'models'
    for path in root.glob('*.py'):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                names = (node.module or '').split('.')
                assert not {'train', 'data', 'trainer'} & set(names), path
                assert 'gluon.Trainer' not in ast.dump(node)
