"""minigrad: a small, fast, readable autograd framework on NumPy."""
