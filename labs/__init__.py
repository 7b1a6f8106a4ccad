"""The course's Python package."""
