"""Resurface: store."""
