"""The precision catalog: one definition per format (layout, storage bits) and, beside it, its quantizer."""
