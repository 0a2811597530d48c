//! Remove background: salient-object and person segmentation models, with foreground colour estimation at the edges
