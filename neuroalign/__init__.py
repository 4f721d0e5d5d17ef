"""neuroalign: measure how brain-like a vision model is."""

__version__ = "0.1.0"


def compare(*args, **kwargs):
    """Paired comparison of two models per benchmark: :func:`neuroalign.comparison.compare`."""
    from .comparison import compare as _compare

    return _compare(*args, **kwargs)
