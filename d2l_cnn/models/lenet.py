"""5.5 LeNet (LeCun et al., 1998).

First edition: sigmoid activations, max pooling, no padding. The second
edition pads the first convolution by 2 and uses average pooling.
"""
from mxnet.gluon import nn

from ..registry import register_model


@register_model(
    section='5.5', resize=28, lr=0.9, batch_size=256,
    cpu=dict(resize=28, batch_size=32, num_epochs=10, optimizer='adam',
             lr=3e-3, lr_schedule='cosine',
             why='Sigmoid layers pass back small gradients, so plain SGD at '
                 'lr 0.9 sits at chance for about 50 epochs of 16 steps on '
                 '4,000 digits; Adam rescales the tiny gradient of each '
                 'weight and, with 125 steps an epoch, leaves chance in the '
                 'first epoch.'))
def lenet(num_classes=10, edition=1):
    """LeNet-5 (LeCun et al., 1998); ``edition=2``: the second edition's."""
    if edition not in (1, 2):
        raise ValueError('edition must be 1 or 2, not %r' % (edition,))
    if edition == 2:
        return lenet2(num_classes)
    return lenet_v1(num_classes)


def lenet_v1(num_classes=10):
    """LeNet-5 (LeCun et al., 1998), as in d2l-zh 5.5 (first edition)."""
    net = nn.HybridSequential()
    net.add(nn.Conv2D(channels=6, kernel_size=5,
                      activation='sigmoid'),    # (批量大小, 6, 24, 24)
            nn.MaxPool2D(pool_size=2, strides=2),  # (批量大小, 6, 12, 12)
            nn.Conv2D(channels=16, kernel_size=5,
                      activation='sigmoid'),    # (批量大小, 16, 8, 8)
            nn.MaxPool2D(pool_size=2, strides=2),  # (批量大小, 16, 4, 4)
            # Dense 会把 (批量大小, 通道, 高, 宽) 的输入自动拉平
            nn.Dense(120, activation='sigmoid'),
            nn.Dense(84, activation='sigmoid'),
            nn.Dense(num_classes))
    return net


def lenet2(num_classes=10):
    """The second edition's LeNet: padding 2, then average pooling."""
    net = nn.HybridSequential()
    net.add(nn.Conv2D(channels=6, kernel_size=5, padding=2,
                      activation='sigmoid'),    # (批量大小, 6, 28, 28)
            nn.AvgPool2D(pool_size=2, strides=2),  # (批量大小, 6, 14, 14)
            nn.Conv2D(channels=16, kernel_size=5,
                      activation='sigmoid'),    # (批量大小, 16, 10, 10)
            nn.AvgPool2D(pool_size=2, strides=2),  # (批量大小, 16, 5, 5)
            nn.Dense(120, activation='sigmoid'),
            nn.Dense(84, activation='sigmoid'),
            nn.Dense(num_classes))
    return net
