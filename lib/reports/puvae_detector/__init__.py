"""Report notebook `notebooks/puvae_detector.py`: its parameters and its own code."""
