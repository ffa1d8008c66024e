"""Viewer assets inlined into the HTML export (a package so that they ship with the wheel)."""
