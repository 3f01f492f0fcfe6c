"""``tap-atlassian-auth``: the login steps that happen outside a sync (docs/SETTINGS.md "Commands").

    tap-atlassian-auth url      --config C [--product jira|confluence]
    tap-atlassian-auth exchange --config C --verifier CODE [--product jira|confluence]
    tap-atlassian-auth login    --config C [--product jira|confluence]
    tap-atlassian-auth status   --config C [--product jira|confluence]

Each subcommand calls the same-named method of the configured scheme. Exit status 0 on
success; otherwise 1 (login step failed) or 2 (settings), with one line on stderr that
never contains a secret.
"""

from __future__ import annotations

import argparse
import json
import sys
import typing as t
from pathlib import Path

from tap_atlassian.auth import AuthError, build_authenticator, load_settings
from tap_atlassian.config import CONFIG_SCHEMA, ConfigError, Settings
from tap_atlassian.redact import redact
from tap_atlassian.sdk_internals import environment_config
from tap_atlassian.sites import Sites

ENV_PREFIX = "TAP_ATLASSIAN_"


def config_from_env() -> dict[str, t.Any]:
    """Settings from ``TAP_ATLASSIAN_<NAME>`` variables: the SDK's own parser, as the tap reads them."""
    return environment_config(CONFIG_SCHEMA, ENV_PREFIX)


def load_config(paths: list[str]) -> dict[str, t.Any]:
    """Merge the config files in order (later wins); ``ENV`` reads environment variables."""
    config: dict[str, t.Any] = {}
    for path in paths:
        if path == "ENV":
            config.update(config_from_env())
            continue
        try:
            with Path(path).open(encoding="utf-8") as handle:
                config.update(json.load(handle))
        except (OSError, ValueError) as exc:
            msg = f"--config {path}: cannot read a JSON object ({type(exc).__name__})"
            raise ConfigError(msg) from None
    return config


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tap-atlassian-auth", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("url", "print the authorization URL"),
        ("exchange", "exchange a verifier for tokens and store them"),
        ("login", "desktop flow: browser, local redirect listener, exchange"),
        ("status", "what the stored login state holds (never a secret)"),
    ):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument(
            "--config",
            action="append",
            required=True,
            metavar="C",
            help="config JSON file (repeatable; ENV reads TAP_ATLASSIAN_* variables)",
        )
        cmd.add_argument("--product", choices=("jira", "confluence"), default="jira")
        if name == "exchange":
            cmd.add_argument("--verifier", required=True, help="the code from the redirect")
    return parser


def settings_from_args(args: argparse.Namespace) -> Settings:
    """The settings of ``--config`` (read once, validated once)."""
    config = load_config(args.config)
    if args.command == "url" and config.get("initiate_oauth") == "OFF":
        # The seeds' headless recipe asks for the URL with InitiateOAuth=OFF, before any
        # token exists; the URL needs none, so OFF's oauth_access_token is not required here.
        config = {**config, "initiate_oauth": "REFRESH"}
    return load_settings(config)


def run(args: argparse.Namespace, settings: Settings) -> str:
    """Dispatch one subcommand to the scheme; returns what to print."""
    site = Sites(settings).site(args.product)
    scheme = build_authenticator(settings, args.product, site).scheme
    if args.command == "url":
        return scheme.authorization_url()
    if args.command == "exchange":
        scheme.exchange(args.verifier)
        return f"{scheme.name}: tokens stored for {args.product}"
    if args.command == "login":
        scheme.login()
        return f"{scheme.name}: logged in to {args.product}"
    return json.dumps(scheme.status(), indent=2, sort_keys=True, default=str)


def main(argv: list[str] | None = None) -> int:
    """Console entry point."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--verifier" in argv[:-1]:
        # A code may begin with "-" (URL-safe base64), which argparse takes for an option.
        at = argv.index("--verifier")
        argv[at : at + 2] = [f"--verifier={argv[at + 1]}"]
    args = _parser().parse_args(argv)
    secrets: list[str] = []  # known once the settings parse; their errors never echo a value
    try:
        settings = settings_from_args(args)
        secrets = settings.secrets()
        output = run(args, settings)
    except (ConfigError, AuthError) as exc:
        sys.stderr.write(f"tap-atlassian-auth: {redact(str(exc), secrets)}\n")
        return 2 if isinstance(exc, ConfigError) else 1
    sys.stdout.write(f"{redact(output, secrets)}\n")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
