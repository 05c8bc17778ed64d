"""Datasets: the bundled spoken digits and synthetic tones for fast experiments."""

from ._spoken_digits import load_spoken_digits
from ._synthetic import make_tones

__all__ = ["load_spoken_digits", "make_tones"]
