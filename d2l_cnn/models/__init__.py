"""The networks of d2l-zh chapter 5; importing registers them all."""
from . import (alexnet, batchnorm, densenet, googlenet, lenet,  # noqa: F401
               nin, resnet, vgg)
