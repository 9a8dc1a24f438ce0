"""Kedro pipelines, one package each (found by ``kedro.framework.project.find_pipelines``)."""
