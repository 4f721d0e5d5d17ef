"""Interoperability with other platforms' formats (Brain-Score), without importing them.

``brainscore_format`` reads and writes Brain-Score's on-disk assemblies and stimulus sets;
``brainscore_export`` writes a Brain-Score model plugin. The scripts that run inside
brainscore-vision's own environment (``brainscore_loader.py`` among them; they never import
neuroalign) live in ``scripts_brainscore/``.
"""
