"""train_ch5: the book's printout, the loss falls, devices, seeds."""
import re

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, gluon, init, nd

import d2l_cnn
from d2l_cnn import data, train
from d2l_cnn.errors import DivergenceError


def make(name='lenet', lr=0.9, ctx=None, seed=0, size=28):
    """A network initialised now, from ``seed``, and its trainer."""
    mx.random.seed(seed)
    net = d2l_cnn.get_model(name)
    ctx = ctx or mx.cpu()
    net.initialize(init.Xavier(), ctx=ctx)
    with autograd.predict_mode():  # shapes (and values) fixed here
        net(nd.zeros((1, 1, size, size),
                     ctx=ctx[0] if isinstance(ctx, list) else ctx))
    trainer = gluon.Trainer(net.collect_params(), 'sgd',
                            {'learning_rate': lr})
    return net, trainer


def params(net):
    return {k: v.data(v.list_ctx()[0]).asnumpy()
            for k, v in net.collect_params().items()}


def test_try_gpu_without_a_gpu():
    assert train.try_gpu() == mx.cpu()
    assert train.try_all_gpus() == [mx.cpu()]


def test_prints_the_books_lines_and_returns_history(capsys):
    train_iter, test_iter = data.load_data_synthetic(64, num_examples=512)
    net, trainer = make('batchnorm', lr=1.0)
    seen = []
    history = train.train_ch5(net, train_iter, test_iter, 64, trainer,
                              mx.cpu(), 3, callbacks=[seen.append])
    out = capsys.readouterr().out.splitlines()
    assert out[0] == 'training on cpu(0)'
    pattern = (r'^epoch \d+, loss \d+\.\d{4}, train acc \d\.\d{3}, '
               r'test acc \d\.\d{3}, time \d+\.\d sec, '
               r'\d+\.\d examples/sec$')
    assert all(re.match(pattern, line) for line in out[1:]), out
    assert len(history) == 3 and seen == history
    assert [r['epoch'] for r in history] == [1, 2, 3]
    assert set(history[0]) == {'epoch', 'loss', 'train_acc', 'test_acc',
                               'time', 'examples_per_sec'}
    assert history[-1]['loss'] < history[0]['loss']
    assert history[-1]['test_acc'] > 0.5


def test_lenet_bn_reaches_90_percent_on_the_embedded_digits(capsys):
    recipe = d2l_cnn.get_recipe('batchnorm')
    train_iter, test_iter = data.load_data_mnist5k(recipe['batch_size'])
    net, trainer = make('batchnorm', lr=recipe['lr'])
    net.hybridize(static_alloc=True)
    history = train.train_ch5(net, train_iter, test_iter,
                              recipe['batch_size'], trainer, mx.cpu(),
                              recipe['num_epochs'], seed=0)
    assert max(r['test_acc'] for r in history) >= 0.90
    assert history[-1]['loss'] < history[0]['loss']


def test_steps_with_the_actual_batch_size():
    # 10 examples, batch 4: the last batch has 2, and counts as 2
    X = nd.random.uniform(shape=(10, 1, 28, 28))
    y = nd.array(np.arange(10) % 10)
    batches = [(X[i:i + 4], y[i:i + 4]) for i in (0, 4, 8)]
    net, trainer = make('lenet', lr=0.5)
    twin, twin_trainer = make('lenet', lr=0.5)
    train.train_ch5(net, batches, batches, 4, trainer, mx.cpu(), 1,
                    verbose=False)
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    for Xb, yb in batches:
        with autograd.record():
            l = loss(twin(Xb), yb)
        l.backward()
        twin_trainer.step(Xb.shape[0])
    for (k, a), b in zip(params(net).items(), params(twin).values()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7, err_msg=k)


def test_two_contexts_equal_one():
    """Data parallel on [cpu(0), cpu(1)] = one device, same batches."""
    train_iter, test_iter = data.load_data_synthetic(32, num_examples=256,
                                                     seed=3)
    results = []
    for ctx in ([mx.cpu(0)], [mx.cpu(0), mx.cpu(1)]):
        net, trainer = make('lenet', lr=0.5, ctx=ctx)
        history = train.train_ch5(net, train_iter, test_iter, 32, trainer,
                                  ctx, 2, verbose=False, seed=1)
        results.append((params(net), history))
    (one, h1), (two, h2) = results
    for k in one:
        np.testing.assert_allclose(one[k], two[k], rtol=1e-4, atol=1e-6,
                                   err_msg=k)
    assert h1[-1]['test_acc'] == h2[-1]['test_acc']
    assert abs(h1[-1]['loss'] - h2[-1]['loss']) < 1e-4


def test_seeded_runs_are_identical():
    runs = []
    for _ in range(2):
        train_iter, test_iter = data.load_data_synthetic(
            32, num_examples=128, seed=5, resize=67)
        net, trainer = make('alexnet', lr=0.01, seed=5, size=67)  # dropout
        history = train.train_ch5(net, train_iter, test_iter, 32, trainer,
                                  mx.cpu(), 1, verbose=False, seed=5)
        runs.append((params(net), [r['loss'] for r in history]))
    (p1, l1), (p2, l2) = runs
    assert l1 == l2
    for k in p1:
        assert np.array_equal(p1[k], p2[k]), k


def test_divergence_names_epoch_and_batch():
    train_iter, test_iter = data.load_data_synthetic(32, num_examples=256)
    # no activations inside its Inception modules: lr 10 overflows
    net, trainer = make('inception_mnist', lr=10.0)
    with pytest.raises(DivergenceError) as err:
        train.train_ch5(net, train_iter, test_iter, 32, trainer, mx.cpu(),
                        3, verbose=False)
    assert re.search(r'in epoch \d+, batch \d+', str(err.value))
    assert 'smaller learning rate' in str(err.value)


def test_evaluate_accuracy_counts_hits():
    class Fixed(gluon.HybridBlock):
        def hybrid_forward(self, F, x):
            # class 0 for the first half of the pixels' mean, else 1
            m = x.mean(axis=(1, 2, 3))
            return F.stack(1 - m, m, axis=1)
    X = nd.array(np.r_[np.zeros(6), np.ones(4)].reshape(10, 1, 1, 1))
    y = nd.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
    acc = train.evaluate_accuracy([(X[:5], y[:5]), (X[5:], y[5:])],
                                  Fixed(), mx.cpu())
    assert acc == pytest.approx(0.9)
