"""Localization methods, registered by name (see :mod:`spinemark.methods.base`)."""

from spinemark.methods.base import Method, Prediction, available_methods, get_method, register_method

__all__ = ["Method", "Prediction", "available_methods", "get_method", "register_method"]
