"""The app's Streamlit side: widgets, URL links, presenter mode, the training page's parts.

What needs Streamlit lives here; ``ui/`` holds what does not (chart builders, the lab report,
comparisons, checkpoints), so a test can call those without a page.
"""
