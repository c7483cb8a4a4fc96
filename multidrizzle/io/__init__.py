"""Layer 2, files: inputs, user files, the names and the atomic writes of outputs,
products and their headers, intermediates kept on disk, the run log."""
