"""Built-in datasets: the embedded default and builders over local files."""
