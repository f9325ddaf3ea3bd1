"""5.8 Network in Network (Lin et al., 2013).

A NiN block is one ordinary convolution followed by two 1x1
convolutions, which act as a small multilayer perceptron at every pixel.
No dense layer: the last block has one channel per class, averaged over
the whole image.
"""
from mxnet.gluon import nn

from ..registry import register_model


def nin_block(num_channels, kernel_size, strides, padding):
    """A convolution, then two 1x1 convolutions, all with ReLU."""
    blk = nn.HybridSequential()
    blk.add(nn.Conv2D(num_channels, kernel_size, strides, padding,
                      activation='relu'),
            nn.Conv2D(num_channels, kernel_size=1, activation='relu'),
            nn.Conv2D(num_channels, kernel_size=1, activation='relu'))
    return blk


def mlpconv(channels, kernel_size, strides, padding):
    """A NiN block with its own width per convolution, ``(c1, c2, c3)``.

    The paper's name for the layer (Lin et al., 2013); its CIFAR-10
    network uses different widths in one block.
    """
    c1, c2, c3 = channels
    blk = nn.HybridSequential()
    blk.add(nn.Conv2D(c1, kernel_size, strides, padding,
                      activation='relu'),
            nn.Conv2D(c2, kernel_size=1, activation='relu'),
            nn.Conv2D(c3, kernel_size=1, activation='relu'))
    return blk


@register_model(
    section='5.8', resize=224, lr=0.1, batch_size=128,
    cpu=dict(resize=99, batch_size=32, num_epochs=6, optimizer='adam',
             lr=1e-3, lr_schedule='cosine', warmup_epochs=1.0,
             init='centered', centralize=True,
             why='Plain SGD needs thousands of steps to wake the ReLUs '
                 'before the global average pool, and 4,000 digits give '
                 'only 125 a pass; Adam scales each weight\'s step by its '
                 'own gradient history, zero-sum (centered) initial '
                 'weights, kept near zero-sum by centralized gradients, '
                 'and a one-epoch warm-up keep the ten class channels of '
                 'the last block alive, and 99x99 is the smallest input at '
                 'which each class map is 2x2, not one pixel: a channel '
                 'then dies only if it is negative at all four places for '
                 'every digit.'))
def nin(num_classes=10):
    """Network in Network (Lin et al., 2013), as in d2l-zh 5.8."""
    net = nn.HybridSequential()
    net.add(nin_block(96, kernel_size=11, strides=4, padding=0),
            nn.MaxPool2D(pool_size=3, strides=2),  # （批量大小, 96, 26, 26）
            nin_block(256, kernel_size=5, strides=1, padding=2),
            nn.MaxPool2D(pool_size=3, strides=2),  # （批量大小, 256, 12, 12）
            nin_block(384, kernel_size=3, strides=1, padding=1),
            nn.MaxPool2D(pool_size=3, strides=2),  # （批量大小, 384, 5, 5）
            nn.Dropout(0.5),
            # 每个类别一个输出通道
            nin_block(num_classes, kernel_size=3, strides=1, padding=1),
            # 全局平均池化层：窗口形状就是输入的高和宽，（批量大小, 10, 1, 1）
            nn.GlobalAvgPool2D(),
            # 把四维的输出转成形状为（批量大小, 10）的二维输出
            nn.Flatten())
    return net


@register_model(
    section='5.8', resize=32, lr=0.1, batch_size=128, data='cifar10',
    cpu=dict(resize=28, batch_size=64, num_epochs=6, optimizer='adam', lr=1e-3,
             lr_schedule='cosine', warmup_epochs=1.0,
             why='The embedded digits instead of the CIFAR-10 download, and '
                 'the lesson of the NiN of section 5.8: Adam with a warm-up '
                 'and a cosine decay learns in the few hundred steps that '
                 '4,000 digits give.'))
def nin_cifar10(num_classes=10):
    """NIN for 32x32 CIFAR-10 (Lin et al., 2013, Section 4.2)."""
    net = nn.HybridSequential()
    net.add(mlpconv((192, 160, 96), kernel_size=5, strides=1,
                    padding=2),                    # (batch, 96, 32, 32)
            nn.MaxPool2D(pool_size=3, strides=2),  # (batch, 96, 15, 15)
            nn.Dropout(0.5),
            nin_block(192, kernel_size=5, strides=1,
                      padding=2),                  # (batch, 192, 15, 15)
            nn.AvgPool2D(pool_size=3, strides=2),  # (batch, 192, 7, 7)
            nn.Dropout(0.5),
            mlpconv((192, 192, num_classes), kernel_size=3, strides=1,
                    padding=1),                    # (batch, 10, 7, 7)
            nn.GlobalAvgPool2D(),                  # (batch, 10, 1, 1)
            nn.Flatten())
    return net
