"""The stages, one module each, named after its command: extract, filter, build_dataset, synth, interpolate,
evaluate, export_gif, weights. A stage reads what the stage before it wrote (formats/) and writes its own
folder or file; stages never import each other. `train`'s stage is the training package."""
