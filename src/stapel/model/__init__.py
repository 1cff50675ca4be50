"""stapel.yaml: schema, loading (interpolate -> validate -> cross-check) and the resolved stack."""
