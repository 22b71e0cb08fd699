"""The ``lotse`` command: init, check-config, run, dev, registration, rotate-key.

Exit codes: 0 success, 1 refused or failed, 2 configuration error (one line on stderr); a
refused ``rotate-key`` (wrong old key, Lotse running) is a configuration error too.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
from collections.abc import Callable
from pathlib import Path

from appservice.config import (
    Config,
    ConfigError,
    load_config,
    load_config_text,
)
from appservice.config_render import render_initial_config
from appservice.registration import registration_yaml

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2

DEFAULT_CONFIG = "config.yaml"
DEFAULT_REGISTRATION = "registration.yaml"


def _config_error(err: ConfigError) -> int:
    print(f"config error: {err.key}: {err.message}", file=sys.stderr)
    return EXIT_CONFIG


def _with_config(args: argparse.Namespace, action: Callable[[Config], int]) -> int:
    # The composition root knows what else a config names (the centres' monitoring forms).
    from appservice.app import check_config_parts

    try:
        cfg = load_config(args.config)
        check_config_parts(cfg)
    except ConfigError as err:
        return _config_error(err)
    return action(cfg)


def cmd_init(args: argparse.Namespace) -> int:
    folder = Path(args.dir)
    config_path = folder / DEFAULT_CONFIG
    registration_path = folder / DEFAULT_REGISTRATION
    existing = [p for p in (config_path, registration_path) if p.exists()]
    if existing and not args.force:
        names = " and ".join(str(p) for p in existing)
        print(f"{names} already exist(s); use --force to overwrite", file=sys.stderr)
        return EXIT_FAILED
    text = render_initial_config(args.domain, args.homeserver)
    try:
        # Environment variables must not mask a broken generated file.
        cfg = load_config_text(text, config_path, env={})
    except ConfigError as err:
        return _config_error(err)
    folder.mkdir(parents=True, exist_ok=True)
    config_path.write_text(text, encoding="utf-8")
    config_path.chmod(0o600)
    registration_path.write_text(registration_yaml(cfg), encoding="utf-8")
    print(f"wrote {config_path} (with fresh secrets; keep it private)")
    print(f"wrote {registration_path}")
    print("next steps:")
    print(f"  1. edit {config_path}: homeserver.domain, homeserver.address, centres")
    print(f"     (then run `lotse registration -c {config_path}` if you changed the appservice")
    print("     or namespace settings)")
    print(f"  2. add {registration_path.absolute()} to app_service_config_files in Synapse's")
    print("     homeserver.yaml and restart Synapse")
    print(f"  3. make {cfg.assistant_mxid} a Synapse server admin")
    print(f"  4. lotse run -c {config_path}")
    return EXIT_OK


def cmd_check_config(args: argparse.Namespace) -> int:
    def report(cfg: Config) -> int:
        print(f"config OK: {len(cfg.centres)} centre(s)")
        return EXIT_OK

    return _with_config(args, report)


def cmd_run(args: argparse.Namespace) -> int:
    def start(cfg: Config) -> int:
        from appservice.app import run

        return int(run(cfg))

    return _with_config(args, start)


def cmd_dev(args: argparse.Namespace) -> int:
    from appservice.dev.main import main as dev_main

    sys.exit(dev_main(args.dir, demo=args.demo))


def cmd_registration(args: argparse.Namespace) -> int:
    def write(cfg: Config) -> int:
        Path(args.output).write_text(registration_yaml(cfg), encoding="utf-8")
        print(f"wrote {args.output}; restart Synapse to load it")
        return EXIT_OK

    return _with_config(args, write)


OLD_KEY_ENV = "LOTSE_OLD_SEALING_KEY"


def _old_key(args: argparse.Namespace, cfg: Config) -> str:
    """The key values are sealed with now: a file, the pickle key, or the environment."""
    if args.old_key_file:
        return Path(args.old_key_file).read_text(encoding="utf-8").strip()
    if args.from_pickle_key:
        return cfg.encryption.pickle_key
    return os.environ.get(OLD_KEY_ENV, "")


def _lotse_answers(cfg: Config) -> bool:
    """Whether something listens on Lotse's appservice port (Lotse running on this host)."""
    host = cfg.appservice.hostname
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    try:
        with socket.create_connection((host, cfg.appservice.port), timeout=2):
            return True
    except OSError:
        return False


def cmd_rotate_key(args: argparse.Namespace) -> int:
    def rotate(cfg: Config) -> int:
        from appservice.rotation import Refused, Rotation, rotate

        old = _old_key(args, cfg)
        if not old:
            print(
                f"rotate-key: no old key: set {OLD_KEY_ENV}, --old-key-file or --from-pickle-key",
                file=sys.stderr,
            )
            return EXIT_CONFIG
        if old not in cfg.encryption.previous_sealing_keys and _lotse_answers(cfg):
            # A Lotse that does not know the old key cannot read what is not re-sealed yet.
            print(
                f"rotate-key: something answers on {cfg.appservice.hostname}:"
                f"{cfg.appservice.port}: either stop Lotse, or put the old key into "
                "encryption.previous_sealing_keys and restart Lotse first (README, "
                '"Key rotation"); nothing was changed',
                file=sys.stderr,
            )
            return EXIT_CONFIG
        rotation = Rotation(old, cfg.encryption.sealing_key, cfg.assistant_mxid)

        def progress(line: str) -> None:
            print(line, flush=True)

        try:
            report = asyncio.run(
                rotate(
                    cfg.database.url, rotation, batch=args.batch_size, pause=args.pause,
                    progress=progress,
                )
            )  # fmt: skip
        except Refused as err:
            print(f"rotate-key: {err}", file=sys.stderr)
            return EXIT_CONFIG
        for line in report.lines():
            print(line)
        print("done: every sealed value is under the new key")
        return EXIT_OK

    return _with_config(args, rotate)


def _add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c",
        "--config",
        default=DEFAULT_CONFIG,
        metavar="FILE",
        help=f"config file (default: {DEFAULT_CONFIG})",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with all subcommands."""
    parser = argparse.ArgumentParser(
        prog="lotse", description="Lotse: online counselling on Matrix (appservice)."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    init = sub.add_parser("init", help="write config.yaml and registration.yaml with fresh secrets")
    init.add_argument("--dir", default=".", help="folder to write into (default: .)")
    init.add_argument("--force", action="store_true", help="overwrite existing files")
    init.add_argument("--domain", help="the homeserver's server_name")
    init.add_argument("--homeserver", metavar="URL", help="URL of Synapse's client API")
    init.set_defaults(func=cmd_init)

    check = sub.add_parser("check-config", help="validate the config and exit (0 OK, 2 error)")
    _add_config_option(check)
    check.set_defaults(func=cmd_check_config)

    run = sub.add_parser("run", help="run the appservice")
    _add_config_option(run)
    run.set_defaults(func=cmd_run)

    dev = sub.add_parser("dev", help="run a local Synapse and Lotse for development")
    dev.add_argument("--dir", default=".lotse-dev", help="state folder (default: .lotse-dev)")
    dev.add_argument("--demo", action="store_true", help="seed demo centres and people")
    dev.set_defaults(func=cmd_dev)

    registration = sub.add_parser(
        "registration", help="regenerate the Synapse registration file from the config"
    )
    _add_config_option(registration)
    registration.add_argument(
        "-o",
        "--output",
        default=DEFAULT_REGISTRATION,
        metavar="FILE",
        help=f"where to write it (default: {DEFAULT_REGISTRATION})",
    )
    registration.set_defaults(func=cmd_registration)

    rotate = sub.add_parser(
        "rotate-key",
        help="re-seal every sealed value under encryption.sealing_key",
        description=(
            "Re-seals every sealed value under the config's encryption.sealing_key. The old "
            f"key comes from {OLD_KEY_ENV}, --old-key-file or --from-pickle-key. Lotse may "
            "run if its config has the old key in encryption.previous_sealing_keys; else stop "
            "it first. Killed halfway, run it again: it goes on where it stopped."
        ),
    )
    _add_config_option(rotate)
    rotate.add_argument("--old-key-file", metavar="FILE", help="file holding the old key")
    rotate.add_argument(
        "--from-pickle-key",
        action="store_true",
        help="the old key is encryption.pickle_key (installs from before sealing_key)",
    )
    rotate.add_argument(
        "--batch-size", type=int, default=500, help="rows per transaction (default: 500)"
    )
    rotate.add_argument(
        "--pause",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait between batches, to spare a busy database (default: 0)",
    )
    rotate.set_defaults(func=cmd_rotate_key)
    return parser


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``lotse`` console script; exits with the command's code."""
    args = build_parser().parse_args(argv)
    try:
        code = args.func(args)
    except ConfigError as err:
        code = _config_error(err)
    sys.exit(code)
