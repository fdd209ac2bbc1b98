"""Plans (and lab results) rendered for people: terminal text, and reports as PDF, HTML, Markdown, CSV and JSON."""
