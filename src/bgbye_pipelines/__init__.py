"""bgbye's training side: Kedro pipelines for data, training and evaluation."""

__version__ = "0.1.0"
