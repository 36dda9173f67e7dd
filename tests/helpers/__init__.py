"""What the tests share: synthetic data, fixtures, real servers and repos, the import graph."""
