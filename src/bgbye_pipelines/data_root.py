"""The data root of throwaway runs (``conf/test``): a temporary folder, never the checkout's data/.

Registered as the OmegaConf resolver ``bgbye_temp_data_root`` (``settings.py``); the test
environment's ``globals.yml`` sets ``data_root: ${bgbye_temp_data_root:}``.
"""

from __future__ import annotations

import functools
import logging
import os
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)
ENV_VAR = "BGBYE_DATA_ROOT"


@functools.cache
def temp_data_root() -> str:
    """``$BGBYE_DATA_ROOT`` if set, else one fresh temporary folder for this process."""
    chosen = os.environ.get(ENV_VAR)
    if chosen:
        root = Path(chosen)
        root.mkdir(parents=True, exist_ok=True)
    else:
        root = Path(tempfile.mkdtemp(prefix="bgbye-kedro-"))
    log.info("data root of this run: %s", root)
    return str(root)
