"""The built-in datasets, one folder each (``neuroalign/datasets/<name>/``): its loader, its
manifest and a ``register`` module that registers the dataset, its stimulus sets and its
benchmarks through the calls a plugin uses. The data *types* they build (assembly, stimulus
set, RDM contract) and the download registry live in :mod:`neuroalign.data`."""
