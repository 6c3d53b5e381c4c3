"""The bundled mock servers of the national systems."""
