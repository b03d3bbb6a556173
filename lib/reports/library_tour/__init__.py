"""Report notebook `notebooks/library_tour.py`: its parameters and its own code."""
