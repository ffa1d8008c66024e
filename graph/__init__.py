"""Resurface: graph."""
