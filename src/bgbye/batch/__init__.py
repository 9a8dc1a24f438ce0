"""Batch removal: plan outputs for files, folders or URLs once, then run them on an executor.

    from bgbye.batch import remove_folder, RayExecutor
    summary = remove_folder("photos/", "cutouts/", ref="u2netp")            # local threads
    summary = remove_folder("s3://in/", "s3://out/", executor=RayExecutor("auto"))
"""

from bgbye.batch.engine import remove_folder
from bgbye.batch.executor import BatchSpec, Executor
from bgbye.batch.local import LocalExecutor
from bgbye.batch.plan import IMAGE_SUFFIXES, NoImagesError, Task, pending, plan
from bgbye.batch.ray_executor import RayExecutor
from bgbye.batch.summary import Failure, Summary

__all__ = ["IMAGE_SUFFIXES", "BatchSpec", "Executor", "Failure", "LocalExecutor",
           "NoImagesError", "RayExecutor", "Summary", "Task", "pending", "plan",
           "remove_folder"]
