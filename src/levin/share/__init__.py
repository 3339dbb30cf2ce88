"""Weight sharing: per-layer k-means codebooks with centroid fine-tuning (levin.share.kmeans)."""
