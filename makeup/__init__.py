"""Facial makeup transfer: a BeautyGAN teacher, compressed students, a face pipeline and their training."""

__version__ = "0.1.0"
