"""Shared pytest configuration: the fake Atlassian site's fixtures (fake_cloud, fake_server, fake_factory)."""

pytest_plugins = ["tests.fake_atlassian.pytest_plugin"]
