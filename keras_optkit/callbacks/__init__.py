"""keras_optkit.callbacks (filled in by later releases)."""
