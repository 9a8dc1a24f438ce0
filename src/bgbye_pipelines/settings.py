"""Kedro project settings (see https://docs.kedro.org/en/stable/configure/configuration_basics/).

Environments (conf/README.md): ``base`` (public datasets, for users with internet), ``local``
(the default run environment, git-ignored overrides), ``test`` (generated fixtures, for CI, in a
temporary data root), ``shared`` and ``shared_u2netp`` (``../shared/data/real`` on the
development machine). Each pipeline keeps its parameters in
``conf/<env>/parameters_<pipeline>.yml`` and its datasets in ``conf/<env>/catalog_<area>.yml``.
"""

from kedro.config import OmegaConfigLoader

from bgbye_pipelines.data_root import temp_data_root

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # An environment's parameter files are deep-merged into base, so conf/local or conf/test
    # only name the keys they change (lists, such as data_ingestion.sources, are replaced).
    "merge_strategy": {"parameters": "soft"},
    # conf/test's globals.yml: data_root is a temporary folder, never the checkout's data/.
    "custom_resolvers": {"bgbye_temp_data_root": temp_data_root},
}

# Pushes per-epoch training metrics and run status to BGBYE_PUSHGATEWAY_URL when it is set.
from bgbye_pipelines.hooks import PushgatewayHooks  # noqa: E402

HOOKS = (PushgatewayHooks(),)
