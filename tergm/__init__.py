"""Temporal ERGMs by maximum pseudolikelihood with period-bootstrap intervals (R's btergm)."""

from tergm.api import btergm, ergm, fit_design
from tergm.estimate import CollinearityError, EstimationError, SeparationError, SeparationWarning, mple
from tergm.results import Fit

__all__ = [
    "btergm", "ergm", "fit_design", "mple", "Fit",
    "EstimationError", "CollinearityError", "SeparationError", "SeparationWarning",
]
