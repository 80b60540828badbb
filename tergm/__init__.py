"""Temporal ERGMs by maximum pseudolikelihood with period-bootstrap intervals (R's btergm)."""

if __name__ != "dyadflow.tergm":  # the folder is installed as dyadflow.tergm (pyproject.toml)
    raise ImportError("import dyadflow.tergm, not tergm: this folder is part of the dyadflow package")

from dyadflow.tergm.api import btergm, ergm, fit_design
from dyadflow.tergm.estimate import CollinearityError, EstimationError, SeparationError, SeparationWarning, mple
from dyadflow.tergm.interpret import InterpretError, edge_probabilities, interpret, marginal_effects, probability_profile
from dyadflow.tergm.prediction import PredictionError, ValidationResult, validate
from dyadflow.tergm.results import Fit

__all__ = [
    "btergm", "ergm", "fit_design", "mple", "Fit",
    "EstimationError", "CollinearityError", "SeparationError", "SeparationWarning",
    "validate", "ValidationResult", "PredictionError",
    "edge_probabilities", "interpret", "probability_profile", "marginal_effects", "InterpretError",
]
