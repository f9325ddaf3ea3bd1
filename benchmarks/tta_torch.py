"""Time to accuracy, side (d): PyTorch with the same network and recipe.

``python -m benchmarks.tta_torch SPEC`` trains the PyTorch twin of
``SPEC['model']`` (MXNet's initialisation) with the recipe's optimizer,
learning rate and schedule, on the digits of ``SPEC['data']`` in the
same order as d2l_cnn's iterator, resized per batch (bilinear) as
d2l_cnn does, and prints the book's lines (``training on``, then one
``epoch N, loss, train acc, test acc, time`` line per epoch).
"""
import json
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from benchmarks.common import load_digits
from benchmarks.torch_models import (init_like_mxnet, make_optimizer,
                                     torch_model)


def batches(X, y, batch_size, resize, order):
    for i in range(0, len(order), batch_size):
        idx = order[i:i + batch_size]
        Xb = torch.from_numpy(X[idx]).float() / 255
        if Xb.shape[2:] != (resize, resize):
            Xb = F.interpolate(Xb, size=(resize, resize), mode='bilinear',
                               align_corners=False)
        yield Xb, torch.from_numpy(y[idx].astype(np.int64))


def main(argv=None):
    spec = json.loads((sys.argv[1:] if argv is None else argv)[0])
    r, seed = spec['recipe'], spec['seed']
    torch.set_num_threads(spec['threads'])
    torch.manual_seed(seed)
    (X_train, y_train), (X_test, y_test) = load_digits(spec)
    bs, size = r['batch_size'], r['resize']
    net = torch_model(spec['model'], resize=size)
    init_like_mxnet(net, r.get('init', 'xavier'))
    num_batches = -(-len(y_train) // bs)
    optimizer, schedule = make_optimizer(net, r, num_batches)
    loss = torch.nn.CrossEntropyLoss(reduction='sum')
    print('training on cpu', flush=True)
    for epoch in range(r['num_epochs']):
        start = time.time()
        order = np.random.default_rng((seed, epoch)).permutation(
            len(y_train))
        net.train()
        l_sum, hits, n = 0.0, 0, 0
        for X, y in batches(X_train, y_train, bs, size, order):
            optimizer.zero_grad()
            y_hat = net(X)
            l = loss(y_hat, y)
            (l / len(y)).backward()
            if r.get('centralize'):  # Yong et al. (2020), as d2l_cnn
                for p in net.parameters():
                    if p.grad is not None and p.dim() > 1:
                        p.grad -= p.grad.mean(dim=tuple(range(1, p.dim())),
                                              keepdim=True)
            optimizer.step()
            schedule.step()
            l_sum += l.item()
            hits += (y_hat.argmax(dim=1) == y).sum().item()
            n += len(y)
        net.eval()
        test_hits = 0
        with torch.no_grad():
            for X, y in batches(X_test, y_test, bs, size,
                                np.arange(len(y_test))):
                test_hits += (net(X).argmax(dim=1) == y).sum().item()
        print('epoch %d, loss %.4f, train acc %.3f, test acc %.3f, '
              'time %.1f sec' % (epoch + 1, l_sum / n, hits / n,
                                 test_hits / len(y_test),
                                 time.time() - start), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
