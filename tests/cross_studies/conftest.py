"""The studies' tests: the ``studies`` plugin is loaded even where the installed metadata predates it."""

from __future__ import annotations

import os

from workbench.plugins import ENV_VAR, plugin_specs

if "apps.studies.plugin" not in plugin_specs():
    os.environ[ENV_VAR] = os.pathsep.join(filter(None, [os.environ.get(ENV_VAR, ""), "apps.studies.plugin"]))
