"""phylohf: the Hugging Face model ecosystem studied with the methods of phylogenetics."""
__version__ = "0.1.0"
