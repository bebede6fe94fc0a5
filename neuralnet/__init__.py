"""From-scratch NumPy neural networks with scikit-learn's estimator API."""
