"""PyTorch twins of the chapter's networks, for the benchmarks' side (d).

Each twin has the same layers, sizes and parameter count as the
registered Gluon network (``tests/test_bench.py`` checks the counts);
``init_like_mxnet`` gives it MXNet's initialisation and
``make_optimizer`` a recipe's optimizer and learning-rate schedule.
"""
import math

from benchmarks.common import lr_at, recipe

# Networks with a PyTorch twin here (same layers, same parameter count).
TORCH_MODELS = ('lenet', 'batchnorm', 'alexnet', 'vgg', 'nin', 'resnet',
                'googlenet', 'densenet')


def torch_model(name, num_classes=10, resize=None):
    """A PyTorch twin of a registered network (same layers and sizes).

    ``resize`` (default: the book's input size) fixes the input of the
    first dense layer of AlexNet and VGG, as Gluon's deferred shapes do.
    """
    from torch import nn
    if resize is None:
        resize = recipe(name)['resize']
    if name in ('lenet', 'batchnorm'):
        bn = name == 'batchnorm'

        def norm(c, dims):
            if not bn:
                return []
            return [nn.BatchNorm2d(c) if dims == 4 else nn.BatchNorm1d(c)]
        return nn.Sequential(
            nn.Conv2d(1, 6, 5), *norm(6, 4), nn.Sigmoid(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), *norm(16, 4), nn.Sigmoid(),
            nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(256, 120), *norm(120, 2), nn.Sigmoid(),
            nn.Linear(120, 84), *norm(84, 2), nn.Sigmoid(),
            nn.Linear(84, num_classes))
    if name == 'alexnet':
        features = [
            nn.Conv2d(1, 96, 11, stride=4), nn.ReLU(), nn.MaxPool2d(3, 2),
            nn.Conv2d(96, 256, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
            nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(),
            nn.Conv2d(384, 384, 3, padding=1), nn.ReLU(),
            nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(3, 2), nn.Flatten()]
        return nn.Sequential(
            *features,
            nn.Linear(_flat_size(features, resize), 4096), nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(0.5),
            nn.Linear(4096, num_classes))
    if name == 'vgg':
        layers, c_in = [], 1
        for num_convs, c in ((1, 16), (1, 32), (2, 64), (2, 128), (2, 128)):
            for _ in range(num_convs):
                layers += [nn.Conv2d(c_in, c, 3, padding=1), nn.ReLU()]
                c_in = c
            layers.append(nn.MaxPool2d(2, 2))
        layers.append(nn.Flatten())
        return nn.Sequential(
            *layers, nn.Linear(_flat_size(layers, resize), 4096), nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(0.5),
            nn.Linear(4096, num_classes))
    if name == 'nin':
        def nin_block(c_in, c, k, s, p):
            return [nn.Conv2d(c_in, c, k, s, p), nn.ReLU(),
                    nn.Conv2d(c, c, 1), nn.ReLU(), nn.Conv2d(c, c, 1),
                    nn.ReLU()]
        return nn.Sequential(
            *nin_block(1, 96, 11, 4, 0), nn.MaxPool2d(3, 2),
            *nin_block(96, 256, 5, 1, 2), nn.MaxPool2d(3, 2),
            *nin_block(256, 384, 3, 1, 1), nn.MaxPool2d(3, 2),
            nn.Dropout(0.5), *nin_block(384, num_classes, 3, 1, 1),
            nn.AdaptiveAvgPool2d(1), nn.Flatten())
    if name == 'resnet':
        return _torch_resnet18(num_classes)
    if name == 'googlenet':
        return _torch_googlenet(num_classes)
    if name == 'densenet':
        return _torch_densenet(num_classes)
    raise ValueError('no PyTorch version of %r; one of: %s'
                     % (name, ', '.join(TORCH_MODELS)))


def _torch_resnet18(num_classes):
    import torch
    from torch import nn

    class Residual(nn.Module):
        def __init__(self, c_in, c, use_1x1conv=False, stride=1):
            super().__init__()
            self.conv1 = nn.Conv2d(c_in, c, 3, stride, 1)
            self.conv2 = nn.Conv2d(c, c, 3, padding=1)
            self.conv3 = (nn.Conv2d(c_in, c, 1, stride) if use_1x1conv
                          else None)
            self.bn1, self.bn2 = nn.BatchNorm2d(c), nn.BatchNorm2d(c)

        def forward(self, X):
            Y = torch.relu(self.bn1(self.conv1(X)))
            Y = self.bn2(self.conv2(Y))
            if self.conv3 is not None:
                X = self.conv3(X)
            return torch.relu(Y + X)
    layers = [nn.Conv2d(1, 64, 7, 2, 3), nn.BatchNorm2d(64), nn.ReLU(),
              nn.MaxPool2d(3, 2, 1)]
    c_in = 64
    for i, c in enumerate((64, 128, 256, 512)):
        first = i > 0
        layers += [Residual(c_in, c, first, 2 if first else 1),
                   Residual(c, c)]
        c_in = c
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(512, num_classes))


def _flat_size(layers, resize):
    """Features after ``layers`` for one (1, resize, resize) image."""
    import torch
    from torch import nn
    with torch.no_grad():
        return nn.Sequential(*layers)(torch.zeros(1, 1, resize,
                                                  resize)).shape[1]


def _torch_googlenet(num_classes):
    import torch
    from torch import nn

    def conv(c_in, c, k, **kw):
        return nn.Sequential(nn.Conv2d(c_in, c, k, **kw), nn.ReLU())

    class Inception(nn.Module):
        def __init__(self, c_in, c1, c2, c3, c4):
            super().__init__()
            self.p1 = conv(c_in, c1, 1)
            self.p2 = nn.Sequential(conv(c_in, c2[0], 1),
                                    conv(c2[0], c2[1], 3, padding=1))
            self.p3 = nn.Sequential(conv(c_in, c3[0], 1),
                                    conv(c3[0], c3[1], 5, padding=2))
            self.p4 = nn.Sequential(nn.MaxPool2d(3, 1, 1),
                                    conv(c_in, c4, 1))
            self.channels = c1 + c2[1] + c3[1] + c4

        def forward(self, x):
            return torch.cat([self.p1(x), self.p2(x), self.p3(x),
                              self.p4(x)], dim=1)

    def stage(c_in, table):
        blocks = []
        for args in table:
            blocks.append(Inception(c_in, *args))
            c_in = blocks[-1].channels
        return blocks, c_in
    b3, c = stage(192, [(64, (96, 128), (16, 32), 32),
                        (128, (128, 192), (32, 96), 64)])
    b4, c = stage(c, [(192, (96, 208), (16, 48), 64),
                      (160, (112, 224), (24, 64), 64),
                      (128, (128, 256), (24, 64), 64),
                      (112, (144, 288), (32, 64), 64),
                      (256, (160, 320), (32, 128), 128)])
    b5, c = stage(c, [(256, (160, 320), (32, 128), 128),
                      (384, (192, 384), (48, 128), 128)])
    return nn.Sequential(
        conv(1, 64, 7, stride=2, padding=3), nn.MaxPool2d(3, 2, 1),
        conv(64, 64, 1), conv(64, 192, 3, padding=1),
        nn.MaxPool2d(3, 2, 1), *b3, nn.MaxPool2d(3, 2, 1),
        *b4, nn.MaxPool2d(3, 2, 1), *b5,
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, num_classes))


def _torch_densenet(num_classes, num_convs=(4, 4, 4, 4), growth_rate=32,
                    num_channels=64):
    import torch
    from torch import nn

    def conv_block(c_in, c):
        return nn.Sequential(nn.BatchNorm2d(c_in), nn.ReLU(),
                             nn.Conv2d(c_in, c, 3, padding=1))

    class DenseBlock(nn.Module):
        def __init__(self, n, c_in, c):
            super().__init__()
            self.net = nn.ModuleList(conv_block(c_in + i * c, c)
                                     for i in range(n))

        def forward(self, X):
            for blk in self.net:
                X = torch.cat([X, blk(X)], dim=1)
            return X
    layers = [nn.Conv2d(1, num_channels, 7, 2, 3),
              nn.BatchNorm2d(num_channels), nn.ReLU(),
              nn.MaxPool2d(3, 2, 1)]
    c = num_channels
    for i, n in enumerate(num_convs):
        layers.append(DenseBlock(n, c, growth_rate))
        c += n * growth_rate
        if i != len(num_convs) - 1:
            layers += [nn.BatchNorm2d(c), nn.ReLU(),
                       nn.Conv2d(c, c // 2, 1), nn.AvgPool2d(2, 2)]
            c //= 2
    return nn.Sequential(*layers, nn.BatchNorm2d(c), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(c, num_classes))


def init_like_mxnet(net, name='xavier'):
    """MXNet's initialisation: weights by ``name``, biases 0, BN 1 and 0.

    ``xavier`` is MXNet's ``init.Xavier()`` (uniform, averaged fans,
    magnitude 3, i.e. PyTorch's ``xavier_uniform_``); ``msraprelu`` is
    ``init.MSRAPrelu()`` (Gaussian, averaged fans, slope 0.25); ``he`` is
    d2l_cnn's ``Xavier('gaussian', 'in', 2)``, PyTorch's
    ``kaiming_normal_`` for ReLU (He et al., 2015); ``centered`` is
    d2l_cnn's ``CenteredXavier``: Xavier, each unit's weights shifted to
    sum to zero.
    """
    import torch
    from torch import nn
    name = name.lower()
    if name not in ('xavier', 'msraprelu', 'he', 'centered'):
        raise ValueError('no PyTorch version of MXNet initializer %r' % name)
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            if name in ('xavier', 'centered'):
                nn.init.xavier_uniform_(m.weight)
                if name == 'centered':  # (out, in, ...): zero-sum units
                    with torch.no_grad():
                        dims = tuple(range(1, m.weight.dim()))
                        m.weight -= m.weight.mean(dim=dims, keepdim=True)
            elif name == 'he':
                nn.init.kaiming_normal_(m.weight, mode='fan_in',
                                        nonlinearity='relu')
            else:
                fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(
                    m.weight)
                std = math.sqrt(2.0 / (1 + 0.25 ** 2) /
                                ((fan_in + fan_out) / 2.0))
                with torch.no_grad():
                    m.weight.normal_(0, std)
            nn.init.zeros_(m.bias)


def make_optimizer(net, r, batches_per_epoch):
    """PyTorch's optimizer and a per-step schedule for recipe ``r``."""
    import torch
    wd = r.get('wd', 0.0) or 0.0
    kind = r.get('optimizer', 'sgd')
    if kind == 'adam':
        opt = torch.optim.Adam(net.parameters(), lr=r['lr'],
                               weight_decay=wd)
    elif kind in ('sgd', 'momentum'):
        opt = torch.optim.SGD(net.parameters(), lr=r['lr'],
                              momentum=0.9 if kind == 'momentum' else 0.0,
                              weight_decay=wd)
    else:
        raise ValueError('unknown optimizer %r' % kind)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: lr_at(r, step + 1, batches_per_epoch) / r['lr'])
    return opt, schedule
