"""Generators and discriminators; build them through `framegen.core.models.registry`."""
