"""keras_optkit.regularizers (filled in by later releases)."""
