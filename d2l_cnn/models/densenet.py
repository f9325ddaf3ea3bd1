"""5.12 DenseNet (Huang et al., 2017): densely connected networks.

A ``DenseBlock`` concatenates every convolution's output to its input,
so the channels grow by ``num_channels`` (the growth rate) per
convolution; a ``transition_block`` halves the channels with a 1x1
convolution and the height and width with average pooling.
"""
from mxnet.gluon import nn

from ..registry import register_model


def conv_block(num_channels):
    """BN, ReLU, 3x3 convolution (the pre-activation order of ResNet)."""
    blk = nn.HybridSequential()
    blk.add(nn.BatchNorm(), nn.Activation('relu'),
            nn.Conv2D(num_channels, kernel_size=3, padding=1))
    return blk


def bottleneck_block(num_channels):
    """BN-ReLU-1x1 conv (4 x growth), BN-ReLU-3x3 conv: DenseNet-B."""
    blk = nn.HybridSequential()
    blk.add(nn.BatchNorm(), nn.Activation('relu'),
            nn.Conv2D(4 * num_channels, kernel_size=1),
            nn.BatchNorm(), nn.Activation('relu'),
            nn.Conv2D(num_channels, kernel_size=3, padding=1))
    return blk


class DenseBlock(nn.HybridBlock):
    """``num_convs`` blocks, each one's output joined to its input."""

    def __init__(self, num_convs, num_channels, **kwargs):
        super(DenseBlock, self).__init__(**kwargs)
        self.net = nn.HybridSequential()
        for _ in range(num_convs):
            self.net.add(conv_block(num_channels))

    def hybrid_forward(self, F, X):
        for blk in self.net:
            Y = blk(X)
            # 在通道维上将输入和输出连结：通道数增加 num_channels
            X = F.concat(X, Y, dim=1)
        return X


class GeneralDenseBlock(DenseBlock):
    """A ``DenseBlock`` of any convolution ``block`` (the exercises)."""

    def __init__(self, num_convs, num_channels, block=conv_block,
                 **kwargs):
        super(GeneralDenseBlock, self).__init__(0, num_channels, **kwargs)
        for _ in range(num_convs):
            self.net.add(block(num_channels))


def transition_block(num_channels):
    """BN, ReLU, 1x1 convolution to ``num_channels``, 2x2 average pool."""
    blk = nn.HybridSequential()
    blk.add(nn.BatchNorm(), nn.Activation('relu'),
            nn.Conv2D(num_channels, kernel_size=1),
            nn.AvgPool2D(pool_size=2, strides=2))
    return blk


def densenet_net(num_convs_in_dense_blocks, growth_rate=32,
                 num_channels=64, num_classes=10, block=conv_block):
    """Stem, dense blocks with transitions between them, pool, dense."""
    net = nn.HybridSequential()
    net.add(nn.Conv2D(num_channels, kernel_size=7, strides=2, padding=3),
            nn.BatchNorm(), nn.Activation('relu'),
            nn.MaxPool2D(pool_size=3, strides=2, padding=1))
    for i, num_convs in enumerate(num_convs_in_dense_blocks):
        net.add(GeneralDenseBlock(num_convs, growth_rate, block=block))
        # 上一个稠密块的输出通道数
        num_channels += num_convs * growth_rate
        # 在稠密块之间加入通道数减半的过渡层
        if i != len(num_convs_in_dense_blocks) - 1:
            num_channels //= 2
            net.add(transition_block(num_channels))
    net.add(nn.BatchNorm(), nn.Activation('relu'), nn.GlobalAvgPool2D(),
            nn.Dense(num_classes))
    return net


@register_model(
    section='5.12', resize=96, lr=0.1, batch_size=256,
    cpu=dict(resize=32, batch_size=64, num_epochs=6, optimizer='momentum',
             lr=0.1, lr_schedule='cosine', warmup_epochs=1.0,
             why='Batch normalization lets DenseNet learn with SGD as in '
                 'the book, plus momentum, a one-epoch warm-up and a cosine '
                 'decay for a run of a few hundred steps; global pooling '
                 'takes 32x32 inputs, a ninth of the cost of the 96x96 of '
                 'the book.'))
def densenet(num_classes=10):
    """DenseNet (Huang et al., 2017), as in d2l-zh 5.12."""
    net = nn.HybridSequential()
    net.add(nn.Conv2D(64, kernel_size=7, strides=2, padding=3),
            nn.BatchNorm(), nn.Activation('relu'),
            nn.MaxPool2D(pool_size=3, strides=2, padding=1))
    # 输入 96 时通道数 64 -> 192 -> 96 -> 224 -> 112 -> 240 -> 120 -> 248
    num_channels, growth_rate = 64, 32  # num_channels 为当前的通道数
    num_convs_in_dense_blocks = [4, 4, 4, 4]
    for i, num_convs in enumerate(num_convs_in_dense_blocks):
        net.add(DenseBlock(num_convs, growth_rate))
        # 上一个稠密块的输出通道数
        num_channels += num_convs * growth_rate
        # 在稠密块之间加入通道数减半的过渡层
        if i != len(num_convs_in_dense_blocks) - 1:
            num_channels //= 2
            net.add(transition_block(num_channels))
    net.add(nn.BatchNorm(), nn.Activation('relu'), nn.GlobalAvgPool2D(),
            nn.Dense(num_classes))
    return net


@register_model(
    section='5.12', resize=96, lr=0.1, batch_size=256,
    cpu=dict(resize=32, batch_size=64, num_epochs=6, optimizer='momentum',
             lr=0.1, lr_schedule='cosine', warmup_epochs=1.0,
             why='The recipe of the DenseNet of section 5.12: momentum SGD '
                 'with a one-epoch warm-up and a cosine decay, at 32x32 '
                 'because global pooling takes any size and small inputs '
                 'make a CPU epoch cheap.'))
def densenet121(num_classes=10):
    """DenseNet-121 (DenseNet-BC, k=32; Huang et al., 2017, Table 1)."""
    return densenet_net([6, 12, 24, 16], growth_rate=32, num_channels=64,
                        num_classes=num_classes, block=bottleneck_block)
