"""Resurface: crawlers."""
