"""Plot colours that follow the theme: background, axes, tick labels, axis titles and legend text."""
from __future__ import annotations

import pyqtgraph as pg

# (background, foreground) per resolved theme; foreground on background has a contrast ratio above 12
PLOT_COLOURS = {"light": ("#ffffff", "#202124"), "dark": ("#1e1f22", "#dee0e4")}


def colours(mode: str) -> tuple[str, str]:
    return PLOT_COLOURS.get(mode, PLOT_COLOURS["light"])


def style_plot(plot: pg.PlotWidget, mode: str) -> None:
    """Recolour an existing plot for 'light' or 'dark' (pyqtgraph's config options only reach new items)."""
    background, foreground = colours(mode)
    plot.setBackground(background)
    item = plot.getPlotItem()
    for name in ("left", "bottom", "top", "right"):
        axis = item.getAxis(name)
        axis.setPen(pg.mkPen(foreground))
        axis.setTextPen(pg.mkPen(foreground))  # tick labels and the axis title
    legend = item.legend if item.legend is not None else getattr(plot, "legend", None)
    if isinstance(legend, pg.LegendItem):
        legend.setLabelTextColor(foreground)
        for _sample, label in legend.items:
            label.setText(label.text, color=foreground)


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two colours (1 to 21)."""
    def luminance(colour: str) -> float:
        c = pg.mkColor(colour)
        channels = []
        for v in (c.redF(), c.greenF(), c.blueF()):
            channels.append(v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4)
        return 0.2126 * channels[0] + 0.7152 * channels[1] + 0.0722 * channels[2]
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)
