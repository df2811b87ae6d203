"""Training of the toy models (seeded, resumable). ``workbench toy train NAME`` runs them."""
