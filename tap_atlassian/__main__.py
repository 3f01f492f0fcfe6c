"""``python -m tap_atlassian`` runs the tap's CLI."""

from tap_atlassian.tap import TapAtlassian

TapAtlassian.cli()
