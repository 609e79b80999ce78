"""Test suites and fakes shipped with hpcflow, for its own backends and for users'.

Needs pytest (``pip install -e '.[test]'`` in the hpcflow checkout). `FakeScheduler` stands in for a batch
system in a user's tests; `SchedulerContract` and `StorageContract` are the suites a
backend subclasses.
"""

from hpcflow.testing._fake_scheduler import FakeScheduler, register_fake_scheduler
from hpcflow.testing.schedulers import SchedulerContract
from hpcflow.testing.storage import StorageContract

__all__ = ["FakeScheduler", "SchedulerContract", "StorageContract", "register_fake_scheduler"]
