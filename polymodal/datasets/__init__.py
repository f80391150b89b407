"""Built-in datasets: the embedded default and builders over local files.

- :func:`make_digits_two_view`: the embedded default, scikit-learn's digits as two image views.
- :func:`build_avdigits`: MNIST images paired with spoken digits (FSDD), split by speaker.
- :func:`make_synthetic_table`, :func:`make_messy_table`: small synthetic tables for tests and docs.
- :func:`make_noisy_two_view`: the two-view protocol of Wang et al. (2015) on any image array.
"""

from polymodal.datasets.avdigits import avdigits_splits, build_avdigits
from polymodal.datasets.digits import make_digits_two_view
from polymodal.datasets.synthetic import make_messy_table, make_synthetic_table
from polymodal.datasets.two_view import make_noisy_two_view

__all__ = [
    "avdigits_splits",
    "build_avdigits",
    "make_digits_two_view",
    "make_messy_table",
    "make_noisy_two_view",
    "make_synthetic_table",
]
