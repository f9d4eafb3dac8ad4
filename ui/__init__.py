"""The app's own helpers: chart builders (pure, no Streamlit), shared widgets, the page list."""
