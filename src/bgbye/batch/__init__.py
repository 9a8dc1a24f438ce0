"""Batch removal: plan outputs for files and folders, then run them locally or on Ray."""

from bgbye.batch.plan import IMAGE_SUFFIXES, Task, plan_tasks
from bgbye.batch.summary import Failure, Summary

__all__ = ["IMAGE_SUFFIXES", "Failure", "Summary", "Task", "plan_tasks"]
