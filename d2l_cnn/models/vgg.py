"""5.7 VGG (Simonyan & Zisserman, 2014): networks built from blocks.

``conv_arch`` lists (number of convolutions, output channels) per block.
The book trains VGG-11 with every channel count divided by ``ratio = 4``;
VGG-11, -16 and -19 at full width follow Table 1 (A, D, E) of the paper.
"""
from mxnet.gluon import nn

from ..registry import register_model

conv_arch = ((1, 64), (1, 128), (2, 256), (2, 512), (2, 512))
conv_arch_16 = ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512))
conv_arch_19 = ((2, 64), (2, 128), (4, 256), (4, 512), (4, 512))
ratio = 4


def vgg_block(num_convs, num_channels):
    """``num_convs`` 3x3 convolutions, then a 2x2 max-pool halving H, W."""
    blk = nn.HybridSequential()
    for _ in range(num_convs):
        blk.add(nn.Conv2D(num_channels, kernel_size=3, padding=1,
                          activation='relu'))
    blk.add(nn.MaxPool2D(pool_size=2, strides=2))
    return blk


def vgg_net(conv_arch, num_classes=10):
    """The convolutional blocks of ``conv_arch``, then three dense layers."""
    net = nn.HybridSequential()
    for (num_convs, num_channels) in conv_arch:
        net.add(vgg_block(num_convs, num_channels))
    # 输入为 224 时卷积部分输出（批量大小, 512, 7, 7），接全连接层部分
    net.add(nn.Dense(4096, activation='relu'), nn.Dropout(0.5),
            nn.Dense(4096, activation='relu'), nn.Dropout(0.5),
            nn.Dense(num_classes))
    return net


@register_model(
    section='5.7', resize=224, lr=0.05, batch_size=128,
    cpu=dict(resize=32, batch_size=64, num_epochs=8, optimizer='adam', lr=5e-4,
             lr_schedule='cosine', warmup_epochs=1.0,
             why='Eight convolutions without batch normalization learn '
                 'slowly with plain SGD on a few hundred steps; Adam with a '
                 'one-epoch warm-up learns in three epochs, and 32x32, the '
                 'smallest input that five halvings allow, costs a fiftieth '
                 'of 224x224.'))
def vgg(num_classes=10, ratio=ratio):
    """VGG-11 with channels / 4 (Simonyan & Zisserman, 2014), d2l-zh 5.7."""
    small_conv_arch = [(pair[0], pair[1] // ratio) for pair in conv_arch]
    return vgg_net(small_conv_arch, num_classes)


# One cpu recipe for the full-width VGGs (configurations A, D, E).
FULL_WIDTH_CPU = dict(
    resize=32, batch_size=64, num_epochs=4, optimizer='adam', lr=1e-4,
    lr_schedule='cosine', warmup_epochs=1.0,
    why='Full-width VGG has 16 times the work of the narrow one of section '
        '5.7 and no batch normalization (the paper started its deep VGGs '
        'from shallower trained ones), so on a CPU budget Adam at a small '
        'lr of 1e-4 with a warm-up runs four epochs at 32x32, the smallest '
        'input.')


@register_model(
    section='5.7', resize=224, lr=0.05, batch_size=128,
    cpu=FULL_WIDTH_CPU)
def vgg11(num_classes=10):
    """VGG-11 at full width (configuration A, Simonyan & Zisserman)."""
    return vgg_net(conv_arch, num_classes)


@register_model(
    section='5.7', resize=224, lr=0.05, batch_size=128,
    cpu=FULL_WIDTH_CPU)
def vgg16(num_classes=10):
    """VGG-16 (configuration D, Simonyan & Zisserman, 2014)."""
    return vgg_net(conv_arch_16, num_classes)


@register_model(
    section='5.7', resize=224, lr=0.05, batch_size=128,
    cpu=FULL_WIDTH_CPU)
def vgg19(num_classes=10):
    """VGG-19 (configuration E, Simonyan & Zisserman, 2014)."""
    return vgg_net(conv_arch_19, num_classes)
