"""5.11 ResNet (He et al., 2016): residual networks.

A ``Residual`` block adds its input to the output of two 3x3
convolutions; a 1x1 convolution reshapes the input when the channels or
the stride change. ``resnet`` is the book's ResNet-18; ``resnet34``,
``resnet50`` (with ``Bottleneck`` blocks) and ``preact_resnet18``
(BN-ReLU-conv order, He et al., 2016b) are the exercises' variants.
"""
from mxnet.gluon import nn

from ..registry import register_model


class Residual(nn.HybridBlock):
    """Two 3x3 convolutions with batch norm, plus the input (shortcut)."""

    def __init__(self, num_channels, use_1x1conv=False, strides=1,
                 **kwargs):
        super(Residual, self).__init__(**kwargs)
        self.conv1 = nn.Conv2D(num_channels, kernel_size=3, padding=1,
                               strides=strides)
        self.conv2 = nn.Conv2D(num_channels, kernel_size=3, padding=1)
        if use_1x1conv:
            self.conv3 = nn.Conv2D(num_channels, kernel_size=1,
                                   strides=strides)
        else:
            self.conv3 = None
        self.bn1 = nn.BatchNorm()
        self.bn2 = nn.BatchNorm()

    def hybrid_forward(self, F, X):
        Y = F.relu(self.bn1(self.conv1(X)))
        Y = self.bn2(self.conv2(Y))
        if self.conv3:
            X = self.conv3(X)
        return F.relu(Y + X)


class Bottleneck(nn.HybridBlock):
    """1x1 (narrow), 3x3, 1x1 (4x wider) convolutions, plus shortcut.

    The block of ResNet-50 (He et al., 2016, Table 1); the stride sits on
    the 3x3 convolution, and ``conv4``/``bn4`` project the shortcut.
    """

    expansion = 4

    def __init__(self, num_channels, use_1x1conv=False, strides=1,
                 **kwargs):
        super(Bottleneck, self).__init__(**kwargs)
        self.conv1 = nn.Conv2D(num_channels, kernel_size=1)
        self.conv2 = nn.Conv2D(num_channels, kernel_size=3, padding=1,
                               strides=strides)
        self.conv3 = nn.Conv2D(num_channels * self.expansion,
                               kernel_size=1)
        self.bn1 = nn.BatchNorm()
        self.bn2 = nn.BatchNorm()
        self.bn3 = nn.BatchNorm()
        if use_1x1conv:
            self.conv4 = nn.Conv2D(num_channels * self.expansion,
                                   kernel_size=1, strides=strides)
            self.bn4 = nn.BatchNorm()
        else:
            self.conv4 = None

    def hybrid_forward(self, F, X):
        Y = F.relu(self.bn1(self.conv1(X)))
        Y = F.relu(self.bn2(self.conv2(Y)))
        Y = self.bn3(self.conv3(Y))
        if self.conv4:
            X = self.bn4(self.conv4(X))
        return F.relu(Y + X)


class PreactResidual(nn.HybridBlock):
    """Residual block with BN and ReLU before each convolution.

    The "full pre-activation" unit of He et al. (2016b, Identity
    Mappings in Deep Residual Networks): nothing follows the addition.
    """

    def __init__(self, num_channels, use_1x1conv=False, strides=1,
                 **kwargs):
        super(PreactResidual, self).__init__(**kwargs)
        self.bn1 = nn.BatchNorm()
        self.conv1 = nn.Conv2D(num_channels, kernel_size=3, padding=1,
                               strides=strides)
        self.bn2 = nn.BatchNorm()
        self.conv2 = nn.Conv2D(num_channels, kernel_size=3, padding=1)
        if use_1x1conv:
            self.conv3 = nn.Conv2D(num_channels, kernel_size=1,
                                   strides=strides)
        else:
            self.conv3 = None

    def hybrid_forward(self, F, X):
        Y = self.conv1(F.relu(self.bn1(X)))
        Y = self.conv2(F.relu(self.bn2(Y)))
        if self.conv3:
            X = self.conv3(X)
        return Y + X


def resnet_block(num_channels, num_residuals, first_block=False):
    """``num_residuals`` blocks; all but the first stage halve H and W."""
    blk = nn.HybridSequential()
    for i in range(num_residuals):
        if i == 0 and not first_block:
            blk.add(Residual(num_channels, use_1x1conv=True, strides=2))
        else:
            blk.add(Residual(num_channels))
    return blk


def resnet_stage(num_channels, num_residuals, first_block=False,
                 block=Residual):
    """``resnet_block`` for any kind of ``block`` (the exercises)."""
    blk = nn.HybridSequential()
    for i in range(num_residuals):
        if i == 0 and not first_block:
            blk.add(block(num_channels, use_1x1conv=True, strides=2))
        elif i == 0 and getattr(block, 'expansion', 1) != 1:
            # 第一个瓶颈块原地把通道从 64 加宽到 256
            blk.add(block(num_channels, use_1x1conv=True))
        else:
            blk.add(block(num_channels))
    return blk


def resnet_stem(preact=False):
    """7x7 convolution (stride 2), BN, ReLU, 3x3 max-pool (stride 2)."""
    net = nn.HybridSequential()
    net.add(nn.Conv2D(64, kernel_size=7, strides=2, padding=3))
    if not preact:
        net.add(nn.BatchNorm(), nn.Activation('relu'))
    net.add(nn.MaxPool2D(pool_size=3, strides=2, padding=1))
    return net


def resnet_net(num_residuals, num_classes=10, block=Residual):
    """Stem, four stages of ``num_residuals`` blocks, pool, dense."""
    net = resnet_stem()
    for i, (num_channels, n) in enumerate(zip((64, 128, 256, 512),
                                              num_residuals)):
        net.add(resnet_stage(num_channels, n, first_block=(i == 0),
                             block=block))
    net.add(nn.GlobalAvgPool2D(), nn.Dense(num_classes))
    return net


@register_model(
    section='5.11', resize=96, lr=0.05, batch_size=256,
    cpu=dict(resize=32, batch_size=64, num_epochs=6, optimizer='momentum',
             lr=0.05, lr_schedule='cosine', warmup_epochs=1.0,
             why='Batch normalization lets ResNet learn with momentum SGD, '
                 'but the 96x96 inputs of the book cost 9 times as much as '
                 '32x32 (global pooling takes any size), and a one-epoch '
                 'warm-up with a cosine decay gives steady BN statistics by '
                 'the last epoch.'))
def resnet(num_classes=10):
    """ResNet-18 (He et al., 2016), as in d2l-zh 5.11."""
    net = nn.HybridSequential()
    net.add(nn.Conv2D(64, kernel_size=7, strides=2, padding=3),
            nn.BatchNorm(), nn.Activation('relu'),
            nn.MaxPool2D(pool_size=3, strides=2, padding=1))
    net.add(resnet_block(64, 2, first_block=True),   # （批量大小, 64, 56, 56）
            resnet_block(128, 2),                    # （批量大小, 128, 28, 28）
            resnet_block(256, 2),                    # （批量大小, 256, 14, 14）
            resnet_block(512, 2))                    # （批量大小, 512, 7, 7）
    net.add(nn.GlobalAvgPool2D(), nn.Dense(num_classes))
    return net


# One cpu recipe for the other ResNets: that of ResNet-18.
VARIANT_CPU = dict(
    resize=32, batch_size=64, num_epochs=6, optimizer='momentum', lr=0.05,
    lr_schedule='cosine', warmup_epochs=1.0,
    why='The recipe of ResNet-18 (section 5.11): momentum SGD with a '
        'one-epoch warm-up and a cosine decay, at 32x32 because global '
        'pooling takes any size and small inputs make a CPU epoch cheap.')


@register_model(
    section='5.11', resize=96, lr=0.05, batch_size=256,
    cpu=VARIANT_CPU)
def resnet34(num_classes=10):
    """ResNet-34 (He et al., 2016, Table 1)."""
    return resnet_net((3, 4, 6, 3), num_classes)


@register_model(
    section='5.11', resize=96, lr=0.05, batch_size=256,
    cpu=VARIANT_CPU)
def resnet50(num_classes=10):
    """ResNet-50 with bottleneck blocks (He et al., 2016, Table 1)."""
    return resnet_net((3, 4, 6, 3), num_classes, block=Bottleneck)


@register_model(
    section='5.11', resize=96, lr=0.05, batch_size=256,
    cpu=VARIANT_CPU)
def preact_resnet18(num_classes=10):
    """Pre-activation ResNet-18 (He et al., 2016b, Identity Mappings)."""
    net = resnet_stem(preact=True)
    net.add(resnet_stage(64, 2, first_block=True, block=PreactResidual),
            resnet_stage(128, 2, block=PreactResidual),
            resnet_stage(256, 2, block=PreactResidual),
            resnet_stage(512, 2, block=PreactResidual))
    # 最后一个残差块以相加结尾：再做一次批量归一化和激活
    net.add(nn.BatchNorm(), nn.Activation('relu'),
            nn.GlobalAvgPool2D(), nn.Dense(num_classes))
    return net
