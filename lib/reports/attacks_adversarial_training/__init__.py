"""Report notebook `notebooks/attacks_adversarial_training.py`: its parameters and its own code."""
