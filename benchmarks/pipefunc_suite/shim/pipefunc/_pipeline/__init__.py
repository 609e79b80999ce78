"""pipefunc's pipeline internals."""
