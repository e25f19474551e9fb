"""`framegen train`: config, data (and pairs), models, step, loop, validation, log, memory, guard, losses,
checkpoint, distributed. loop.train() is the entry point and reads top to bottom in phases."""
