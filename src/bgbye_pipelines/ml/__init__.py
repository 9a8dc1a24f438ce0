"""Training library used by the Kedro pipelines: dataset, model builder, losses, fit loop, export.

Everything here imports torch; the runtime package ``bgbye`` never imports this package.
"""
