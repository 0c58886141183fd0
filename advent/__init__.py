"""ADVENT: adversarial entropy minimisation for domain adaptation in semantic segmentation."""

__version__ = "0.1.0"
