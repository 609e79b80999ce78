"""The element path: the one way elements are computed, locally and on a cluster.

`hpcflow.element.openrun.OpenRun` holds what every engine shares (shapes, storages,
prepared inputs); `hpcflow.element.execute.execute_chunk` computes elements and is the
single writer of results and chunk markers; `hpcflow.element.local` drives ``map``;
`hpcflow.element.worker` is the job side of a submitted run. Nothing here imports the
submission layer or a scheduler backend.
"""
