"""5.6 AlexNet (Krizhevsky et al., 2012), one tower, for 224x224 input."""
from mxnet.gluon import nn

from ..registry import register_model


@register_model(
    section='5.6', resize=224, lr=0.01, batch_size=128,
    cpu=dict(resize=67, batch_size=64, num_epochs=6, optimizer='adam', lr=1e-4,
             lr_schedule='cosine',
             why='Without batch normalization, plain SGD at lr 0.01 needs '
                 'thousands of steps to get AlexNet going; Adam at a small '
                 'lr of 1e-4 learns from the first epoch, and 67x67, its '
                 'smallest input, costs a tenth of 224x224.'))
def alexnet(num_classes=10):
    """AlexNet (Krizhevsky et al., 2012), as in d2l-zh 5.6."""
    net = nn.HybridSequential()
    # 较大的 11x11 窗口、步幅 4，很快缩小高和宽；通道数比 LeNet 多得多
    net.add(nn.Conv2D(96, kernel_size=11, strides=4,
                      activation='relu'),          # (批量大小, 96, 54, 54)
            nn.MaxPool2D(pool_size=3, strides=2),  # (批量大小, 96, 26, 26)
            # 窗口变小，填充 2 使高和宽不变，通道数增加
            nn.Conv2D(256, kernel_size=5, padding=2,
                      activation='relu'),          # (批量大小, 256, 26, 26)
            nn.MaxPool2D(pool_size=3, strides=2),  # (批量大小, 256, 12, 12)
            # 连续 3 个 3x3 卷积层；前两个把通道数增加到 384
            nn.Conv2D(384, kernel_size=3, padding=1, activation='relu'),
            nn.Conv2D(384, kernel_size=3, padding=1, activation='relu'),
            nn.Conv2D(256, kernel_size=3, padding=1, activation='relu'),
            nn.MaxPool2D(pool_size=3, strides=2),  # (批量大小, 256, 5, 5)
            # 全连接层的输出个数是 LeNet 的几十倍，用丢弃法缓解过拟合
            nn.Dense(4096, activation='relu'), nn.Dropout(0.5),
            nn.Dense(4096, activation='relu'), nn.Dropout(0.5),
            nn.Dense(num_classes))
    return net
