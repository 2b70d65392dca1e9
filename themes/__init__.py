"""The bundled themes (TOML files), shipped as package data: see sonar_tui/ui/themes.py."""
