"""Reports: figures (plots.py) that benchmarks write as PNG files and the HTML report embeds."""
