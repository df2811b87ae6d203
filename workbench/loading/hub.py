"""The Hugging Face hub: whether it is reachable (probed once per process), where its cache is, and how to
get a model that is not in it."""

from __future__ import annotations

import logging
import os
import socket
import threading
from urllib.parse import urlparse

logger = logging.getLogger("workbench.loading")

_OFFLINE_CHECKED: dict[str, bool] = {}


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def hub_offline(timeout: float = 2.0) -> bool:
    """Whether the hub is to be treated as offline.

    ``HF_HUB_OFFLINE=1`` (or ``TRANSFORMERS_OFFLINE=1``) means offline. Otherwise the hub's host is
    probed once per process; when it does not answer within ``timeout`` seconds, ``HF_HUB_OFFLINE=1`` is
    set for this process (and for huggingface_hub) so no library retries the network.
    """
    if _env_true("HF_HUB_OFFLINE") or _env_true("TRANSFORMERS_OFFLINE"):
        return True
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    if endpoint not in _OFFLINE_CHECKED:
        _OFFLINE_CHECKED[endpoint] = not _reachable(endpoint, timeout)
        if _OFFLINE_CHECKED[endpoint]:
            logger.warning(
                "the Hugging Face hub (%s) is not reachable; working offline (HF_HUB_OFFLINE=1)", endpoint
            )
            os.environ["HF_HUB_OFFLINE"] = "1"
            try:
                import huggingface_hub.constants as hf_constants

                hf_constants.HF_HUB_OFFLINE = True
            except ImportError:  # pragma: no cover
                pass
    return _OFFLINE_CHECKED[endpoint]


def _reachable(endpoint: str, timeout: float) -> bool:
    """TCP-connect to the endpoint's host in a thread (DNS included) with a hard ``timeout``."""
    url = urlparse(endpoint)
    host, port = url.hostname or "huggingface.co", url.port or (443 if url.scheme != "http" else 80)
    result: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result and result[0])


def _hub_cache_dir() -> str:
    try:
        from huggingface_hub.constants import HF_HUB_CACHE

        return str(HF_HUB_CACHE)
    except ImportError:  # pragma: no cover
        return "~/.cache/huggingface/hub"


def _how_to_get(repo_id: str) -> str:
    return (
        f"on a machine with internet run `huggingface-cli download {repo_id}` (or `hf download {repo_id}`) and "
        f"copy the Hugging Face cache here (set HF_HOME to it), or download it to a folder and pass that folder's path"
    )
