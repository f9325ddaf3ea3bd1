"""The hand-written operations of 5.1-5.4 against Gluon's own operators."""
import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, nd
from mxnet.gluon import nn

from d2l_cnn import UsageError
from d2l_cnn.layers import (Conv2D, comp_conv2d, corr2d, corr2d_multi_in,
                            corr2d_multi_in_out, corr2d_multi_in_out_1x1,
                            learn_kernel, pool2d)

# (input height, width), (kernel height, width)
SHAPES = [((6, 8), (1, 2)), ((5, 5), (3, 3)), ((7, 4), (7, 1)),
          ((3, 3), (3, 3)), ((10, 9), (2, 5)), ((1, 6), (1, 6))]


def rand(*shape, seed=0):
    rng = np.random.default_rng((seed,) + shape)
    return nd.array(rng.standard_normal(shape))


def mx_corr(X, K):
    """Gluon's convolution of a (c_i, h, w) X with a (c_o, c_i, kh, kw) K."""
    Y = nd.Convolution(X.expand_dims(0), K, kernel=K.shape[2:],
                       num_filter=K.shape[0], no_bias=True)
    return Y[0]  # (c_o, oh, ow)


def close(a, b, tol=1e-5):
    np.testing.assert_allclose(a.asnumpy(), b.asnumpy(), rtol=tol,
                               atol=tol)


# ------------------------------------------------------------- 5.1

def test_corr2d_by_hand():
    X = nd.arange(9).reshape((3, 3))
    K = nd.array([[0, 1], [2, 3]])
    # 0*0 + 1*1 + 3*2 + 4*3 = 19, and so on
    np.testing.assert_array_equal(corr2d(X, K).asnumpy(),
                                  [[19, 25], [37, 43]])


@pytest.mark.parametrize('xshape, kshape', SHAPES)
def test_corr2d_matches_convolution(xshape, kshape):
    X, K = rand(*xshape), rand(*kshape, seed=1)
    Y = corr2d(X, K)
    assert Y.shape == (xshape[0] - kshape[0] + 1, xshape[1] - kshape[1] + 1)
    close(Y, mx_corr(X.expand_dims(0), K.reshape((1, 1) + kshape))[0])


def test_corr2d_gradient_matches_convolution():
    X, K = rand(5, 7), rand(2, 3, seed=1)
    grads = []
    for f in (corr2d,
              lambda X, K: mx_corr(X.expand_dims(0),
                                   K.reshape((1, 1) + K.shape))[0]):
        X.attach_grad()
        K.attach_grad()
        with autograd.record():
            Y = f(X, K)
            loss = (Y * Y).sum()
        loss.backward()
        grads.append((X.grad.copy(), K.grad.copy()))
    close(grads[0][0], grads[1][0], 1e-4)
    close(grads[0][1], grads[1][1], 1e-4)


def test_corr2d_edge_detection():
    X = nd.ones((6, 8))
    X[:, 2:6] = 0
    Y = corr2d(X, nd.array([[1, -1]]))
    row = [0, 1, 0, 0, 0, -1, 0]  # white -> black, black -> white
    np.testing.assert_array_equal(Y.asnumpy(), np.tile(row, (6, 1)))


@pytest.mark.parametrize('X, K', [
    (nd.ones((2, 3, 3)), nd.ones((2, 2))),   # not 2-D
    (nd.ones((3, 3)), nd.ones((4, 1))),      # kernel too tall
    (nd.ones((3, 3)), nd.ones((1, 4))),      # kernel too wide
])
def test_corr2d_rejects_bad_shapes(X, K):
    with pytest.raises(UsageError):
        corr2d(X, K)


def test_conv2d_block_is_corr2d_plus_bias():
    mx.random.seed(0)
    conv2d = Conv2D(kernel_size=(2, 3))
    conv2d.initialize(mx.init.Normal(1))
    conv2d.bias.set_data(nd.array([0.5]))
    X = rand(6, 6)
    close(conv2d(X), corr2d(X, conv2d.weight.data()) + 0.5)
    assert conv2d.weight.shape == (2, 3)
    assert Conv2D(kernel_size=3).weight.shape == (3, 3)


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_learnt_edge_kernel(seed):
    mx.random.seed(seed)
    X = nd.ones((6, 8))
    X[:, 2:6] = 0
    Y = corr2d(X, nd.array([[1, -1]]))
    conv2d, losses = learn_kernel(X, Y, kernel_size=(1, 2))
    assert len(losses) == 30
    assert losses[-1] < 1e-2 * losses[0]
    np.testing.assert_allclose(conv2d.weight.data().asnumpy(), [[1, -1]],
                               atol=0.02)
    assert abs(conv2d.bias.data().asscalar()) < 0.02


def test_learn_kernel_diverges_with_too_large_a_step():
    # the documented limit: the bias's curvature allows steps < ~0.016
    mx.random.seed(0)
    X = nd.ones((6, 8))
    X[:, 2:6] = 0
    Y = corr2d(X, nd.array([[1, -1]]))
    _, losses = learn_kernel(X, Y, (1, 2), lr=0.03, num_epochs=10)
    assert losses[-1] > losses[0]


# ------------------------------------------------------------- 5.2

@pytest.mark.parametrize('kwargs, shape', [
    (dict(kernel_size=3, padding=1), (8, 8)),
    (dict(kernel_size=(5, 3), padding=(2, 1)), (8, 8)),
    (dict(kernel_size=3, padding=1, strides=2), (4, 4)),
    (dict(kernel_size=(3, 5), padding=(0, 1), strides=(3, 4)), (2, 2)),
])
def test_comp_conv2d_book_shapes(kwargs, shape):
    assert comp_conv2d(nn.Conv2D(1, **kwargs), nd.random.uniform(
        shape=(8, 8))).shape == shape


@pytest.mark.parametrize('h, w, k, p, s', [
    (8, 8, 3, 1, 1), (9, 7, 3, 0, 2), (10, 11, 5, 2, 3), (7, 7, 1, 0, 2),
    (6, 9, 4, 3, 1), (12, 5, 2, 1, 4)])
def test_comp_conv2d_is_padded_strided_corr2d(h, w, k, p, s):
    X = rand(h, w)
    conv2d = nn.Conv2D(1, kernel_size=k, padding=p, strides=s)
    Y = comp_conv2d(conv2d, X)
    # floor((h - k + 2p + s) / s) rows, the same for columns
    assert Y.shape == ((h - k + 2 * p + s) // s, (w - k + 2 * p + s) // s)
    padded = nd.zeros((h + 2 * p, w + 2 * p))
    padded[p:p + h, p:p + w] = X
    K = conv2d.weight.data()[0, 0]
    expected = corr2d(padded, K)[::s, ::s] + conv2d.bias.data()
    close(Y, expected)


def test_comp_conv2d_rejects_a_batch():
    with pytest.raises(UsageError):
        comp_conv2d(nn.Conv2D(1, kernel_size=3), nd.ones((1, 1, 8, 8)))


# ------------------------------------------------------------- 5.3

def test_corr2d_multi_in_by_hand():
    X = nd.array([[[0, 1, 2], [3, 4, 5], [6, 7, 8]],
                  [[1, 2, 3], [4, 5, 6], [7, 8, 9]]])
    K = nd.array([[[0, 1], [2, 3]], [[1, 2], [3, 4]]])
    np.testing.assert_array_equal(corr2d_multi_in(X, K).asnumpy(),
                                  [[56, 72], [104, 120]])


@pytest.mark.parametrize('c_i, c_o, xshape, kshape', [
    (1, 1, (5, 5), (2, 2)), (2, 3, (6, 8), (3, 3)), (3, 2, (7, 5), (1, 4)),
    (4, 1, (4, 4), (4, 4))])
def test_corr2d_multi_in_out_matches_convolution(c_i, c_o, xshape, kshape):
    X = rand(c_i, *xshape)
    K = rand(c_o, c_i, *kshape, seed=1)
    Y = corr2d_multi_in_out(X, K)
    expected = mx_corr(X, K)
    assert Y.shape == expected.shape
    close(Y, expected, 1e-4)
    close(corr2d_multi_in(X, K[0]), expected[0], 1e-4)


def test_corr2d_multi_in_rejects_channel_mismatch():
    with pytest.raises(UsageError):
        corr2d_multi_in(nd.ones((3, 4, 4)), nd.ones((2, 2, 2)))


@pytest.mark.parametrize('c_i, c_o, h, w', [(3, 2, 3, 3), (1, 4, 5, 2),
                                            (6, 6, 7, 7)])
def test_1x1_as_matrix_product(c_i, c_o, h, w):
    X = rand(c_i, h, w)
    K = rand(c_o, c_i, 1, 1, seed=1)
    Y = corr2d_multi_in_out_1x1(X, K)
    close(Y, corr2d_multi_in_out(X, K), 1e-4)
    conv = nn.Conv2D(c_o, kernel_size=1, use_bias=False)
    conv.initialize()
    conv.weight.set_data(K)
    close(Y, conv(X.expand_dims(0))[0], 1e-4)


def test_1x1_rejects_larger_kernels():
    with pytest.raises(UsageError):
        corr2d_multi_in_out_1x1(nd.ones((3, 4, 4)), nd.ones((2, 3, 3, 3)))


# ------------------------------------------------------------- 5.4

def test_pool2d_by_hand():
    X = nd.arange(9).reshape((3, 3))
    np.testing.assert_array_equal(pool2d(X, (2, 2)).asnumpy(),
                                  [[4, 5], [7, 8]])
    np.testing.assert_array_equal(pool2d(X, (2, 2), 'avg').asnumpy(),
                                  [[2, 3], [5, 6]])


POOLS = [((4, 4), (2, 2)), ((6, 8), (3, 3)), ((5, 7), (2, 4)),
         ((3, 3), (3, 3)), ((6, 5), (1, 1)), ((9, 4), (4, 1))]


@pytest.mark.parametrize('mode', ['max', 'avg'])
@pytest.mark.parametrize('xshape, size', POOLS)
def test_pool2d_matches_pooling(mode, xshape, size):
    X = rand(*xshape)
    Y = pool2d(X, size, mode)
    expected = nd.Pooling(X.reshape((1, 1) + xshape), kernel=size,
                          stride=(1, 1), pool_type=mode)[0, 0]
    assert Y.shape == expected.shape
    close(Y, expected)
    Pool = nn.MaxPool2D if mode == 'max' else nn.AvgPool2D
    close(Y, Pool(pool_size=size, strides=1)(
        X.reshape((1, 1) + xshape))[0, 0])


def test_pool2d_int_size_and_no_aliasing():
    X = rand(4, 5)
    close(pool2d(X, 2), pool2d(X, (2, 2)))
    Y = pool2d(X, 1)
    Y[:] = 0
    assert X.abs().sum().asscalar() > 0


@pytest.mark.parametrize('args', [((2, 2), 'min'), ((5, 1), 'max'),
                                  ((0, 2), 'avg'), ((1, 2, 3), 'max')])
def test_pool2d_rejects_bad_arguments(args):
    with pytest.raises(UsageError):
        pool2d(nd.ones((4, 4)), *args)
