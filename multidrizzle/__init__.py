"""multidrizzle: combine dithered HST exposures into one clean image."""

__version__ = "0.1.0"
