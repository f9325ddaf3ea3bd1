"""5.9 GoogLeNet (Szegedy et al., 2015): networks with parallel paths.

An ``Inception`` block runs four paths side by side and concatenates
their channels. ``googlenet`` is the book's network (with ReLU on both
convolutions of b2, as later printings fixed); ``inception_mnist`` is
the small two-Inception network of the MNIST write-ups.
"""
from mxnet.gluon import nn

from ..registry import register_model


class Inception(nn.HybridBlock):
    """Four parallel paths; ``c1``..``c4`` are their output channels."""

    def __init__(self, c1, c2, c3, c4, **kwargs):
        super(Inception, self).__init__(**kwargs)
        # 线路 1：单个 1x1 卷积层
        self.p1_1 = nn.Conv2D(c1, kernel_size=1, activation='relu')
        # 线路 2：1x1 卷积层后接 3x3 卷积层
        self.p2_1 = nn.Conv2D(c2[0], kernel_size=1, activation='relu')
        self.p2_2 = nn.Conv2D(c2[1], kernel_size=3, padding=1,
                              activation='relu')
        # 线路 3：1x1 卷积层后接 5x5 卷积层
        self.p3_1 = nn.Conv2D(c3[0], kernel_size=1, activation='relu')
        self.p3_2 = nn.Conv2D(c3[1], kernel_size=5, padding=2,
                              activation='relu')
        # 线路 4：3x3 最大池化层后接 1x1 卷积层
        self.p4_1 = nn.MaxPool2D(pool_size=3, strides=1, padding=1)
        self.p4_2 = nn.Conv2D(c4, kernel_size=1, activation='relu')

    def hybrid_forward(self, F, x):
        p1 = self.p1_1(x)
        p2 = self.p2_2(self.p2_1(x))
        p3 = self.p3_2(self.p3_1(x))
        p4 = self.p4_2(self.p4_1(x))
        # 在通道维上连结输出：（批量大小, c1 + c2[1] + c3[1] + c4, 高, 宽）
        return F.concat(p1, p2, p3, p4, dim=1)


@register_model(
    section='5.9', resize=96, lr=0.1, batch_size=128,
    cpu=dict(resize=32, batch_size=64, num_epochs=8, optimizer='adam', lr=1e-3,
             lr_schedule='cosine', warmup_epochs=1.0, init='he',
             why='Without batch normalization the signal of 22 layers fades '
                 'at Xavier scale and plain SGD stays at chance for '
                 'hundreds of steps; He initialization keeps the scale of '
                 'the ReLU activations, Adam with a warm-up leaves the '
                 'plateau in the first epoch, and 32x32 inputs cost a ninth '
                 'of 96x96.'))
def googlenet(num_classes=10):
    """GoogLeNet (Szegedy et al., 2015), as in d2l-zh 5.9."""
    b1 = nn.HybridSequential()
    b1.add(nn.Conv2D(64, kernel_size=7, strides=2, padding=3,
                     activation='relu'),
           nn.MaxPool2D(pool_size=3, strides=2, padding=1))
    b2 = nn.HybridSequential()
    b2.add(nn.Conv2D(64, kernel_size=1, activation='relu'),
           nn.Conv2D(192, kernel_size=3, padding=1, activation='relu'),
           nn.MaxPool2D(pool_size=3, strides=2, padding=1))
    b3 = nn.HybridSequential()
    b3.add(Inception(64, (96, 128), (16, 32), 32),       # 256 个通道
           Inception(128, (128, 192), (32, 96), 64),     # 480 个通道
           nn.MaxPool2D(pool_size=3, strides=2, padding=1))
    b4 = nn.HybridSequential()
    b4.add(Inception(192, (96, 208), (16, 48), 64),      # 512 个通道
           Inception(160, (112, 224), (24, 64), 64),
           Inception(128, (128, 256), (24, 64), 64),
           Inception(112, (144, 288), (32, 64), 64),     # 528 个通道
           Inception(256, (160, 320), (32, 128), 128),   # 832 个通道
           nn.MaxPool2D(pool_size=3, strides=2, padding=1))
    b5 = nn.HybridSequential()
    b5.add(Inception(256, (160, 320), (32, 128), 128),
           Inception(384, (192, 384), (48, 128), 128),   # 1024 个通道
           nn.GlobalAvgPool2D())
    net = nn.HybridSequential()
    net.add(b1, b2, b3, b4, b5, nn.Dense(num_classes))
    return net


class InceptionA(nn.HybridBlock):
    """The 88-channel Inception module of the MNIST write-ups.

    Four paths: 1x1 (16); 1x1 (16) -> 5x5 (24); 1x1 (16) -> 3x3 (24) ->
    3x3 (24); 3x3 average pool -> 1x1 (24). No activations, as written.
    """

    def __init__(self, **kwargs):
        super(InceptionA, self).__init__(**kwargs)
        self.p1_1 = nn.Conv2D(16, kernel_size=1)
        self.p2_1 = nn.Conv2D(16, kernel_size=1)
        self.p2_2 = nn.Conv2D(24, kernel_size=5, padding=2)
        self.p3_1 = nn.Conv2D(16, kernel_size=1)
        self.p3_2 = nn.Conv2D(24, kernel_size=3, padding=1)
        self.p3_3 = nn.Conv2D(24, kernel_size=3, padding=1)
        self.p4_1 = nn.AvgPool2D(pool_size=3, strides=1, padding=1)
        self.p4_2 = nn.Conv2D(24, kernel_size=1)

    def hybrid_forward(self, F, x):
        p1 = self.p1_1(x)
        p2 = self.p2_2(self.p2_1(x))
        p3 = self.p3_3(self.p3_2(self.p3_1(x)))
        p4 = self.p4_2(self.p4_1(x))
        return F.concat(p1, p2, p3, p4, dim=1)  # (batch, 88, h, w)


@register_model(
    section='5.9', resize=28, lr=0.1, batch_size=64, data='mnist',
    cpu=dict(resize=28, batch_size=64, num_epochs=8, optimizer='adam', lr=1e-3,
             lr_schedule='cosine',
             why='On 4,000 digits an epoch is only 63 steps, so Adam, with a '
                 'step size of its own for every weight, and a cosine decay '
                 'replace the many plain-SGD steps that the 938 batches an '
                 'epoch of full MNIST would give.'))
def inception_mnist(num_classes=10):
    """Two Inception modules for 28x28 MNIST (after Szegedy et al.)."""
    net = nn.HybridSequential()
    net.add(nn.Conv2D(10, kernel_size=5),          # (batch, 10, 24, 24)
            nn.MaxPool2D(pool_size=2),             # (batch, 10, 12, 12)
            nn.Activation('relu'),
            InceptionA(),                          # (batch, 88, 12, 12)
            nn.Conv2D(20, kernel_size=5),          # (batch, 20, 8, 8)
            nn.MaxPool2D(pool_size=2),             # (batch, 20, 4, 4)
            nn.Activation('relu'),
            InceptionA(),                          # (batch, 88, 4, 4)
            nn.Dense(num_classes))                 # 1408 -> 10
    return net
