"""5.10 Batch normalization (Ioffe & Szegedy, 2015).

``batch_norm`` and ``BatchNorm`` are the section's from-scratch version;
``batchnorm`` is LeNet with Gluon's ``nn.BatchNorm`` after every
convolution and dense layer, ``batchnorm_scratch`` the same network
built from the scratch block.
"""
from mxnet import autograd, init, nd
from mxnet.gluon import nn

from ..registry import register_model


def batch_norm(X, gamma, beta, moving_mean, moving_var, eps, momentum):
    """Normalise ``X`` by batch (training) or moving (inference) stats.

    Returns ``(Y, moving_mean, moving_var)``, the moving statistics
    updated when training.
    """
    if not autograd.is_training():
        # 预测模式：直接使用移动平均所得的均值和方差
        X_hat = (X - moving_mean) / nd.sqrt(moving_var + eps)
    else:
        assert len(X.shape) in (2, 4)
        if len(X.shape) == 2:
            # 全连接层：在批量维上求每个特征的均值和方差
            mean = X.mean(axis=0)
            var = ((X - mean) ** 2).mean(axis=0)
        else:
            # 二维卷积层：对每个通道（axis=1）在批量、高和宽上求均值和方差；
            # 保持 X 的维数，以便后面做广播运算：（1, 通道数, 1, 1）
            mean = X.mean(axis=(0, 2, 3), keepdims=True)
            var = ((X - mean) ** 2).mean(axis=(0, 2, 3), keepdims=True)
        X_hat = (X - mean) / nd.sqrt(var + eps)
        moving_mean = momentum * moving_mean + (1.0 - momentum) * mean
        moving_var = momentum * moving_var + (1.0 - momentum) * var
    Y = gamma * X_hat + beta  # 拉伸和偏移
    return Y, moving_mean, moving_var


class BatchNorm(nn.Block):
    """The from-scratch batch normalization layer of d2l-zh 5.10.

    ``num_dims`` is 2 after a dense layer and 4 after a convolution.
    Unlike the book, the moving statistics are parameters (without
    gradient), so ``save_parameters`` keeps them, and the moving
    variance starts at 1 as in ``nn.BatchNorm``. Its update is Python
    code, so this block stays imperative under ``hybridize()``.
    """

    def __init__(self, num_features, num_dims, **kwargs):
        super(BatchNorm, self).__init__(**kwargs)
        if num_dims == 2:
            shape = (1, num_features)
        else:
            shape = (1, num_features, 1, 1)
        # 参与求梯度和迭代的拉伸和偏移参数，分别初始化成 1 和 0
        self.gamma = self.params.get('gamma', shape=shape, init=init.One())
        self.beta = self.params.get('beta', shape=shape, init=init.Zero())
        # 不参与求梯度和迭代的移动平均，登记为参数以便保存
        self.moving_mean = self.params.get(
            'moving_mean', shape=shape, init=init.Zero(), grad_req='null',
            differentiable=False)
        self.moving_var = self.params.get(
            'moving_var', shape=shape, init=init.One(), grad_req='null',
            differentiable=False)

    def forward(self, X):
        ctx = X.context
        Y, moving_mean, moving_var = batch_norm(
            X, self.gamma.data(ctx), self.beta.data(ctx),
            self.moving_mean.data(ctx), self.moving_var.data(ctx),
            eps=1e-5, momentum=0.9)
        if autograd.is_training():
            self.moving_mean.set_data(moving_mean.detach())
            self.moving_var.set_data(moving_var.detach())
        return Y


@register_model(
    section='5.10', resize=28, lr=1.0, batch_size=256,
    cpu=dict(batch_size=64, num_epochs=8, optimizer='momentum', lr=0.1,
             lr_schedule='cosine', warmup_epochs=1.0,
             why='Batch normalization makes large steps safe, so only the '
                 'noise of a small data set is left to tame: momentum SGD at '
                 '0.1 with a one-epoch warm-up and a cosine decay gives '
                 'steadier runs from seed to seed than plain SGD at 1.0, and '
                 'lets the moving averages settle before the end.'))
def batchnorm(num_classes=10):
    """LeNet with batch normalization (Ioffe & Szegedy, 2015), 5.10."""
    net = nn.HybridSequential()
    net.add(nn.Conv2D(6, kernel_size=5),
            nn.BatchNorm(),
            nn.Activation('sigmoid'),
            nn.MaxPool2D(pool_size=2, strides=2),
            nn.Conv2D(16, kernel_size=5),
            nn.BatchNorm(),
            nn.Activation('sigmoid'),
            nn.MaxPool2D(pool_size=2, strides=2),
            nn.Dense(120),
            nn.BatchNorm(),
            nn.Activation('sigmoid'),
            nn.Dense(84),
            nn.BatchNorm(),
            nn.Activation('sigmoid'),
            nn.Dense(num_classes))
    return net


@register_model(
    section='5.10', resize=28, lr=1.0, batch_size=256, hybrid=False,
    cpu=dict(batch_size=64, num_epochs=8, optimizer='momentum', lr=0.1,
             lr_schedule='cosine', warmup_epochs=1.0,
             why='The same recipe as the concise LeNet-BN: batch '
                 'normalization makes large steps safe, and momentum SGD with '
                 'a warm-up and a cosine decay gives steady runs on the small '
                 'data set.'))
def batchnorm_scratch(num_classes=10):
    """LeNet with the from-scratch ``BatchNorm`` of d2l-zh 5.10."""
    net = nn.Sequential()
    net.add(nn.Conv2D(6, kernel_size=5),
            BatchNorm(6, num_dims=4),
            nn.Activation('sigmoid'),
            nn.MaxPool2D(pool_size=2, strides=2),
            nn.Conv2D(16, kernel_size=5),
            BatchNorm(16, num_dims=4),
            nn.Activation('sigmoid'),
            nn.MaxPool2D(pool_size=2, strides=2),
            nn.Dense(120),
            BatchNorm(120, num_dims=2),
            nn.Activation('sigmoid'),
            nn.Dense(84),
            BatchNorm(84, num_dims=2),
            nn.Activation('sigmoid'),
            nn.Dense(num_classes))
    return net
