"""QuantPlanner desktop application (PySide6 + pyqtgraph) over quantcore."""
