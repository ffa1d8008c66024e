"""Resurface: alerts."""
