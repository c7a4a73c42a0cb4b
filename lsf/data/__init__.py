"""Image sources (synthetic faces, CelebA, image folders) and the Parquet shard format."""
