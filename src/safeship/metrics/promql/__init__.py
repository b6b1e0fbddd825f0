"""PromQL: parse with promql-parser, evaluate against the embedded store like Prometheus."""

from safeship.metrics.promql.engine import Engine
from safeship.metrics.promql.errors import PromQLError
from safeship.metrics.promql.values import Matrix, Scalar, String, Value, Vector

__all__ = ["Engine", "Matrix", "PromQLError", "Scalar", "String", "Value", "Vector"]
