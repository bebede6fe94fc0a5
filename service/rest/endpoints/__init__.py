"""HTTP routes, one module per concern. They translate HTTP and delegate to the served model."""
