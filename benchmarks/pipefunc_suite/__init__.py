"""pipefunc's own map/mapspec tests, run against hpcflow through a name-translating shim.

``python -m benchmarks.pipefunc_suite`` (see ``__main__.py`` and benchmarks/README.md).
The shim in ``shim/pipefunc`` only renames pipefunc's names and keywords to hpcflow's;
a pipefunc feature that hpcflow lacks stays missing, so its tests fail: that is the
measurement.
"""
