"""A complete local stack in one folder: Lotse config, registration and a Synapse on SQLite.

Used by ``lotse dev`` and by the test fixtures, so both run exactly the same wiring.
A second start on the same folder keeps secrets, database and accounts.
"""

from __future__ import annotations

import socket
from pathlib import Path

from appservice.config import Config, load_config
from appservice.config_render import render_initial_config, set_scalar
from appservice.registration import write_registration

from .synapse_runner import SynapseProcess, free_port, make_server_admins, write_synapse_config

DEV_DOMAIN = "lotse.localhost"


def port_or_free(preferred: int | None) -> int:
    """Keep a port across restarts when it is still free; otherwise take a new one."""
    if preferred:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", preferred))
                return preferred
            except OSError:
                pass
    return free_port()


def write_stack_config(
    directory: Path,
    *,
    hs_port: int,
    as_port: int,
    domain: str = DEV_DOMAIN,
    database_url: str | None = None,
    centres_yaml: str | None = None,
    mail_port: int | None = None,
) -> Config:
    """Write (or refresh) config.yaml, registration.yaml and synapse/ in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    config_path = directory / "config.yaml"
    if config_path.exists():
        text = config_path.read_text(encoding="utf-8")
    else:
        text = render_initial_config(domain=domain)
        if centres_yaml is not None:
            text = text[: text.index("\ncentres:")] + "\n" + centres_yaml
    text = set_scalar(text, "homeserver", "address", f"http://127.0.0.1:{hs_port}")
    text = set_scalar(text, "appservice", "address", f"http://127.0.0.1:{as_port}")
    text = set_scalar(text, "appservice", "port", as_port)
    if database_url is not None:
        text = set_scalar(text, "database", "url", database_url)
    if mail_port is not None:
        # The local sink: plain SMTP, no authentication.
        text = set_scalar(text, "mail", "enabled", True)
        text = set_scalar(text, "mail", "host", "127.0.0.1")
        text = set_scalar(text, "mail", "port", mail_port)
        text = set_scalar(text, "mail", "security", "none")
        text = set_scalar(text, "mail", "from_address", f"lotse@{domain}")
    config_path.write_text(text, "utf-8")
    cfg = load_config(config_path, env={})
    registration = directory / "registration.yaml"
    write_registration(cfg, registration)
    write_synapse_config(
        directory / "synapse",
        server_name=cfg.homeserver.domain,
        port=hs_port,
        registration_files=[registration.resolve()],
    )
    return cfg


async def start_synapse(directory: Path, cfg: Config) -> SynapseProcess:
    """Start the stack's Synapse and make the assistant (and sender) server admins."""
    synapse = SynapseProcess(directory / "synapse")
    await synapse.start()
    try:
        await make_server_admins(
            synapse.base_url,
            synapse.shared_secret,
            [cfg.assistant_mxid, cfg.sender_mxid],
            as_token=cfg.appservice.as_token,
        )
    except BaseException:
        await synapse.stop()
        raise
    return synapse
