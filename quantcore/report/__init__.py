"""Plans (and lab results) rendered for people: terminal text, JSON, CSV, Markdown."""
