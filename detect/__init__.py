"""Resurface: detect."""
