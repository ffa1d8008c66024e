"""Resurface: config."""
