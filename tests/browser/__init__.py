"""Browser tests: Voila, JupyterLab 4, Notebook 7 and static HTML in a real Chromium."""
