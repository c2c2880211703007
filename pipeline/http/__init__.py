"""The HTTP front door: BEI-compatible ``/predict_tokens``, async jobs with signed callbacks.

Import :func:`pipeline.http.app.create_app` to build the ASGI app; ``ner-stage serve`` runs it
on uvicorn. Nothing here is imported by the CLI unless ``serve`` (or ``bench http``) runs.
"""
