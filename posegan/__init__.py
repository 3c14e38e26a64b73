"""PoseGAN: Deformable GANs for pose-based human image generation (Siarohin et al., CVPR 2018) in PyTorch.

Run ``python -m posegan --help`` for the command line; the public Python entry point is
:class:`posegan.inference.PoseTransfer`.
"""
__version__ = "0.1.0"
