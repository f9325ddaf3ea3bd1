"""explain: feature maps, filters, Grad-CAM, occlusion, mistakes."""
import mxnet as mx
import numpy as np
import pytest
from matplotlib.figure import Figure
from mxnet import autograd, gluon, init, nd
from mxnet.gluon import nn

import d2l_cnn
from conftest import channels
from d2l_cnn import explain
from d2l_cnn.errors import UsageError

SIZE = 32  # the synthetic task's images: (1, 32, 32), four quadrants


def _net(name, hybridize=False, ctx=None):
    net = d2l_cnn.get_model(name)
    mx.random.seed(0)
    net.initialize(init.Xavier(), ctx=ctx)
    if hybridize:
        net.hybridize()
    return net


def _input(name, n=2, ctx=None):
    recipe = d2l_cnn.get_recipe(name, 'cpu')
    mx.random.seed(1)
    return nd.random.uniform(
        shape=(n, channels(name), recipe.resize, recipe.resize),
        ctx=ctx or mx.cpu())


@pytest.mark.parametrize('hybridize', [False, True])
@pytest.mark.parametrize('name', d2l_cnn.list_models())
def test_feature_maps_are_the_layers_run_one_by_one(name, hybridize):
    net = _net(name, hybridize)
    X = _input(name)
    maps = explain.feature_maps(net, X)
    assert [n for n, _ in maps] == [layer.name for layer in net]
    Y = X
    for (_, out), layer in zip(maps, net):
        Y = layer(Y)
        np.testing.assert_allclose(out.asnumpy(), Y.asnumpy(), rtol=1e-5,
                                   atol=1e-6)
    # the last output is the network's
    np.testing.assert_allclose(maps[-1][1].asnumpy(), net(X).asnumpy(),
                               rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('name', d2l_cnn.list_models())
def test_grad_cam_and_filters_on_every_network(name):
    net = _net(name, hybridize=True)
    X = _input(name)
    cam = explain.class_activation_map(net, X)
    assert cam.shape == (2,) + X.shape[2:]
    values = cam.asnumpy()
    assert values.min() >= 0 and values.max() <= 1 + 1e-6
    fig = explain.show_filters(net)
    assert isinstance(fig, Figure)


def test_multi_device_network():
    ctx = [mx.cpu(0), mx.cpu(1)]
    net = _net('lenet', ctx=ctx)
    X = _input('lenet', ctx=mx.cpu(1))
    cam = explain.class_activation_map(net, X)
    assert cam.context == mx.cpu(1)
    assert len(explain.feature_maps(net, X)) == len(net)
    explain.show_filters(net)


def test_nin_class_maps_average_to_the_scores():
    net = _net('nin', hybridize=True)
    X = nd.random.uniform(shape=(3, 1, 160, 160))
    maps = explain.nin_class_maps(net, X)
    assert maps.shape == (3, 10, 3, 3)
    np.testing.assert_allclose(maps.mean(axis=(2, 3)).asnumpy(),
                               net(X).asnumpy(), rtol=1e-4, atol=1e-6)
    with pytest.raises(UsageError, match='global average pool'):
        explain.nin_class_maps(_net('lenet'), _input('lenet'))


# ----------------------------------------------- a task with an answer

def _squares(n, seed):
    """Noise with an 8x8 bright square; the class is its quadrant.

    Two more channels hold each pixel's row and column (CoordConv, Liu
    et al., 2018), so that a convolution can tell where it is.
    """
    rng = np.random.RandomState(seed)
    X = rng.uniform(0, 0.3, size=(n, 3, SIZE, SIZE)).astype(np.float32)
    X[:, 1] = np.arange(SIZE).reshape(-1, 1) / SIZE
    X[:, 2] = np.arange(SIZE).reshape(1, -1) / SIZE
    y = rng.randint(0, 4, size=n)
    corners = []
    for i, q in enumerate(y):
        r = (q // 2) * 16 + rng.randint(0, 9)
        c = (q % 2) * 16 + rng.randint(0, 9)
        X[i, 0, r:r + 8, c:c + 8] = 1
        corners.append((r, c))
    return nd.array(X), nd.array(y), corners


def _square_net():
    """Two convolutions, then one map per class and a global average
    pool, as NiN ends (without the ReLU on the class maps)."""
    net = nn.HybridSequential()
    net.add(nn.Conv2D(16, 3, padding=1, activation='relu'),
            nn.MaxPool2D(2),                         # (batch, 16, 16, 16)
            nn.Conv2D(16, 3, padding=1, activation='relu'),
            nn.MaxPool2D(2),                         # (batch, 16, 8, 8)
            nn.Conv2D(4, 1),                         # (batch, 4, 8, 8)
            nn.GlobalAvgPool2D(),                    # (batch, 4, 1, 1)
            nn.Flatten())                            # (batch, 4)
    return net


@pytest.fixture(scope='module')
def square_net():
    """A small network trained in seconds to name the square's quadrant."""
    mx.random.seed(0)
    net = _square_net()
    net.initialize(init.Xavier())
    X, y, _ = _squares(512, seed=0)
    trainer = gluon.Trainer(net.collect_params(), 'adam',
                            {'learning_rate': 0.01})
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    for epoch in range(10):
        for i in range(0, 512, 64):
            with autograd.record():
                l = loss(net(X[i:i + 64]), y[i:i + 64])
            l.backward()
            trainer.step(64)
    Xt, yt, corners = _squares(64, seed=1)
    accuracy = (net(Xt).argmax(axis=1) == yt).mean().asscalar()
    assert accuracy > 0.95, 'the square network did not learn'
    return net, Xt, yt, corners


def _quadrant(r, c):
    return (r >= SIZE // 2) * 2 + (c >= SIZE // 2)


def test_grad_cam_peaks_in_the_square_quadrant(square_net):
    net, X, y, corners = square_net
    cam = explain.class_activation_map(net, X).asnumpy()
    hits = 0
    for i, (r, c) in enumerate(corners):
        peak = np.unravel_index(cam[i].argmax(), cam[i].shape)
        hits += _quadrant(*peak) == _quadrant(r + 4, c + 4)
    assert hits / len(corners) >= 0.9


def test_grad_cam_of_a_pooled_linear_head_is_the_cam():
    """Conv -> global average pool -> Dense: Grad-CAM's weights are the
    Dense weights over h * w, so it is the CAM of Zhou et al. (2016)."""
    mx.random.seed(2)
    net = nn.HybridSequential()
    net.add(nn.Conv2D(6, 3, activation='relu'), nn.GlobalAvgPool2D(),
            nn.Dense(5))
    net.initialize(init.Xavier())
    X = nd.random.uniform(shape=(3, 1, 12, 12))
    cam = explain.class_activation_map(net, X, cls=[0, 3, 4], layer=0)
    A = net[0](X)                                    # (3, 6, 10, 10)
    W = net[2].weight.data()                         # (5, 6)
    expected = nd.relu((W[[0, 3, 4]].reshape((3, 6, 1, 1)) * A).sum(1))
    expected = explain._scale(explain._upsample(expected, 12, 12))
    np.testing.assert_allclose(cam.asnumpy(), expected.asnumpy(),
                               atol=1e-5)


def test_occlusion_of_the_square_drops_most(square_net):
    net, X, y, corners = square_net
    drops = explain.occlusion(net, X[:16], patch=8, stride=4).asnumpy()
    assert drops.shape == (16, 7, 7)
    hits = 0
    for i, (r, c) in enumerate(corners[:16]):
        i_max, j_max = np.unravel_index(drops[i].argmax(), drops[i].shape)
        # the most harmful patch overlaps the square
        hits += (abs(i_max * 4 - r) < 8) and (abs(j_max * 4 - c) < 8)
    assert hits >= 15


def test_top_mistakes_are_the_most_confident_wrong_ones(square_net):
    net, X, y, _ = square_net
    y_wrong = y.copy()
    y_wrong[:5] = (y[:5] + 1) % 4  # five labels made wrong
    data_iter = [(X[:32], y_wrong[:32]), (X[32:], y_wrong[32:])]
    mistakes = explain.top_mistakes(net, data_iter, k=3)
    probs = net(X).softmax(axis=1).asnumpy()
    predictions = probs.argmax(axis=1)
    wrong = np.flatnonzero(predictions != y_wrong.asnumpy())
    order = wrong[np.argsort(-probs[wrong, predictions[wrong]],
                             kind='stable')]
    assert [m.index for m in mistakes] == list(order[:3])
    for m in mistakes:
        assert m.label == int(y_wrong[m.index].asscalar())
        assert m.prediction == predictions[m.index] != m.label
        assert m.probability == pytest.approx(
            probs[m.index, m.prediction], rel=1e-5)
        assert m.image.shape == (3, SIZE, SIZE)
    assert isinstance(explain.show_mistakes(mistakes), Figure)


def test_pictures(square_net):
    net, X, y, _ = square_net
    fig = explain.show_feature_maps(net, X[0], max_channels=4)
    # the input row, then one row per layer with a map larger than 1x1
    # (conv0, pool0, conv1, pool1, conv2), 1 + 4 columns
    assert len(fig.axes) == 6 * 5
    cam = explain.class_activation_map(net, X[:4])
    assert isinstance(explain.show_heatmaps(X[:4], cam), Figure)
    drops = explain.occlusion(net, X[:2])
    assert isinstance(explain.show_heatmaps(X[:2], drops), Figure)


# --------------------------------------------------------- bad input

def test_bad_input_gets_one_line(square_net):
    net, X, _, _ = square_net
    with pytest.raises(UsageError, match='no top-level layer .conv9.; '
                       'choose one of: conv'):
        explain.class_activation_map(net, X, layer='conv9')
    with pytest.raises(UsageError, match='layer 7 does not exist'):
        explain.class_activation_map(net, X, layer=7)
    with pytest.raises(UsageError, match=r'cls must be a class from 0 to 3'):
        explain.class_activation_map(net, X, cls=4)
    with pytest.raises(UsageError, match=r'cls must be a class from 0 to 3'):
        explain.occlusion(net, X[:1], cls=-1)
    with pytest.raises(UsageError, match=r'X must have shape'):
        explain.feature_maps(net, X[0])
    lenet = _net('lenet')
    lenet(nd.zeros((1, 1, 28, 28)))  # its shapes are now known
    with pytest.raises(d2l_cnn.D2LError, match='cannot take an input of '
                       r'shape \(1, 3, 32, 32\)'):
        explain.feature_maps(lenet, nd.zeros((1, 3, 32, 32)))
    with pytest.raises(UsageError, match='patch 40 is larger'):
        explain.occlusion(net, X[:1], patch=40)
    with pytest.raises(UsageError, match='no convolution .dense0.'):
        explain.show_filters(net, layer='dense0')
    with pytest.raises(UsageError, match='k must be a positive'):
        explain.top_mistakes(net, [], k=0)
    with pytest.raises(UsageError, match='no mistakes to show'):
        explain.show_mistakes([])


# ------------------------------------------- predict --explain KIND

@pytest.mark.parametrize('kind', explain.KINDS)
def test_predict_explain_writes_each_picture(kind, tmp_path):
    from test_predict import _run_dir
    from d2l_cnn import predict as P
    run = tmp_path / 'run'
    _run_dir(run)
    png = P.explain_run(str(run), kind, num=3)
    assert png == str(run / ('explain-%s.png' % kind))
    with open(png, 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    # never over an existing picture without force
    with pytest.raises(UsageError, match='exists: pass --force'):
        P.explain_run(str(run), kind, num=3)
    before = (run / ('explain-%s.png' % kind)).stat().st_mtime_ns
    P.explain_run(str(run), kind, num=3, force=True)
    assert (run / ('explain-%s.png' % kind)).stat().st_mtime_ns >= before


def test_predict_explain_command(tmp_path):
    import subprocess
    import sys
    from conftest import subprocess_env
    from test_predict import _run_dir
    run = tmp_path / 'run'
    _run_dir(run)
    (run / 'explain-cam.png').write_bytes(b'mine')

    def command(*args):
        return subprocess.run(
            [sys.executable, '-m', 'd2l_cnn.predict', '--out', str(run),
             *args], capture_output=True, text=True, env=subprocess_env())
    done = command('--explain', 'cam', '--num', '2')
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        'error: %s exists: pass --force to replace it'
        % (run / 'explain-cam.png')]
    assert (run / 'explain-cam.png').read_bytes() == b'mine'
    done = command('--explain', 'cam', '--num', '2', '--png',
                   str(tmp_path / 'cam.png'))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == 'wrote %s' % (tmp_path / 'cam.png')
    done = command('--force')
    assert done.returncode == 2
    assert 'error: --force goes with --explain' in done.stderr


def test_show_kernels_writes_every_value():
    K = nd.array([[1, -1]])
    learned = nd.array([[[[0.98, -1.01]]]])
    fig = explain.show_kernels([K, learned], ['K', 'learned'])
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert texts == ['1.00', '-1.00', '0.98', '-1.01']
    with pytest.raises(UsageError, match='at most 7x7'):
        explain.show_kernels([nd.zeros((8, 8))])
