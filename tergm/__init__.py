"""Temporal ERGMs by maximum pseudolikelihood with period-bootstrap intervals (R's btergm), their
MCMC-MLE, and plain logits with cluster-robust standard errors; every fit reads as a ModelResults."""

if __name__ != "dyadflow.tergm":  # the folder is installed as dyadflow.tergm (pyproject.toml)
    raise ImportError("import dyadflow.tergm, not tergm: this folder is part of the dyadflow package")

from dyadflow.tergm.api import btergm, ergm, fit_design
from dyadflow.tergm.estimate import CollinearityError, EstimationError, SeparationError, SeparationWarning, mple
from dyadflow.tergm.interpret import (
    InterpretError,
    edge_probabilities,
    interpret,
    marginal_effects,
    probability_profile,
)
from dyadflow.tergm.logit import LogitError, LogitFit, logit
from dyadflow.tergm.prediction import PredictionError, ValidationResult, validate
from dyadflow.tergm.results import Fit, ModelResults

__all__ = [
    "btergm",
    "ergm",
    "fit_design",
    "logit",
    "mple",
    "Fit",
    "LogitFit",
    "ModelResults",
    "EstimationError",
    "CollinearityError",
    "SeparationError",
    "SeparationWarning",
    "LogitError",
    "validate",
    "ValidationResult",
    "PredictionError",
    "edge_probabilities",
    "interpret",
    "probability_profile",
    "marginal_effects",
    "InterpretError",
]
