"""A legend in a band of its own above the plot area, so it never covers bars or curves; it takes as many
columns as the plot's width allows and the band grows to its rows."""
from __future__ import annotations

import pyqtgraph as pg


class BandLegend(pg.LegendItem):
    """Add with BandLegend(plot); addItem/clear as with pyqtgraph's legend."""

    def __init__(self, plot: pg.PlotWidget) -> None:
        super().__init__(offset=None, frame=False, horSpacing=6, verSpacing=-6, labelTextSize="9pt")
        self.plot_item = plot.getPlotItem()
        self.setParentItem(self.plot_item)
        self._busy = False
        self.plot_item.vb.sigResized.connect(self.relayout)

    def addItem(self, item, name: str) -> None:  # type: ignore[no-untyped-def, override]
        super().addItem(item, name)
        self.relayout()

    def clear(self) -> None:
        super().clear()
        self.relayout()

    def _columns(self, room: float) -> int:
        """The most columns whose widest entries fit side by side in `room` pixels."""
        widths = [sample.boundingRect().width() + label.boundingRect().width() + 12 for sample, label in self.items]
        for cols in range(len(widths), 1, -1):
            per_column = [max(widths[c::cols]) for c in range(cols)]
            if sum(per_column) + 6 * (cols - 1) <= room:  # horSpacing between columns
                return cols
        return 1

    def relayout(self) -> None:
        if self._busy:
            return
        self._busy = True
        try:
            vb = self.plot_item.vb.geometry()
            room = self.plot_item.width() - 16  # the band spans the axis column too; 8 px in from either edge
            cols = self._columns(room)
            if cols != self.columnCount:
                self.setColumnCount(cols)
            self.updateSize()
            height = self.height() + 4 if self.items else 0
            self.plot_item.layout.setRowFixedHeight(0, height)
            self.anchor(itemPos=(0, 0), parentPos=(0, 0), offset=(min(vb.left(), 8.0), 2))
        finally:
            self._busy = False
