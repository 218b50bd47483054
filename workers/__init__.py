"""Dramatiq broker and actors (the messaging pipeline); filled in by the pipeline work."""
