"""Interoperability with other platforms' formats (Brain-Score), without importing them.

``brainscore_format`` reads and writes Brain-Score's on-disk assemblies and stimulus sets;
``brainscore_export`` writes a Brain-Score model plugin; ``brainscore_loader`` is a
script that runs inside brainscore-vision's own environment (it never imports neuroalign).
"""
