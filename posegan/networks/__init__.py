"""The networks of Deformable GAN, one file each: generator, discriminator, deformable skip, VGG19."""
from .discriminator import Discriminator
from .generator import Generator

__all__ = ["Discriminator", "Generator"]
