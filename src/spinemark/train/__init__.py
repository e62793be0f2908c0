"""Training of the dual-head U-Net: datasets, patch sampling, augmentation, loss masks, loop.

Example:
    >>> from spinemark.train import TrainConfig, train          # doctest: +SKIP
    >>> weights = train(TrainConfig(output="/tmp/run", iterations=2000))  # doctest: +SKIP

Importing this package does not import torch.
"""

from spinemark.train.config import TrainConfig


def train(config: TrainConfig, callback=None):
    """Train a model; see :func:`spinemark.train.loop.train`."""
    from spinemark.train.loop import train as _train

    return _train(config, callback)


__all__ = ["TrainConfig", "train"]
