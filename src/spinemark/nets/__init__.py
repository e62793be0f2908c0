"""Network definitions (torch modules) and weight loading.

Importing this package does not import torch; import :mod:`spinemark.nets.unet3d` for the
network and :mod:`spinemark.nets.io` for saving and loading weights.
"""
