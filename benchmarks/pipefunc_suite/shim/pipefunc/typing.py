"""``pipefunc.typing.Array`` -> ``hpcflow.spec.typecheck.Array``."""

from hpcflow.spec.typecheck import Array

__all__ = ["Array"]
