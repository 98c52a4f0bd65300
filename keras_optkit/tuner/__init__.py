"""keras_optkit.tuner (filled in by later releases)."""
