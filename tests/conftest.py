"""Shared fixtures: each starts a real thing (broker, pseudo-terminal, server) and always stops it."""

pytest_plugins = ["tests.fixtures.mqtt", "tests.fixtures.serial", "tests.fixtures.db"]
