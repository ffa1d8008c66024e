"""The shared vocabulary: record types, platforms, statuses, levels, watched states and target parsing.

The bottom layer: it imports nothing of ours, and every other package takes these names from here.
"""
