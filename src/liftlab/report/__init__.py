"""Reports and plots, drawn from records only (this package never imports torch)."""
