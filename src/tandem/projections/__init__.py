"""Projections: the read side's folds over the event log."""

from tandem.projections.base import Projection
from tandem.projections.runner import ProjectionRunner, ProjectionState, RetryPolicy

__all__ = ["Projection", "ProjectionRunner", "ProjectionState", "RetryPolicy"]
