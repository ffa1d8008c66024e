"""Resurface: search."""
