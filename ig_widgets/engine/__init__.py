"""The attribution engine: Integrated Gradients on a text model's embedding layer.

It never imports a widget library: widgets and views take its result objects.
"""
