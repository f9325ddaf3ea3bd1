"""Training as in d2l-zh 5.5: the book's names, and the training command.

``from d2l_cnn.train import train_ch5, try_gpu`` gives what the
notebooks use: the loop (``d2l_cnn.loop``), the devices and seeds
(``d2l_cnn.devices``) and a recipe's Gluon objects (``d2l_cnn.optim``).

The command line trains any registered network (``d2l_cnn.cli``)::

    python -m d2l_cnn.train nin                    # cpu recipe on a CPU
    python -m d2l_cnn.train batchnorm --data mnist5k --out runs/bn
"""
import sys

from .devices import (MAX_SEED, check_ctx, check_seed, cpu_limit, net_ctx,
                      num_gpus, parse_ctx, seed_epoch, seed_everything,
                      try_all_gpus, try_gpu)
from .loop import (MAX_BATCHES_IN_FLIGHT, epoch_line, evaluate_accuracy,
                   train_ch5)
from .optim import (INITIALIZERS, CenteredXavier, CentralizedTrainer,
                    make_initializer, make_trainer)

__all__ = ['CenteredXavier', 'CentralizedTrainer', 'INITIALIZERS',
           'MAX_BATCHES_IN_FLIGHT',
           'MAX_SEED', 'check_ctx', 'check_seed', 'cpu_limit', 'epoch_line',
           'evaluate_accuracy',
           'make_initializer', 'make_trainer', 'net_ctx', 'num_gpus',
           'parse_ctx', 'seed_epoch', 'seed_everything', 'train_ch5',
           'try_all_gpus', 'try_gpu']

if __name__ == '__main__':
    # ``python -m d2l_cnn.train``: this file runs as the script
    # ``__main__``; nothing in the package imports d2l_cnn.train, so the
    # file runs once.
    from d2l_cnn.cli import main
    sys.exit(main())
