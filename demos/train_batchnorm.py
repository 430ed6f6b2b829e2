"""Train the same MLP with and without batch norm; the same as `tinygrad-bn demo`.

    python demos/train_batchnorm.py [--epochs 30] [--plot curves.png]
"""
import sys

from tinygrad_bn.demo import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
