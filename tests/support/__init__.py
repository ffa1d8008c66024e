"""Reusable test helpers (local servers, fixtures). Nothing here talks beyond loopback."""
